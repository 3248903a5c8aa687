"""A phone-sized photo through compress and decompress: time per megapixel and peak memory.

    python -m benchmarks.large_image [--model msinn-lite] [--size 4000x3000] [--rate 5.5] [--portable]

The photo is a 2×2 mosaic of CLIC 2025 photos (training data, not Kodak) cropped to the
size. Each step runs in a fresh process, as the CLI would, and reports its own coding time
and peak RSS (which includes ~0.6 GB for importing torch and the library). The reference,
measured in the same run: the same steps on a Kodak image (kodim23, 768×512); the ratio of
seconds per megapixel is what to compare. ``--portable`` also decodes the large file in fresh
processes with 1 and 3 threads and with the kernels of a CPU without AVX2, and checks the
pixels are identical.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parent.parent
CLIC = REPO.parent / "shared" / "data" / "train" / "clic2025" / "validation"
KODAK = REPO / "assets" / "examples" / "kodim23.png"
OLD_CPU = {"ATEN_CPU_CAPABILITY": "default", "ONEDNN_MAX_CPU_ISA": "SSE41", "MKL_ENABLE_INSTRUCTIONS": "SSE4_2"}

STEP = """
import json, resource, sys, time, torch, msinn
from PIL import Image
kind, model, threads, src, dst, rate = sys.argv[1:7]
torch.set_num_threads(int(threads))
if kind == "encode":
    codec = msinn.load(model, device="cpu")
    image = Image.open(src); image.load()
    start = time.perf_counter(); data = codec.compress(image, float(rate)); seconds = time.perf_counter() - start
    open(dst, "wb").write(data)
else:
    codec = msinn.load_decoder(model, device="cpu")
    data = open(src, "rb").read()
    start = time.perf_counter(); image = codec.decompress(data); seconds = time.perf_counter() - start
    image.save(dst)
print(json.dumps({"seconds": seconds, "peak_gib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20}))  # KiB → GiB
"""


def mosaic(width: int, height: int) -> Image.Image:
    """A width×height photo from four CLIC photos (landscape ones, in name order), each cropped
    at its centre to a quarter of the mosaic."""
    landscape = [p for p in sorted(CLIC.glob("*.webp")) if (s := Image.open(p).size)[0] > s[1]][:4]
    out = Image.new("RGB", (width, height))
    w, h = width // 2, height // 2
    for i, path in enumerate(landscape):
        im = Image.open(path).convert("RGB")
        scale = max(w / im.width, h / im.height, 1.0)
        if scale > 1:
            im = im.resize((round(im.width * scale), round(im.height * scale)), Image.LANCZOS)
        left, top = (im.width - w) // 2, (im.height - h) // 2
        out.paste(im.crop((left, top, left + w, top + h)), ((i % 2) * w, (i // 2) * h))
    return out


def step(kind: str, model: str, src: Path, dst: Path, rate: float, threads: int = 2, env: dict | None = None) -> dict:
    out = subprocess.run(
        [sys.executable, "-c", STEP, kind, model, str(threads), str(src), str(dst), str(rate)],
        check=True, capture_output=True, text=True, cwd=REPO, env={**os.environ, **(env or {})},
    )  # fmt: skip
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="msinn-lite")
    parser.add_argument("--size", default="4000x3000")
    parser.add_argument("--rate", type=float, default=5.5)
    parser.add_argument("--portable", action="store_true")
    args = parser.parse_args()
    width, height = map(int, args.size.split("x"))
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        mosaic(width, height).save(folder / "large.png")
        rows = {}
        for name, src in [("kodim23", KODAK), (args.size, folder / "large.png")]:
            with Image.open(src) as im:
                mp = im.width * im.height / 1e6
            enc = step("encode", args.model, src, folder / f"{name}.msn", args.rate)
            dec = step("decode", args.model, folder / f"{name}.msn", folder / f"{name}.dec.png", args.rate)
            rows[name] = (mp, enc, dec)
        ref_mp, ref_enc, ref_dec = rows["kodim23"]
        print(f"{args.model}, rate {args.rate}, 2 threads; ratio = s/MP against kodim23 in this run")
        print(
            f"{'image':>10} {'MP':>6} {'enc s':>7} {'s/MP':>6} {'ratio':>6} {'peak GiB':>8} {'dec s':>7} {'s/MP':>6} {'ratio':>6} {'peak GiB':>8}"
        )
        for name, (mp, enc, dec) in rows.items():
            e, d = enc["seconds"] / mp, dec["seconds"] / mp
            print(f"{name:>10} {mp:6.2f} {enc['seconds']:7.2f} {e:6.2f} {e / (ref_enc['seconds'] / ref_mp):6.2f} {enc['peak_gib']:8.2f}"
                  f" {dec['seconds']:7.2f} {d:6.2f} {d / (ref_dec['seconds'] / ref_mp):6.2f} {dec['peak_gib']:8.2f}")  # fmt: skip
        if args.portable:
            first = np.asarray(Image.open(folder / f"{args.size}.dec.png"))
            for threads, env, tag in [(1, None, "1 thread"), (3, None, "3 threads"), (2, OLD_CPU, "no-AVX2 kernels")]:
                other = folder / "other.png"
                step("decode", args.model, folder / f"{args.size}.msn", other, args.rate, threads, env)
                print(
                    f"decode with {tag}: {'identical' if np.array_equal(np.asarray(Image.open(other)), first) else 'DIFFERENT'} pixels"
                )


if __name__ == "__main__":
    main()
