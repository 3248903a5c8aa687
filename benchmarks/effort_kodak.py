"""What encoder-side refinement (``effort``) buys on Kodak, and what it costs.

    python -m benchmarks.effort_kodak [IMAGES...] --effort 1 [--rates 1 4 7 10] --out effort1.json

Each image is coded at each rate with effort 0 and with ``--effort``; every file is decoded
and checked against the encoder's reconstruction. Prints per image the BD-rate of the refined
curve against effort 0 (same images, same rates, same run) and the encode times, then the
BD-rate of the averaged curves. ``--out`` writes the refined curve in CompressAI's JSON schema
(with ``rate``, ``per_image`` and the effort-0 curve as ``baseline``) for
``benchmarks.kodak_report``.
"""

from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path

import numpy as np

import msinn
from msinn.measurement import RESULT_KEYS, measure
from msinn.metrics import bd_rate, results_doc, write_json

KODAK = Path(__file__).resolve().parents[2] / "shared" / "data" / "kodak"


def code(codec: msinn.Codec, prep: msinn.Prepared, rate: float, effort: int) -> tuple[float, ...]:
    """The library's measure() of the file at ``rate`` and ``effort`` (decoded and checked
    against the encoder's image) as (bpp, psnr, ms_ssim, encode_s, decode_s), the analysis
    time counted in the encode time."""
    m = measure(codec, prep.image, rate, encoded=codec.encode(prep, rate, effort=effort), effort=effort)
    return replace(m, encode_s=m.encode_s + prep.analysis_s).row()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("images", nargs="*", type=Path, default=sorted(KODAK.glob("kodim*.png")))
    p.add_argument("--effort", type=int, default=1)
    p.add_argument("--rates", nargs="+", type=float, default=[1.0, 4.0, 7.0, 10.0])
    p.add_argument("--model", default=None)
    p.add_argument("--out", default=None)
    args = p.parse_args()
    codec = msinn.load(args.model, device="cpu")
    rows = {0: [], args.effort: []}  # per effort: (images, rates, 5) bpp psnr ms_ssim enc dec
    per_image = {}
    for path in args.images:
        prep = codec.prepare(path)
        for effort in rows:
            rows[effort].append([code(codec, prep, r, effort) for r in args.rates])
        base, ref = np.array(rows[0][-1]), np.array(rows[args.effort][-1])
        gain = bd_rate(base[:, 0], base[:, 1], ref[:, 0], ref[:, 1])
        per_image[path.name] = {"bpp": ref[:, 0].tolist(), "psnr-rgb": ref[:, 1].tolist(), "bd_rate_vs_effort0": gain,
                                "encode_s": ref[:, 3].tolist(), "encode_s_effort0": base[:, 3].tolist()}  # fmt: skip
        print(f"{path.name}: BD-rate {gain:+.2f} %  encode {ref[:, 3].mean():.1f} s (effort 0: {base[:, 3].mean():.2f} s)", flush=True)
        if args.out:  # after every image: an interrupted run keeps what it measured
            write(args, codec, rows, per_image)
    base, ref = np.array(rows[0]).mean(axis=0), np.array(rows[args.effort]).mean(axis=0)
    gains = [v["bd_rate_vs_effort0"] for v in per_image.values()]
    print(f"average curves: BD-rate {bd_rate(base[:, 0], base[:, 1], ref[:, 0], ref[:, 1]):+.2f} % "
          f"(per image: median {np.median(gains):+.2f} %, range {min(gains):+.2f} … {max(gains):+.2f} %); "
          f"encode {ref[:, 3].mean():.1f} s per image and rate (max {np.array(rows[args.effort])[:, :, 3].max():.1f} s), effort 0 {base[:, 3].mean():.2f} s")  # fmt: skip


def write(args: argparse.Namespace, codec: msinn.Codec, rows: dict, per_image: dict) -> None:
    """The refined curve (average over the images so far) in CompressAI's schema, with the
    effort-0 curve as ``baseline`` and the per-image figures."""
    base, ref = np.array(rows[0]).mean(axis=0), np.array(rows[args.effort]).mean(axis=0)
    name = f"MSINN {codec.name}, effort {args.effort} (ours)"
    description = f"weights id {codec.model_id.hex()}, {len(per_image)} Kodak images, real bitstreams"
    results = {**{k: ref[:, i].tolist() for i, k in enumerate(RESULT_KEYS)}, "rate": args.rates}
    baseline = {k: base[:, i].tolist() for i, k in enumerate(RESULT_KEYS)}
    write_json(args.out, results_doc(name, description, results, per_image=per_image, baseline=baseline))

if __name__ == "__main__":
    main()
