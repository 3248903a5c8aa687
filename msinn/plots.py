"""Figures for the app and the evaluate command: RD curves, latents, bit allocation.

- ``rd_plot``: PSNR against bpp (log axis) for any number of curves, with an optional
  highlighted operating point.
- ``latent_images``: one picture per latent y1…y5, the RMS over channels of the coded
  integer symbols, captioned with its shape and its share of the file.
- ``bpp_maps`` / ``bit_heatmaps``: where the bits go, per latent and in total, as bits
  per image pixel (a y_k location covers an f×f block of pixels, f = padded size / h_k:
  2 for y1, 4 for y2, 8 for y3, 16 for y4 and y5).

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
    (matplotlib ``plot`` keywords; default: a solid line with dots). ``current``: a
    (bpp, psnr) point drawn as a large star on top.
    """
    fig = Figure(figsize=(9.5, 4.8), layout="constrained")
    ax = fig.add_subplot()
    for curve in curves:
        if not curve["bpp"]:
            continue
        style = {"marker": "o", "markersize": 3, "linewidth": 1.5} | dict(curve.get("style") or {})
        ax.plot(curve["bpp"], curve["psnr"], label=curve["name"], **style)
    if current is not None:
        ax.plot(*current, marker="*", markersize=16, color="crimson", markeredgecolor="black",
                linestyle="none", zorder=5, label=f"current: {current[0]:.3f} bpp, {current[1]:.2f} dB")  # fmt: skip
    ax.set_xscale("log")
    ax.xaxis.set_major_locator(FixedLocator(BPP_TICKS))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_xlabel("bits per pixel (log scale)")
    ax.set_ylabel("PSNR-RGB (dB)")
    ax.set_title(title)
    ax.grid(True, which="both", alpha=0.3)
    if ax.lines:
        ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    return fig


def _block(image_size: tuple[int, int], latent_height: int) -> int:
    """Pixels per side covered by one location of a latent ``latent_height`` rows high."""
    f = MSINN.downsampling_factor
    return -(-image_size[1] // f) * f // latent_height


def _to_pixels(a: np.ndarray, block: int, image_size: tuple[int, int]) -> np.ndarray:
    """(h, w) latent map → (H, W) per image pixel: each value repeated over its block,
    the padding cropped away."""
    w, h = image_size
    return a.repeat(block, axis=0).repeat(block, axis=1)[:h, :w]


def latent_images(enc: Encoded, cmap: str = "magma") -> list[tuple[Image.Image, str]]:
    """Per latent y1…y5: the RMS over channels of the coded symbols, coloured and scaled
    to the image size, with a caption: shape and share of the file's latent bytes.

    Needs ``enc`` from ``Codec.analyse`` (it carries the symbols).
    """
    total = sum(enc.stream_bytes.values())
    colour = matplotlib.colormaps[cmap]
    pictures = []
    for name in SCALES:
        symbols = enc.symbols[name]
        energy = np.sqrt(np.mean(np.square(symbols, dtype=np.float64), axis=0))
        top = np.percentile(energy, 99.5) or 1.0
        rgb = (colour(np.clip(energy / top, 0, 1))[..., :3] * 255).astype(np.uint8)
        rgb = _to_pixels(rgb, _block(enc.image.size, symbols.shape[1]), enc.image.size)
        c, h, w = symbols.shape
        nbytes = enc.stream_bytes[name]
        caption = f"{name}: {c}×{h}×{w}, {100 * nbytes / total:.1f} % of the bits ({nbytes:,} B)"
        pictures.append((Image.fromarray(np.ascontiguousarray(rgb)), caption))
    return pictures


def bpp_maps(enc: Encoded) -> dict[str, np.ndarray]:
    """Estimated bits per image pixel, (H, W) arrays per latent y1…y5 and their sum "all":
    −log2 p summed over channels at each location, divided by the pixels it covers."""
    size = enc.image.size
    maps = {}
    for name in SCALES:
        bits = enc.bits[name].sum(axis=0)
        block = _block(size, bits.shape[0])
        maps[name] = _to_pixels(bits / block**2, block, size)
    maps["all"] = sum(maps[name] for name in SCALES)
    return maps


def _shrink(a: np.ndarray, max_width: int) -> np.ndarray:
    """Block-average a (H, W) array by the integer factor that brings W to ``max_width``
    or less (display only: the panels are small)."""
    s = -(-a.shape[1] // max_width)
    h, w = a.shape[0] // s * s, a.shape[1] // s * s
    return a[:h, :w].reshape(h // s, s, w // s, s).mean(axis=(1, 3)) if s > 1 else a


def bit_heatmaps(enc: Encoded, cmap: str = "inferno", panel_px: int = 384) -> Figure:
    """Bit allocation overlaid on the reconstruction: all latents, then y1…y5, each with
    its mean in the title (its estimated share of the file's bpp) and a colour bar in bpp
    clipped at the 99.5th percentile."""
    maps = bpp_maps(enc)
    grey = _shrink(np.asarray(enc.image.convert("L"), dtype=np.float32), panel_px)
    w, h = enc.image.size
    panel_w = 4.0
    fig = Figure(figsize=(3 * panel_w, 2 * (panel_w * h / w + 0.5)), dpi=80)
    fig.subplots_adjust(left=0.01, right=0.94, bottom=0.02, top=0.94, wspace=0.3, hspace=0.15)
    for ax, name in zip(fig.subplots(2, 3).flat, ("all", *SCALES), strict=True):
        bpp = _shrink(maps[name], panel_px)
        ax.imshow(grey, cmap="gray", alpha=0.6)
        im = ax.imshow(bpp, cmap=cmap, alpha=0.65, vmin=0, vmax=np.percentile(bpp, 99.5), interpolation="nearest")
        fig.colorbar(im, ax=ax, fraction=0.046, pad=0.02, label="bpp", extend="max")
        ax.set_title(f"{'all latents' if name == 'all' else name}: {maps[name].mean():.3f} bpp", fontsize=10)
        ax.set_axis_off()
    return fig
