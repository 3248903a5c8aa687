"""Rate–distortion evaluation on a folder of images, with real bitstreams.

    python -m msinn evaluate ../shared/data/kodak --out results.json [--rates 0 1 2 ...] [--plot rd.png]
    python -m msinn evaluate ../shared/data/kodak --codec vvc --qualities 22 27 32 37 42 47 --out vvc.json

Every image is compressed to bytes and decoded again; bpp = 8·len(file)/(H·W), PSNR and
MS-SSIM on the decoded 8-bit RGB. Results are CompressAI's JSON schema (lists averaged over
images, one entry per rate point) plus ``rate`` and a ``per_image`` table, and the BD-rates
against the Kodak reference curves are printed.
"""

from __future__ import annotations

import argparse
import json
import re
import time
from pathlib import Path

import numpy as np
from tqdm import tqdm

from .metrics import REFERENCE_DIR, bd_rate, kodak_references, load_reference, ms_ssim, psnr, write_results_json

KEYS = ("bpp", "psnr-rgb", "ms-ssim-rgb", "encoding_time", "decoding_time")
VVENC_KODAK = REFERENCE_DIR.parent / "vvenc_medium_kodak.json"  # our own vvenc run on Kodak


def comparison_curves() -> dict[str, dict]:
    """The published Kodak curves plus our own measured vvenc curve."""
    curves = kodak_references()
    if VVENC_KODAK.exists():
        curves["vvenc (ours)"] = load_reference(VVENC_KODAK)
    return curves


def measure(codec, image, rate: float, encoded=None, decode: bool = True, effort: int = 0) -> dict[str, float]:
    """Code ``image`` at ``rate`` (and ``effort``) through real bytes: bpp, psnr, ms_ssim,
    encode_s, decode_s.

    ``encoded``: ``codec.encode(image, rate)`` already made (the app has it) is measured
    instead of coding again. Its reconstruction is the decoder's bit for bit, so with
    ``decode=False`` quality is measured on it and decode_s is None; when the file is decoded,
    the decoded image must equal it (RuntimeError otherwise).
    """
    if encoded is None:
        start = time.perf_counter()
        data, out = codec.compress(image, rate, effort=effort), None
        encode_s = time.perf_counter() - start
    else:
        data, out, encode_s = encoded.data, encoded.image, encoded.encode_s
    decode_s = None
    if decode:
        start = time.perf_counter()
        decoded = codec.decompress(data)
        decode_s = time.perf_counter() - start
        if out is not None and decoded.tobytes() != out.tobytes():
            raise RuntimeError(f"the file at rate {rate:g} does not decode to the encoder's reconstruction")
        out = decoded
    w, h = image.size
    return {"bpp": 8 * len(data) / (w * h), "psnr": psnr(image, out), "ms_ssim": ms_ssim(image, out),
            "encode_s": encode_s, "decode_s": decode_s}  # fmt: skip


def evaluate_msinn(codec, paths: list[Path], rates: list[float], effort: int = 0) -> tuple[dict, dict]:
    """→ (results averaged per rate, per-image {name: {"bpp": [...], "psnr-rgb": [...]}})."""
    from .image import load_image

    per_image: dict[str, dict[str, list[float]]] = {}
    rows = np.zeros((len(paths), len(rates), len(KEYS)))
    for i, path in enumerate(tqdm(paths, desc="images")):
        image = load_image(path)
        for j, rate in enumerate(rates):
            rows[i, j] = list(measure(codec, image, rate, effort=effort).values())
        per_image[path.name] = {"bpp": rows[i, :, 0].tolist(), "psnr-rgb": rows[i, :, 1].tolist()}
    results = {k: rows[:, :, n].mean(axis=0).tolist() for n, k in enumerate(KEYS)}
    return results, per_image


def monotonic_report(rates: list[float], per_image: dict) -> str:
    """Which images' bpp does not rise strictly with the rate index."""
    bad = [n for n, r in per_image.items() if any(b <= a for a, b in zip(r["bpp"], r["bpp"][1:], strict=False))]
    return f"bpp rises with rate on {len(per_image) - len(bad)}/{len(per_image)} images" + (f"; not on {bad}" if bad else "")


def bd_table(curve: dict) -> dict[str, float]:
    """BD-rate (%) of ``curve`` against each Kodak reference, over the overlapping range."""
    table = {}
    for key, ref in comparison_curves().items():
        try:
            table[key] = bd_rate(ref["results"]["bpp"], ref["results"]["psnr-rgb"], curve["bpp"], curve["psnr-rgb"])
        except ValueError as e:
            table[key] = float("nan")
            print(f"  {key}: {e}")
    return table


