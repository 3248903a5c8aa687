"""Figures for the app and the evaluate command: RD curves, latents, bit allocation.

- ``rd_plot``: PSNR against bpp (log axis) for any number of curves, with an optional
  highlighted operating point. Each codec has its own colour (Okabe–Ito's colour-blind-safe
  palette, plus grey and wine) and marker (``CODEC_STYLES``, found from the curve's name);
  MSINN is drawn thickest and on top.
- ``latent_images``: one picture per latent y1…y5, the RMS over channels of the coded
  integer symbols, captioned with its shape and its share of the file.
- ``bpp_maps`` / ``bit_heatmaps``: where the bits go, per latent and in total, as bits
  per image pixel (a y_k location covers an f×f block of pixels, f = padded size / h_k:
  2 for y1, 4 for y2, 8 for y3, 16 for y4 and y5).

Everything is drawn from what the coding recorded (``Codec.analyse``), at display size: the
cost of a figure does not grow with the image, and thin images (3×2000) get readable panels.
Figures are ``matplotlib.figure.Figure`` objects built without pyplot, so nothing is kept
in a global figure list and no display backend is needed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib
import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import FixedLocator, FuncFormatter, NullFormatter
from PIL import Image

from .codec import Encoded
from .config import LATENT_NAMES
from .model import MSINN

SCALES = tuple(reversed(LATENT_NAMES))  # y1 … y5, finest first
BPP_TICKS = (0.05, 0.1, 0.2, 0.5, 1, 2, 4, 8)
DISPLAY_SIDE = 512  # latent pictures and heatmap panels: at most this many values per side
MAX_ASPECT = 3.0  # panels of thinner images are stretched to this height:width (or width:height)

# Codec family → colour (Okabe–Ito, then grey and Tol's wine) and marker. Curves are matched
# by name (``codec_style``); the same family keeps its colour whether the curve is this
# image's or a published average (those are drawn dashed by the app).
CODEC_STYLES: dict[str, dict] = {
    "msinn": {"color": "#D55E00", "marker": "o"},  # vermillion: ours, drawn thickest
    "msinn-vrlic": {"color": "#CC79A7", "marker": "^"},  # reddish purple: the paper
    "vvc": {"color": "#000000", "marker": "D"},  # black: VTM / vvenc
    "hevc": {"color": "#0072B2", "marker": "s"},  # blue: BPG / x265
    "av1": {"color": "#56B4E9", "marker": "v"},  # sky blue
    "jxl": {"color": "#009E73", "marker": "P"},  # bluish green
    "webp": {"color": "#E69F00", "marker": "X"},  # orange
    "jpeg2000": {"color": "#F0E442", "marker": "h", "markeredgecolor": "#6B6500"},  # yellow, dark edge
    "jpeg": {"color": "#7F7F7F", "marker": "x"},  # grey
    "invcompress": {"color": "#882255", "marker": "<"},  # wine
}
# MSINN at encoder effort 1 and 2: each its own marker and a darker shade of MSINN's colour,
# so each curve reads apart from effort 0 (the app keeps MSINN's colour for this image's points).
EFFORT_STYLES: dict[int, dict] = {1: {"color": "#8C3B00", "marker": "D"}, 2: {"color": "#4D2000", "marker": "P"}}
# The quality model (mid) beside lite in one plot: a deep red and square markers.
QUALITY_MODEL_STYLE: dict = {"color": "#A50026", "marker": "s"}
_FAMILY_WORDS = (  # first match wins: the more specific names first
    ("msinn-vrlic", ("msinn-vrlic", "paper")),
    ("msinn", ("msinn",)),
    ("invcompress", ("invcompress",)),
    ("vvc", ("vvc", "vtm", "vvenc")),
    ("hevc", ("hevc", "bpg", "x265")),
    ("av1", ("av1", "aom")),
    ("jxl", ("jpeg xl", "jxl")),
    ("webp", ("webp",)),
    ("jpeg2000", ("jpeg 2000", "jpeg2000", "openjpeg")),
    ("jpeg", ("jpeg",)),
)


def codec_family(name: str) -> str | None:
    """The ``CODEC_STYLES`` key a curve name belongs to (None if none matches)."""
    lowered = name.lower()
    return next((family for family, words in _FAMILY_WORDS if any(w in lowered for w in words)), None)


def codec_style(name: str) -> dict:
    """matplotlib ``plot`` keywords for a curve called ``name``: its family's colour and
    marker; MSINN thicker and on top."""
    family = codec_family(name)
    style = {"marker": "o", "markersize": 4, "linewidth": 1.4} | CODEC_STYLES.get(family, {})
    if family == "msinn":
        style |= {"linewidth": 2.8, "markersize": 5, "zorder": 4}
    return style


def compressai_curve(doc: Mapping, name: str | None = None, **style) -> dict:
    """A CompressAI-format result dict (``results.bpp``, ``results.psnr-rgb``) as a
    ``rd_plot`` curve; ``style`` is passed to matplotlib's ``plot``."""
    results = doc["results"]
    return {"name": name or doc["name"], "bpp": results["bpp"], "psnr": results["psnr-rgb"], "style": style}


