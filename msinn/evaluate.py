"""Rate–distortion evaluation on a folder of images, with real bitstreams.

Every image is compressed to bytes and decoded again (:func:`msinn.measurement.measure`):
bpp of the real file, PSNR and MS-SSIM on the decoded 8-bit RGB. Results are documents in
CompressAI's JSON schema (lists averaged over images, one entry per rate point) plus ``rate``
(or ``quality``) and a ``per_image`` table; :func:`bd_table` gives the BD-rates against the
Kodak reference curves. The command line is ``python -m msinn evaluate`` (:mod:`msinn.cli`).
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
from tqdm import tqdm

from .measurement import measure, results_table
from .metrics import REFERENCE_DIR, bd_rate, kodak_references, load_reference, results_doc

VVENC_KODAK = REFERENCE_DIR.parent / "vvenc_medium_kodak.json"  # our own vvenc run on Kodak


def comparison_curves() -> dict[str, dict]:
    """The published Kodak curves plus our own measured vvenc curve."""
    curves = kodak_references()
    if VVENC_KODAK.exists():
        curves["vvenc (ours)"] = load_reference(VVENC_KODAK)
    return curves


def image_paths(folder: str | Path) -> list[Path]:
    """The images in ``folder``, sorted by name (ValueError when there are none)."""
    from .image import IMAGE_SUFFIXES

    paths = sorted(p for p in Path(folder).iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not paths:
        raise ValueError(f"no images in {folder}")
    return paths


def evaluate_msinn(codec, paths: list[Path], rates: list[float] | None = None, effort: int = 0) -> dict:
    """MSINN's curve on ``paths`` at ``rates`` (default: every anchor) and ``effort``: a
    CompressAI document {name, description, results (+ rate), per_image {name: {bpp, psnr-rgb}}}."""
    from .image import load_image

    lo, hi = codec.rate_range
    rates = rates if rates else [float(r) for r in np.arange(lo, hi + 1e-9, 1.0)]
    measured = []
    for path in tqdm(paths, desc="images"):
        image = load_image(path)
        measured.append([measure(codec, image, rate, effort=effort) for rate in rates])
    per_image = {path.name: {"bpp": [m.bpp for m in ms], "psnr-rgb": [m.psnr for m in ms]} for path, ms in zip(paths, measured, strict=True)}
    name = f"MSINN {codec.name}{f', effort {effort}' if effort else ''} (ours)"
    description = f"weights {codec.name} id {codec.model_id.hex()}, step {codec.meta.get('step', '?')}, effort {effort}, real bitstreams"
    return results_doc(name, description, {**results_table(measured), "rate": rates}, per_image=per_image)


def evaluate_classic(codec, paths: list[Path], qualities: list[int]) -> dict:
    """A classic codec's curve on ``paths`` at ``qualities``, as :func:`evaluate_msinn`'s
    document (``quality`` instead of ``rate``; no per-image table)."""
    from .baselines import evaluate_baseline

    results = evaluate_baseline(codec, paths, qualities)
    return results_doc(codec.label, f"{codec.label}, {codec.chroma}", {**results, "quality": qualities}, per_image={})


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


def rd_figure(docs: list[dict], title: str):
    """The Kodak reference curves plus each CompressAI-format results ``doc`` (name, results)."""
    from .plots import EFFORT_STYLES, QUALITY_MODEL_STYLE, compressai_curve, rd_plot

    def curve_style(name: str) -> dict:  # curves named "…, effort N (ours)" by evaluate and effort_kodak
        found = re.search(r"effort (\d)", name)
        if found:
            return EFFORT_STYLES.get(int(found[1]), {})
        return QUALITY_MODEL_STYLE if "msinn-mid" in name else {}  # beside lite, its own colour

    # our own vvenc run shares VVC's colour with the published VTM curve: dashed to tell them apart
    curves = [compressai_curve(ref, **({"linestyle": "--"} if key == "vvenc (ours)" else {})) for key, ref in comparison_curves().items()]
    return rd_plot(curves + [compressai_curve(doc, **curve_style(doc["name"])) for doc in docs], title=title)