def run(args: argparse.Namespace) -> None:
    from .image import IMAGE_SUFFIXES

    paths = sorted(p for p in Path(args.folder).iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not paths:
        raise ValueError(f"no images in {args.folder}")
    if args.codec == "msinn":
        from .codec import load

        codec = load(args.model, args.device)
        lo, hi = codec.rate_range
        rates = args.rates if args.rates else [float(r) for r in np.arange(lo, hi + 1e-9, 1.0)]
        results, per_image = evaluate_msinn(codec, paths, rates, args.effort)
        name = f"MSINN {codec.name}{f', effort {args.effort}' if args.effort else ''} (ours)"
        description = f"weights {codec.name} id {codec.model_id.hex()}, step {codec.meta.get('step', '?')}, effort {args.effort}, real bitstreams"
        print(monotonic_report(rates, per_image))
        extra = {"rate": rates}
    else:
        from .baselines import evaluate_baseline, get_codec

        kwargs = {"preset": args.preset} if args.codec == "vvc" and args.preset else {}
        baseline = get_codec(args.codec, **kwargs)
        if not args.qualities:
            raise ValueError(f"--qualities is required for {args.codec}")
        results = evaluate_baseline(baseline, paths, args.qualities)
        name, description, per_image, extra = baseline.label, f"{baseline.label}, {baseline.chroma}", {}, {"quality": args.qualities}
    write_results_json(args.out, name, description, {**results, **extra})
    doc = json.loads(Path(args.out).read_text())
    doc["per_image"] = per_image
    Path(args.out).write_text(json.dumps(doc, indent=2) + "\n")
    for r in zip(*(results[k] for k in KEYS), strict=False):
        print("  bpp {:.4f}  PSNR {:.2f} dB  MS-SSIM {:.4f}  enc {:.3f} s  dec {:.3f} s".format(*r))
    print("BD-rate vs Kodak references (negative = fewer bits than the reference):")
    for key, value in bd_table(results).items():
        print(f"  {key:<12} {value:+7.2f} %")
    if args.plot:
        rd_figure([{"name": name, "results": results}], f"Rate–distortion on {Path(args.folder).name}").savefig(
            args.plot, dpi=150, bbox_inches="tight"
        )


def rd_figure(docs: list[dict], title: str):
    """The Kodak reference curves plus each CompressAI-format results ``doc`` (name, results)."""
    from .plots import compressai_curve, rd_plot

    # our own vvenc run shares VVC's colour with the published VTM curve: dashed to tell them apart
    curves = [compressai_curve(ref, **({"linestyle": "--"} if key == "vvenc (ours)" else {})) for key, ref in comparison_curves().items()]
    return rd_plot(curves + [compressai_curve(doc, **_effort_style(doc["name"])) for doc in docs], title=title)


# MSINN at encoder effort 1 and 2 (named "…, effort N (ours)" by evaluate and effort_kodak):
# darker shades of MSINN's colour and their own markers, so each curve reads apart from effort 0.
EFFORT_STYLES = {1: {"color": "#8C3B00", "marker": "D"}, 2: {"color": "#4D2000", "marker": "P"}}


def _effort_style(name: str) -> dict:
    found = re.search(r"effort (\d)", name)
    return EFFORT_STYLES.get(int(found[1]), {}) if found else {}


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("folder", help="folder of images")
    p.add_argument("--out", required=True, help="results JSON (CompressAI schema)")
    p.add_argument("--codec", default="msinn", help="msinn (default) or a classic codec: vvc, hevc, av1, jxl, webp, jpeg2000, jpeg")
    p.add_argument("--model", default=None, help="MSINN weights name or path (default: shipped)")
    p.add_argument("--device", default=None, help="cpu, cuda or cuda:N for MSINN (default: cuda when present)")
    p.add_argument("--effort", type=int, default=0, choices=(0, 1, 2), help="MSINN encoder effort (msinn/refine.py)")
    p.add_argument("--rates", type=float, nargs="*", help="MSINN rate indices (default: every anchor)")
    p.add_argument("--qualities", type=int, nargs="*", help="quality settings of a classic codec")
    p.add_argument("--preset", default=None, help="vvenc preset for --codec vvc (default: the codec's)")
    p.add_argument("--plot", default=None, help="write an RD plot (PNG) with the reference curves")
