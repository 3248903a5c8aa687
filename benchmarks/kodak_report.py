"""Markdown tables for the README and the model card from an ``evaluate`` results file.

    python -m benchmarks.kodak_report results.json [more.json ...] [--plot rd.png]

Prints, for each results file, the per-rate Kodak averages and the BD-rates against every
reference curve (published VTM, BPG, AV1, WebP, JPEG 2000, JPEG, MSINN-VRLIC, InvCompress and
our vvenc run); ``--plot`` draws them all beside the references.
"""

from __future__ import annotations

import argparse
import json

from msinn.evaluate import bd_table, comparison_curves, rd_figure


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("results", nargs="+")
    p.add_argument("--plot", default=None, help="write an RD plot (PNG) of every results file with the references")
    args = p.parse_args()
    docs = []
    for path in args.results:
        with open(path) as f:
            docs.append(json.load(f))
        report(docs[-1])
    if args.plot:
        rd_figure(docs, "Rate–distortion on Kodak (24 images)").savefig(args.plot, dpi=150, bbox_inches="tight")


def report(doc: dict) -> None:
    r = doc["results"]
    print(f"\n{doc['name']}: {doc.get('description', '')}\n")
    print("| rate | bpp | PSNR (dB) | MS-SSIM | encode (s) | decode (s) |\n|---|---|---|---|---|---|")
    for row in zip(r["rate"], r["bpp"], r["psnr-rgb"], r["ms-ssim-rgb"], r["encoding_time"], r["decoding_time"], strict=True):
        print("| {:g} | {:.3f} | {:.2f} | {:.4f} | {:.2f} | {:.2f} |".format(*row))
    names = {k: c["name"] for k, c in comparison_curves().items()}
    print("\n| reference | BD-rate of MSINN-lite |\n|---|---|")
    for key, value in bd_table(r).items():
        print(f"| {names[key]} | {value:+.1f} % |")


if __name__ == "__main__":
    main()
