"""Image quality metrics, Bjøntegaard deltas and reference rate–distortion curves.

Distortion is measured on 8-bit RGB, as in CompressAI's published curves:

- ``psnr``: PSNR over all three channels, peak 255; ``inf`` for identical images.
- ``ms_ssim``: ``pytorch_msssim`` on 0..255 data (``data_range=255``), five scales;
  images whose shorter side is 160 px or less get single-scale SSIM instead (the
  five-scale window does not fit).
- ``bd_rate`` / ``bd_psnr``: the classic Bjøntegaard deltas (VCEG-M33), cubic fits
  integrated over the interval where both curves overlap.

Curves are CompressAI-format dicts ``{"name", "description", "results": {"bpp": [...],
"psnr-rgb": [...], ...}}``; ``kodak_references()`` loads the copies kept in
``assets/reference/`` (origins and licences in ``assets/reference/SOURCES.md``).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pytorch_msssim
import torch
from PIL import Image

REFERENCE_DIR = Path(__file__).resolve().parent.parent / "assets" / "reference"
MEASURED_DIR = REFERENCE_DIR.parent  # our own Kodak curves, written by ``python -m msinn evaluate``

KODAK_REFERENCE_FILES = {
    "vtm": "vtm.json",
    "bpg": "bpg_444_x265_ycbcr.json",
    "av1": "av1.json",
    "webp": "webp.json",
    "jpeg2000": "jpeg2000.json",
    "jpeg": "jpeg.json",
    "invcompress": "invcompress_kodak_mse.json",
}

# pytorch_msssim's five-scale MS-SSIM asserts a shorter side > (11 - 1) * 2**4.
MS_SSIM_MIN_SIDE = 160

# Keys some published files use for RGB metrics, renamed to CompressAI's.
_RESULT_ALIASES = {"psnr": "psnr-rgb", "ms-ssim": "ms-ssim-rgb"}
_MSINN_SECTIONS = {"Ours*": "Our*", "Ours": "Our"}

ImageLike = np.ndarray | Image.Image


def _as_rgb_array(x: ImageLike) -> np.ndarray:
    """``x`` as a (H, W, 3) uint8 array; PIL images are converted to RGB first."""
    a = np.asarray(x.convert("RGB")) if isinstance(x, Image.Image) else np.asarray(x)
    if a.dtype != np.uint8 or a.ndim != 3 or a.shape[2] != 3:
        raise ValueError(
            f"expected uint8 RGB of shape (H, W, 3), got {a.dtype} {a.shape}"
        )
    return a


def _pair(a: ImageLike, b: ImageLike) -> tuple[np.ndarray, np.ndarray]:
    """Both images as uint8 RGB arrays of the same shape."""
    x, y = _as_rgb_array(a), _as_rgb_array(b)
    if x.shape != y.shape:
        raise ValueError(f"image shapes differ: {x.shape} vs {y.shape}")
    return x, y


def bits_per_pixel(nbytes: int, size: tuple[int, int]) -> float:
    """Bits per pixel of a file of ``nbytes`` bytes for an image of ``size`` (width, height)."""
    width, height = size
    return 8 * nbytes / (width * height)


def psnr(a: ImageLike, b: ImageLike) -> float:
    """PSNR in dB between two 8-bit RGB images (peak 255, MSE over all channels).

    Returns ``math.inf`` for identical images (no cap).
    """
    x, y = _pair(a, b)
    mse = float(np.mean((x.astype(np.float64) - y.astype(np.float64)) ** 2))
    return math.inf if mse == 0 else 10 * math.log10(255**2 / mse)


def ms_ssim(a: ImageLike, b: ImageLike) -> float:
    """MS-SSIM between two 8-bit RGB images (``pytorch_msssim``, ``data_range=255``).

    The five-scale metric needs a shorter side above ``MS_SSIM_MIN_SIDE`` (160 px: four
    halvings of an 11-px window); for smaller images this returns single-scale SSIM
    (``pytorch_msssim.ssim``, same window and constants) instead. Below 11 px the window
    does not fit at all and ``pytorch_msssim`` skips the smoothing (with a warning); a side
    of 1 px is doubled first, so 1×1 and 1×N images have a value too.
    """
    x, y = _pair(a, b)
    # pytorch_msssim squeezes away dimensions of size 1, then fails: a 1-px side is doubled.
    # Along a side that short no window is applied, so this is the SSIM of the one row/column.
    reps = [2 if n == 1 else 1 for n in x.shape[:2]]
    tx, ty = (
        torch.tensor(np.tile(v, (*reps, 1)), dtype=torch.float32).permute(2, 0, 1)[None]
        for v in (x, y)
    )
    if min(x.shape[:2]) > MS_SSIM_MIN_SIDE:
        return float(pytorch_msssim.ms_ssim(tx, ty, data_range=255))
    return float(pytorch_msssim.ssim(tx, ty, data_range=255))


def _check_curve(name: str, rate: Sequence[float], quality: Sequence[float]) -> None:
    """Raise ValueError unless a curve has >= 4 points, equal lengths, rates > 0."""
    if len(rate) != len(quality):
        raise ValueError(
            f"curve {name}: {len(rate)} rates but {len(quality)} PSNR values"
        )
    if len(rate) < 4:
        raise ValueError(
            f"curve {name} has {len(rate)} points; a cubic fit needs at least 4"
        )
    if min(rate) <= 0:
        raise ValueError(f"curve {name} has a non-positive rate: {min(rate)}")


def _overlap(u: np.ndarray, v: np.ndarray, what: str) -> tuple[float, float]:
    """The interval where the ranges of ``u`` and ``v`` overlap; ValueError if empty."""
    lo, hi = max(u.min(), v.min()), min(u.max(), v.max())
    if lo >= hi:
        raise ValueError(
            f"curves do not overlap in {what}: [{u.min():.4g}, {u.max():.4g}] "
            f"vs [{v.min():.4g}, {v.max():.4g}]"
        )
    return float(lo), float(hi)


def _mean_cubic(x: np.ndarray, y: np.ndarray, lo: float, hi: float) -> float:
    """Mean over [lo, hi] of the least-squares cubic through (x, y)."""
    integral = np.polyint(np.polyfit(x, y, 3))
    area = np.polyval(integral, hi) - np.polyval(integral, lo)
    return float(area) / (hi - lo)


def bd_rate(
    rate_a: Sequence[float],
    psnr_a: Sequence[float],
    rate_b: Sequence[float],
    psnr_b: Sequence[float],
) -> float:
    """Bjøntegaard delta rate of curve b (test) against curve a (anchor), in percent.

    Fits ln(rate) as a cubic in PSNR for each curve, averages both fits over the
    PSNR interval the curves share and returns ``100 * (exp(mean_b - mean_a) - 1)``:
    negative means b needs fewer bits for the same quality. Raises ValueError for
    curves with fewer than 4 points or disjoint PSNR ranges.
    """
    _check_curve("a", rate_a, psnr_a)
    _check_curve("b", rate_b, psnr_b)
    pa, pb = np.asarray(psnr_a, float), np.asarray(psnr_b, float)
    lo, hi = _overlap(pa, pb, "PSNR")
    mean_a = _mean_cubic(pa, np.log(np.asarray(rate_a, float)), lo, hi)
    mean_b = _mean_cubic(pb, np.log(np.asarray(rate_b, float)), lo, hi)
    return 100.0 * math.expm1(mean_b - mean_a)


def bd_psnr(
    rate_a: Sequence[float],
    psnr_a: Sequence[float],
    rate_b: Sequence[float],
    psnr_b: Sequence[float],
) -> float:
    """Bjøntegaard delta PSNR of curve b (test) against curve a (anchor), in dB.

    Fits PSNR as a cubic in ln(rate) for each curve and returns the mean difference
    (b - a) over the log-rate interval the curves share; positive means b is better.
    Raises ValueError like ``bd_rate``.
    """
    _check_curve("a", rate_a, psnr_a)
    _check_curve("b", rate_b, psnr_b)
    la, lb = np.log(np.asarray(rate_a, float)), np.log(np.asarray(rate_b, float))
    lo, hi = _overlap(la, lb, "log-rate")
    mean_a = _mean_cubic(la, np.asarray(psnr_a, float), lo, hi)
    mean_b = _mean_cubic(lb, np.asarray(psnr_b, float), lo, hi)
    return mean_b - mean_a


def load_reference(path: str | Path) -> dict:
    """Read a CompressAI-format JSON curve (``psnr``, ``ms-ssim`` become ``*-rgb``)."""
    with open(path, encoding="utf-8") as f:
        data = json.load(f)
    results = {_RESULT_ALIASES.get(k, k): v for k, v in data["results"].items()}
    return {
        "name": data["name"],
        "description": data.get("description", ""),
        "results": results,
    }


def _parse_list(line: str) -> list[float]:
    """Numbers of a ``key: [a,b,...]`` line."""
    return [float(v) for v in line[line.index("[") + 1 : line.index("]")].split(",")]


def msinn_published(dataset: str = "Kodak", variant: str = "Ours") -> dict:
    """MSINN-VRLIC's published curve from ``msinn_vrlic_RD_data.md``, CompressAI-shaped.

    ``variant`` is ``"Ours"`` (12 anchors, λ_max 1.8) or ``"Ours*"`` (8 anchors,
    λ_max 0.18); ``dataset`` is ``"Kodak"``, ``"CLIC Pro Valid 2020"`` or ``"Tecnick"``.
    """
    if variant not in _MSINN_SECTIONS:
        raise ValueError(
            f"variant must be one of {list(_MSINN_SECTIONS)}, got {variant!r}"
        )
    text = (REFERENCE_DIR / "msinn_vrlic_RD_data.md").read_text(encoding="utf-8")
    curves: dict[tuple[str, str], dict[str, list[float]]] = {}
    section = subsection = ""
    for line in map(str.strip, text.splitlines()):
        if heading := re.match(r"^(#{2,3})\s+(.*?)\s*$", line):
            if heading[1] == "##":
                section = heading[2]
            else:
                subsection = heading[2]
        elif line.startswith(("PSNR:", "bpp:")):
            key = line.split(":")[0]
            curves.setdefault((section, subsection), {})[key] = _parse_list(line)
    points = curves.get((_MSINN_SECTIONS[variant], dataset))
    if points is None:
        datasets = sorted({d for s, d in curves if s == _MSINN_SECTIONS[variant]})
        raise ValueError(f"dataset must be one of {datasets}, got {dataset!r}")
    n = len(points["bpp"])
    return {
        "name": f"MSINN-VRLIC (published, {n} anchors)",
        "description": f"MSINN-VRLIC '{variant}' on {dataset} "
        "(RD_data.md of hytu99/MSINN-VRLIC)",
        "results": {"bpp": points["bpp"], "psnr-rgb": points["PSNR"]},
    }


def measured_kodak(name: str) -> dict | None:
    """Our own Kodak curve of ``name`` (an MSINN model such as ``msinn-lite``, or a classic codec
    key such as ``jxl``) from ``assets/<name>_kodak.json``; None if it was not measured."""
    path = MEASURED_DIR / f"{name.replace('-', '_')}_kodak.json"
    return load_reference(path) if path.exists() else None


def kodak_references() -> dict[str, dict]:
    """Kodak reference curves by short key: classic codecs, MSINN-VRLIC, InvCompress."""
    curves = {
        k: load_reference(REFERENCE_DIR / f) for k, f in KODAK_REFERENCE_FILES.items()
    }
    curves["invcompress"]["name"] = "InvCompress (published)"  # the file says "Proposed Method"
    curves["msinn-vrlic"] = msinn_published("Kodak", "Ours")
    return curves


def results_doc(name: str, description: str, results: Mapping[str, Sequence[float]], **extra: object) -> dict:
    """A curve as a document in CompressAI's JSON schema; ``extra`` keys (e.g. ``per_image``)
    follow ``results``.

    ``results`` maps metric keys (``bpp``, ``psnr-rgb``, ``ms-ssim-rgb``,
    ``encoding_time``, ``decoding_time``) to lists with one value per rate point, each
    averaged over images.
    """
    if "bpp" not in results:
        raise ValueError("results need a 'bpp' list")
    lengths = {k: len(v) for k, v in results.items()}
    if len(set(lengths.values())) != 1:
        raise ValueError(f"results lists differ in length: {lengths}")
    return {
        "name": name,
        "description": description,
        "results": {k: [float(v) for v in vs] for k, vs in results.items()},
        **extra,
    }


def write_json(path: str | Path, doc: Mapping) -> None:
    """Write a results document (indented, one trailing newline)."""
    Path(path).write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")


def write_results_json(
    path: str | Path,
    name: str,
    description: str,
    results: Mapping[str, Sequence[float]],
) -> None:
    """Write a curve in CompressAI's JSON schema (:func:`results_doc`)."""
    write_json(path, results_doc(name, description, results))
