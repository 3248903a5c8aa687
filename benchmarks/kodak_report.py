"""Markdown tables for the README and the model card from an ``evaluate`` results file.

    python -m benchmarks.kodak_report results.json

Prints the per-rate Kodak averages and the BD-rates against every reference curve
(published VTM, BPG, AV1, WebP, JPEG 2000, JPEG, MSINN-VRLIC, InvCompress and our vvenc run).
"""

from __future__ import annotations

import argparse
import json

from msinn.evaluate import bd_table, comparison_curves


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("results")
    with open(p.parse_args().results) as f:
        r = json.load(f)["results"]
    print("| rate | bpp | PSNR (dB) | MS-SSIM | encode (s) | decode (s) |\n|---|---|---|---|---|---|")
    for row in zip(r["rate"], r["bpp"], r["psnr-rgb"], r["ms-ssim-rgb"], r["encoding_time"], r["decoding_time"], strict=True):
        print("| {:g} | {:.3f} | {:.2f} | {:.4f} | {:.2f} | {:.2f} |".format(*row))
    names = {k: c["name"] for k, c in comparison_curves().items()}
    print("\n| reference | BD-rate of MSINN-lite |\n|---|---|")
    for key, value in bd_table(r).items():
        print(f"| {names[key]} | {value:+.1f} % |")


if __name__ == "__main__":
    main()