def rd_plot(
    curves: Sequence[Mapping],
    current: tuple[float, float] | None = None,
    title: str = "Rate–distortion",
) -> Figure:
    """PSNR (dB) against bpp on a log axis.

    ``curves``: dicts with ``name``, ``bpp`` and ``psnr`` lists, and optionally ``style``
    (matplotlib ``plot`` keywords over :func:`codec_style`); a dict with only a ``name`` is a
    heading in the legend above the curves after it. ``current``: a (bpp, psnr) point drawn as
    a large star on top.
    """
    fig = Figure(figsize=(9.5, 4.8), layout="constrained")
    ax = fig.add_subplot()
    headings = {curve["name"] for curve in curves if "bpp" not in curve}
    for curve in curves:
        if curve["name"] in headings:
            ax.plot([], [], linestyle="none", label=curve["name"])
        if not curve.get("bpp"):
            continue
        ax.plot(
            curve["bpp"],
            curve["psnr"],
            label=curve["name"],
            **codec_style(curve["name"]) | dict(curve.get("style") or {}),
        )
    if current is not None:
        ax.plot(*current, marker="*", markersize=18, color=CODEC_STYLES["msinn"]["color"], markeredgecolor="black",
                linestyle="none", zorder=6, label=f"shown: {current[0]:.3f} bpp, {current[1]:.2f} dB")  # fmt: skip
    ax.set_xscale("log")
    ax.xaxis.set_major_locator(FixedLocator(BPP_TICKS))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_xlabel("bits per pixel (log scale)")
    ax.set_ylabel("PSNR-RGB (dB)")
    ax.set_title(title)
    ax.grid(True, which="both", alpha=0.3)
    if ax.lines:
        legend = ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
        for text in legend.get_texts():
            if text.get_text() in headings:
                text.set_fontweight("bold")
    return fig


