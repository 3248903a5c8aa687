"""Does bpp rise with the rate index on every image? (real file sizes, 0.25 steps of t)

    python -m benchmarks.rate_monotonicity ../shared/data/kodak [--step 0.25] [--model NAME]

The analysis transform is computed once per image and the coding repeated at every rate.
Prints, per image, the bpp range covered and any rate step where the file did not grow.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

import msinn
from msinn.image import IMAGE_SUFFIXES


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("folder", type=Path)
    p.add_argument("--step", type=float, default=0.25)
    p.add_argument("--model", default=None)
    args = p.parse_args()
    codec = msinn.load(args.model)
    lo, hi = codec.rate_range
    rates = np.arange(lo, hi + 1e-9, args.step)
    failures, lows, highs = 0, [], []
    for path in sorted(p for p in args.folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES):
        prep = codec.prepare(path)
        bpp = [codec.encode(prep, float(r)).bpp for r in rates]
        bad = [f"{rates[i]:.2f}->{rates[i + 1]:.2f}" for i in range(len(bpp) - 1) if bpp[i + 1] <= bpp[i]]
        failures += bool(bad)
        lows.append(bpp[0])
        highs.append(bpp[-1])
        print(f"{path.name}: {bpp[0]:.3f} .. {bpp[-1]:.3f} bpp over {len(rates)} rates" + (f"; NOT increasing at {bad}" if bad else ", increasing"))
    n = len(lows)
    print(f"\n{n - failures}/{n} images strictly increasing; mean range {np.mean(lows):.3f} .. {np.mean(highs):.3f} bpp")


if __name__ == "__main__":
    main()
