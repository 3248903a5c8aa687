"""Command line of the MSINN codec.

    python -m msinn compress IN.png OUT.msn --rate T [--model NAME_OR_PATH]
    python -m msinn decompress IN.msn OUT.png [--model NAME_OR_PATH]
    python -m msinn info IN.msn
    python -m msinn train ...      (see msinn/train.py)
    python -m msinn evaluate DIR --out results.json [--rates ...] [--plot rd.png]
    python -m msinn compare IMAGE --bpp B [--codecs vvc,hevc,...] [--json]

Bad input exits with status 2 and one line on stderr.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def cmd_compress(args: argparse.Namespace) -> None:
    from .codec import load

    codec = load(args.model, args.device)
    enc = codec.encode(args.input, args.rate, effort=args.effort)
    Path(args.output).write_bytes(enc.data)
    w, h = enc.image.size
    print(f"{args.output}: {w}x{h}, rate {enc.rate:g}, {len(enc.data)} bytes, {enc.bpp:.4f} bpp")


def cmd_decompress(args: argparse.Namespace) -> None:
    from .codec import load, model_for

    data = _read(args.input)
    codec = load(args.model or model_for(data), args.device)  # by default the shipped model that wrote it
    image = codec.decompress(data, max_pixels=args.max_pixels)
    image.save(args.output, format="PNG")
    print(f"{args.output}: {image.size[0]}x{image.size[1]}")


def cmd_info(args: argparse.Namespace) -> None:
    from .bitstream import unpack

    data = _read(args.input)
    header, streams = unpack(data)
    info = {
        "width": header.width,
        "height": header.height,
        "rate": header.rate,
        "model_id": header.model_id.hex(),
        "bytes": len(data),
        "bpp": header.bpp(len(data)),
        "stream_bytes": dict(zip(("y5", "y4", "y3", "y2", "y1"), map(len, streams), strict=False)),
    }
    print(json.dumps(info, indent=2))


def cmd_train(args: argparse.Namespace) -> None:
    from .train import train

    train(args)


def cmd_evaluate(args: argparse.Namespace) -> None:
    from .evaluate import run

    run(args)


def cmd_compare(args: argparse.Namespace) -> None:
    from .compare import run

    run(args)


def _read(path: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as e:
        raise ValueError(f"cannot read {path}: {e.strerror}") from e


def add_model_arguments(p: argparse.ArgumentParser, default: str = "the default model") -> None:
    """--model and --device, for every command that loads the codec."""
    p.add_argument("--model", default=None, help=f"weights name in weights/ (lite, mid) or a .safetensors path; default: {default}")
    p.add_argument("--device", default=None, help="cpu, cuda or cuda:N (default: cuda when present); files decode the same on either")


def build_parser() -> argparse.ArgumentParser:
    from .codec import DEFAULT_MAX_PIXELS
    from .compare import add_arguments as add_compare_arguments
    from .evaluate import add_arguments as add_evaluate_arguments
    from .train import add_arguments as add_train_arguments

    parser = argparse.ArgumentParser(prog="python -m msinn", description="MSINN learned image codec")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("compress", help="image → .msn file")
    p.add_argument("input")
    p.add_argument("output")
    p.add_argument("--rate", type=float, required=True, help="rate index in the model's range (0 = lowest rate)")
    p.add_argument("--effort", type=int, default=0, choices=(0, 1, 2), help="encoder search: 0 none, 1 fast (~25 s for 768x512 on 2 cores), 2 thorough (~2.5x longer); decoding is the same")
    add_model_arguments(p)
    p.set_defaults(func=cmd_compress)
    p = sub.add_parser("decompress", help=".msn file → PNG")
    p.add_argument("input")
    p.add_argument("output")
    add_model_arguments(p, default="the shipped model that wrote the file")
    p.add_argument("--max-pixels", type=int, default=DEFAULT_MAX_PIXELS, help=f"refuse files claiming more pixels (default {DEFAULT_MAX_PIXELS:,})")
    p.set_defaults(func=cmd_decompress)
    p = sub.add_parser("info", help="print a .msn header as JSON")
    p.add_argument("input")
    p.set_defaults(func=cmd_info)
    p = sub.add_parser("train", help="train a model (see msinn/train.py)")
    add_train_arguments(p)
    p.set_defaults(func=cmd_train)
    p = sub.add_parser("evaluate", help="rate–distortion of a folder with real bitstreams")
    add_evaluate_arguments(p)
    p.set_defaults(func=cmd_evaluate)
    p = sub.add_parser("compare", help="MSINN and classic codecs on one image at the same bpp")
    add_compare_arguments(p)
    p.set_defaults(func=cmd_compare)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        args.func(args)
    except (ValueError, OSError) as e:  # BitstreamError is a ValueError
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
