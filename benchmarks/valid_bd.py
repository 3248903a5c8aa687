"""BD-rate over training steps on CID22 validation, against reference weights measured in the same run.

    python -m benchmarks.valid_bd runs/mid/valid.csv [more valid.csv ...] [--reference weights/msinn-lite.safetensors]

Each row of a trainer's ``valid.csv`` holds the estimated bpp and PSNR of the weights at that
step at anchors 0, 4, 7, 11 (``msinn.train.validate``: 41 centre crops of 256², rounding,
estimated rate). The reference weights are validated here on the same crops, and each row gets
its BD-rate against them (negative: fewer bits at the same PSNR). An estimate from 4 points, on
crops, not real files: it ranks checkpoints and tells whether training still moves; Kodak and
real files decide what ships. The reference is validated on this machine's CPU; rows from a
GPU run differ from a CPU validation of the same weights only by float rounding.
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path

import torch

from msinn.metrics import bd_rate
from msinn.train import DEFAULT_VALID, validate, validation_set
from msinn.weights import load_weights


def curve(row: dict) -> tuple[list[float], list[float]]:
    """(bpp, psnr) at the row's anchors, in anchor order."""
    anchors = sorted(int(k.removeprefix("val_bpp_")) for k in row if k.startswith("val_bpp_"))
    return [float(row[f"val_bpp_{a}"]) for a in anchors], [float(row[f"val_psnr_{a}"]) for a in anchors]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("valid_csv", nargs="+", type=Path)
    p.add_argument("--reference", type=Path, default=Path("weights/msinn-lite.safetensors"))
    p.add_argument("--valid-dir", type=Path, default=DEFAULT_VALID)
    p.add_argument("--valid-crop", type=int, default=256, help="the runs' --valid-crop")
    args = p.parse_args()
    model, _, meta = load_weights(args.reference)
    ref = validate(model, validation_set(args.valid_dir, args.valid_crop), torch.device("cpu"))
    ref_bpp, ref_psnr = curve(ref)
    print(f"reference {args.reference} (step {meta.get('step', '?')}): bpp {ref_bpp}, PSNR {[round(q, 3) for q in ref_psnr]}")
    print("| run | step | BD-rate vs reference |\n|---|---:|---:|")
    for path in args.valid_csv:
        for row in csv.DictReader(path.read_text().splitlines()):
            bpp, psnr = curve(row)
            print(f"| {path.parent.name} | {int(row['step']):,} | {bd_rate(ref_bpp, ref_psnr, bpp, psnr):+.2f} % |")


if __name__ == "__main__":
    main()
