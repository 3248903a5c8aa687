"""Markdown tables for the README and the model card from an ``evaluate`` results file.

    python -m benchmarks.kodak_report results.json [more.json ...] [--plot rd.png]

Prints, for each results file, the per-rate Kodak averages and the BD-rates against every
reference curve (published VTM, BPG, AV1, WebP, JPEG 2000, JPEG, MSINN-VRLIC, InvCompress and
our vvenc run); ``--plot`` draws them all beside the references. A results file from
``benchmarks.effort_kodak`` also carries its effort-0 curve on the same images (``baseline``),
drawn dashed with ``--no-references``, which leaves the 24-image reference curves out; with
them, give the ``evaluate`` results file beside it as the effort-0 curve.
"""

from __future__ import annotations

import argparse
import json

from msinn.evaluate import bd_table, comparison_curves, rd_figure
from msinn.plots import compressai_curve, rd_plot


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("results", nargs="+")
    p.add_argument("--plot", default=None, help="write an RD plot (PNG) of every results file with the references")
    p.add_argument("--no-references", action="store_true", help="plot only the results files' curves")
    args = p.parse_args()
    docs = []
    for path in args.results:
        with open(path) as f:
            docs.append(json.load(f))
        report(docs[-1])
    if args.plot:
        curves = []
        for doc in docs:
            if "baseline" in doc and args.no_references:  # else the evaluate file is the effort-0 curve
                curves.append({"name": f"{doc['name'].split(',')[0]}, effort 0 (same images)", "results": doc["baseline"]})
            curves.append(doc)
        if args.no_references:
            fig = rd_plot([compressai_curve(c, **({"linestyle": "--", "color": "0.45", "linewidth": 1.5} if "effort 0" in c["name"] else {})) for c in curves],
                          title=f"Encoder effort on {docs[0]['description'].split(', ')[1]}")  # fmt: skip
        else:
            fig = rd_figure(curves, "Rate–distortion on Kodak (24 images)")
        fig.savefig(args.plot, dpi=150, bbox_inches="tight")


def report(doc: dict) -> None:
    r = doc["results"]
    print(f"\n{doc['name']}: {doc.get('description', '')}\n")
    print("| rate | bpp | PSNR (dB) | MS-SSIM | encode (s) | decode (s) |\n|---|---|---|---|---|---|")
    for row in zip(r["rate"], r["bpp"], r["psnr-rgb"], r["ms-ssim-rgb"], r["encoding_time"], r["decoding_time"], strict=True):
        print("| {:g} | {:.3f} | {:.2f} | {:.4f} | {:.2f} | {:.2f} |".format(*row))
    names = {k: c["name"] for k, c in comparison_curves().items()}
    if "baseline" not in doc:
        print(f"\n| reference | BD-rate of {doc['name']} |\n|---|---|")
        for key, value in bd_table(r).items():
            print(f"| {names[key]} | {value:+.1f} % |")
        return
    # an effort_kodak file: both curves against each reference, over the same images and rates
    print("\n| reference | effort 0 | this effort |\n|---|---|---|")
    base = bd_table(doc["baseline"])
    for key, value in bd_table(r).items():
        print(f"| {names[key]} | {base[key]:+.1f} % | {value:+.1f} % |")


if __name__ == "__main__":
    main()
