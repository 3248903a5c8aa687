"""Our own VVC curve on Kodak: vvenc intra, 4:2:0 10-bit, -qpa 0, at fixed QPs.

Codes all 24 Kodak images with ``msinn.baselines.VVC`` at each QP, writes the averages
in CompressAI's JSON schema and prints the Bjøntegaard deltas against CompressAI's
(4:4:4) VTM curve in ``assets/reference/vtm.json``. The preset-medium run takes about
15 minutes on 2 busy CPU cores:

    nice -n 15 python -m benchmarks.vvenc_kodak --preset medium \\
        --qps 22 27 32 37 42 47 --out assets/vvenc_medium_kodak.json

(from the repository root; ``--kodak`` defaults to ``../shared/data/kodak``).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import imageio_ffmpeg

from msinn.baselines import VVC, VVENC_PRESETS, evaluate_baseline
from msinn.metrics import (
    REFERENCE_DIR,
    bd_psnr,
    bd_rate,
    load_reference,
    write_results_json,
)

ROOT = Path(__file__).resolve().parents[1]


def main(argv: list[str] | None = None) -> None:
    """Parse arguments, code Kodak at every QP, write the JSON, print BD vs VTM."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", choices=VVENC_PRESETS, default="medium")
    parser.add_argument("--qps", type=int, nargs="+", default=[22, 27, 32, 37, 42, 47])
    parser.add_argument(
        "--out", type=Path, default=ROOT / "assets/vvenc_medium_kodak.json"
    )
    parser.add_argument(
        "--kodak",
        type=Path,
        default=ROOT.parent / "shared/data/kodak",
        help="folder with kodim01.png .. kodim24.png",
    )
    args = parser.parse_args(argv)

    paths = sorted(args.kodak.glob("kodim*.png"))
    if len(paths) != 24:
        sys.exit(f"expected 24 kodim*.png in {args.kodak}, found {len(paths)}")
    codec = VVC(args.preset)
    results: dict[str, list[float]] = {}
    for qp in args.qps:
        point = evaluate_baseline(codec, paths, [qp])
        for k, v in point.items():
            results.setdefault(k, []).extend(v)
        print(
            f"QP {qp}: {point['bpp'][0]:.4f} bpp, {point['psnr-rgb'][0]:.3f} dB, "
            f"MS-SSIM {point['ms-ssim-rgb'][0]:.4f}, "
            f"enc {point['encoding_time'][0]:.2f} s, "
            f"dec {point['decoding_time'][0]:.3f} s",
            flush=True,
        )

    description = (
        f"vvenc via ffmpeg {imageio_ffmpeg.get_ffmpeg_version()} (imageio-ffmpeg): "
        f"-c:v libvvenc -preset {args.preset} -qpa 0 -qp {args.qps}, one intra frame, "
        "yuv420p10le from RGB with BT.709 full range (Lanczos chroma), raw .266 stream "
        "size; PSNR and MS-SSIM on 8-bit RGB, mean over the 24 Kodak images; times are "
        "wall-clock per image including ffmpeg start-up."
    )
    name = f"VVC (vvenc {args.preset}, 4:2:0 10-bit, ours)"
    write_results_json(args.out, name, description, results)
    vtm = load_reference(REFERENCE_DIR / "vtm.json")["results"]
    curves = (vtm["bpp"], vtm["psnr-rgb"], results["bpp"], results["psnr-rgb"])
    print(f"wrote {args.out}")
    print(f"BD-rate vs VTM (CompressAI, 4:4:4): {bd_rate(*curves):+.2f} %")
    print(f"BD-PSNR vs VTM (CompressAI, 4:4:4): {bd_psnr(*curves):+.3f} dB")


if __name__ == "__main__":
    main()
