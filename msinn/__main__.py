"""``python -m msinn``: the command line (:mod:`msinn.cli`)."""

from .cli import main

if __name__ == "__main__":
    raise SystemExit(main())