def _block(image_size: tuple[int, int], latent_height: int) -> int:
    """Pixels per side covered by one location of a latent ``latent_height`` rows high."""
    f = MSINN.downsampling_factor
    return -(-image_size[1] // f) * f // latent_height


def display_size(image_size: tuple[int, int]) -> tuple[int, int]:
    """(width, height) at which latents and heatmaps of an image are drawn: the longer side
    between 64 and DISPLAY_SIDE, the aspect ratio within MAX_ASPECT (thinner images are
    stretched)."""
    w, h = image_size
    longer = min(max(w, h, 64), DISPLAY_SIDE)
    ratio = min(max(h / w, 1 / MAX_ASPECT), MAX_ASPECT)
    return (longer, max(1, round(longer * ratio))) if ratio <= 1 else (max(1, round(longer / ratio)), longer)


def _resize(a: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """A float map resized to ``size`` (w, h): area averages when shrinking, copies when
    enlarging."""
    return np.asarray(
        Image.fromarray(np.ascontiguousarray(a, dtype=np.float32), mode="F").resize(size, Image.Resampling.BOX)
    )


def _on_image(a: np.ndarray, block: int, image_size: tuple[int, int], cell: int = 2) -> np.ndarray:
    """(h, w) latent map, one value per ``block``² pixels → one value per ``cell``² pixels
    (cell divides block), cropped to the image (the padding away)."""
    w, h = image_size
    r = block // cell
    return a.repeat(r, axis=0).repeat(r, axis=1)[: -(-h // cell), : -(-w // cell)]


def latent_images(enc: Encoded, cmap: str = "magma") -> list[tuple[Image.Image, str]]:
    """Per latent y1…y5: the RMS over channels of the coded symbols, coloured, at
    :func:`display_size`, with a caption: shape and share of the file's latent bytes.

    Needs ``enc`` from ``Codec.analyse`` (it carries the symbols).
    """
    total = sum(enc.stream_bytes.values())
    colour = matplotlib.colormaps[cmap]
    size = display_size(enc.image.size)
    pictures = []
    for name in SCALES:
        symbols = enc.symbols[name]
        c, h, w = symbols.shape
        block = _block(enc.image.size, h)
        energy = np.sqrt(np.mean(np.square(symbols, dtype=np.float64), axis=0))
        energy = energy[: -(-enc.image.height // block), : -(-enc.image.width // block)]  # the image's part
        energy = _resize(energy, size)
        top = np.percentile(energy, 99.5) or 1.0
        rgb = (colour(np.clip(energy / top, 0, 1))[..., :3] * 255).astype(np.uint8)
        nbytes = enc.stream_bytes[name]
        caption = f"{name}: {c}×{h}×{w}, {100 * nbytes / total:.1f} % of the bits ({nbytes:,} B)"
        pictures.append((Image.fromarray(np.ascontiguousarray(rgb)), caption))
    return pictures


def bpp_maps(enc: Encoded) -> dict[str, np.ndarray]:
    """Estimated bits per image pixel per latent y1…y5 and their sum "all": −log2 p summed
    over channels at each location, divided by the pixels it covers; one value per 2×2
    pixels (y1's grid), cropped to the image: (⌈H/2⌉, ⌈W/2⌉) arrays."""
    size = enc.image.size
    maps = {}
    for name in SCALES:
        bits = enc.bits[name].sum(axis=0)
        block = _block(size, bits.shape[0])
        maps[name] = _on_image(bits / block**2, block, size)
    maps["all"] = sum(maps[name] for name in SCALES)
    return maps


def bit_heatmaps(enc: Encoded, cmap: str = "inferno") -> Figure:
    """Bit allocation overlaid on the reconstruction: all latents, then y1…y5, each with
    its mean in the title (its estimated share of the file's bpp) and a colour bar in bpp
    clipped at the 99.5th percentile; drawn at :func:`display_size`."""
    maps = bpp_maps(enc)
    size = display_size(enc.image.size)
    grey = np.asarray(enc.image.convert("L").resize(size, Image.Resampling.BOX), dtype=np.float32)
    w, h = size
    panel_w, panel_h = (4.0, 4.0 * h / w) if w >= h else (4.0 * w / h, 4.0)
    fig = Figure(figsize=(3 * (panel_w + 1.1), 2 * (panel_h + 0.6)), dpi=80)
    fig.subplots_adjust(left=0.01, right=0.94, bottom=0.02, top=0.92, wspace=0.35, hspace=0.2)
    stretched = " (stretched)" if size[1] / size[0] != enc.image.height / enc.image.width else ""
    for ax, name in zip(fig.subplots(2, 3).flat, ("all", *SCALES), strict=True):
        bpp = _resize(maps[name], size)
        ax.imshow(grey, cmap="gray", alpha=0.6, aspect="auto")
        im = ax.imshow(bpp, cmap=cmap, alpha=0.65, vmin=0, vmax=max(float(np.percentile(bpp, 99.5)), 1e-6),
                       interpolation="nearest", aspect="auto")  # fmt: skip
        fig.colorbar(im, ax=ax, fraction=0.046, pad=0.02, label="bpp", extend="max")
        ax.set_title(f"{'all latents' if name == 'all' else name}: {maps[name].mean():.3f} bpp", fontsize=10)
        ax.set_axis_off()
    if stretched:
        fig.suptitle(f"{enc.image.width}×{enc.image.height} image{stretched}", fontsize=10)
    return fig
