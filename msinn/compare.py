"""MSINN against the classic codecs on one image, each at the same target bpp.

    python -m msinn compare photo.png --bpp 0.5 [--codecs vvc,hevc,av1,jxl,webp,jpeg2000,jpeg] [--json]

MSINN's rate index and every codec's quality setting are found by bisection on real file
sizes; a codec that cannot come within ±15 % of the target is flagged.
"""

from __future__ import annotations

import argparse
import json

from .baselines import CODECS, at_bpp, get_codec
from .evaluate import measure
from .image import load_image

TOLERANCE = 0.15


def msinn_at_bpp(image, target_bpp: float, model: str | None = None) -> dict:
    from .codec import load

    codec = load(model)
    rate = codec.rate_for_bpp(image, target_bpp).rate
    return {"codec": "msinn", "setting": rate, **measure(codec, image, rate)}


def compare(image, target_bpp: float, codecs: list[str], model: str | None = None) -> list[dict]:
    """One row per codec: codec, setting, bpp, psnr, ms_ssim, encode_s, decode_s, within_tolerance."""
    rows = [msinn_at_bpp(image, target_bpp, model)]
    for name in codecs:
        r = at_bpp(get_codec(name), image, target_bpp)
        rows.append({"codec": name, "setting": r.quality, "bpp": r.bpp, "psnr": r.psnr, "ms_ssim": r.ms_ssim,
                     "encode_s": r.encode_s, "decode_s": r.decode_s})  # fmt: skip
    for row in rows:
        row["within_tolerance"] = abs(row["bpp"] - target_bpp) <= TOLERANCE * target_bpp
    return rows


def run(args: argparse.Namespace) -> None:
    codecs = [c.strip() for c in args.codecs.split(",") if c.strip()]
    for name in codecs:
        if name not in CODECS:
            raise ValueError(f"unknown codec {name!r}; valid: {', '.join(CODECS)}")
    if args.bpp <= 0:
        raise ValueError(f"--bpp must be positive, got {args.bpp}")
    rows = compare(load_image(args.image), args.bpp, codecs, args.model)
    if args.json:
        print(json.dumps(rows, indent=2))
        return
    print(f"{'codec':<10}{'setting':>9}{'bpp':>8}{'PSNR':>8}{'MS-SSIM':>9}{'enc s':>8}{'dec s':>8}")
    for r in rows:
        flag = "" if r["within_tolerance"] else f"  (nearest it reaches; target {args.bpp})"
        print(f"{r['codec']:<10}{r['setting']:>9.4g}{r['bpp']:>8.3f}{r['psnr']:>8.2f}{r['ms_ssim']:>9.4f}"
              f"{r['encode_s']:>8.3f}{r['decode_s']:>8.3f}{flag}")  # fmt: skip


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("image")
    p.add_argument("--bpp", type=float, required=True, help="target bits per pixel")
    p.add_argument("--codecs", default=",".join(CODECS), help=f"comma-separated, from {','.join(CODECS)}")
    p.add_argument("--model", default=None, help="MSINN weights name or path (default: shipped)")
    p.add_argument("--json", action="store_true", help="print a JSON list of objects")
