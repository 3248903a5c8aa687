"""Every sentence the demo shows: the page's description, the readouts, the refine and
classic-codec status lines, the target-bpp notes and the error messages."""

from __future__ import annotations

from msinn import Measured

from .session import GRID_STEP, VIEW_MAX_PIXELS, VIEW_MAX_SIDE, ImageSession, grid_step

REFINE_HINT = "**Refine**: the encoder searches for a better file at this rate (slower encode, same decoder)."
NO_IMAGE = "Upload an image first."
NO_TARGET = "Enter a target size in bits per pixel, a number above 0."
NO_API_IMAGE = "No image given."
UNREADABLE = "This file cannot be read as an image. Try a PNG, JPEG or WebP file."
EXAMPLES_LABEL = "Examples (Kodak; CID22 by Cloudinary, CC BY-SA 4.0)"

API_DOC = """
`/compress` takes (image, rate) and returns (the reconstruction as PNG, stats
`{rate, bpp, psnr, ms_ssim, bytes}`), the same numbers as `msinn.load().encode(image, rate)`:

```python
from gradio_client import Client, handle_file
client = Client("<this app's URL>")
png_path, stats = client.predict(handle_file("photo.png"), 5.5, api_name="/compress")
```
"""


def description(rate_range: tuple[float, float], model: str, hardware: str) -> str:
    lo, hi = rate_range
    return f"""
# MSINN — variable-rate learned image compression
A multi-scale invertible network (after MSINN-VRLIC, Tu et al., IEEE TMM 2025, arXiv:2503.21284) codes an image at any
**rate** in [{lo:g}, {hi:g}] with one set of weights (`{model}`, on {hardware}).
Upload or paste an image (or pick an example), then move the rate: while you drag you see the
nearest result computed so far, and wherever the rate stops (mouse, keys or a typed value) the
exact one; every number below is measured on the real `.msn` file, which you can download.
Images above {VIEW_MAX_SIDE} px per side or {VIEW_MAX_PIXELS / 1e6:g} MP are downscaled first.
"""


def unexpected(e: Exception) -> str:
    """An error that is not the visitor's: what happened, in one line, and that the tab still works."""
    first = (str(e).splitlines() or [""])[0][:200]
    return f"Something went wrong here ({type(e).__name__}: {first}). The image is still loaded: try again, or another rate."


def readouts(result: Measured, note: str) -> str:
    decode = f"{result.decode_s:.2f} s" if result.decode_s is not None else "…"
    return (
        f"**Rate {result.rate:.2f}** · {note}\n\n"
        "| bpp | PSNR | MS-SSIM | file | ratio | encode | decode |\n"
        "|---:|---:|---:|---:|---:|---:|---:|\n"
        f"| {result.bpp:.4f} | {result.psnr:.2f} dB | {result.ms_ssim:.4f} | {len(result.data):,} B "
        f"| {24 / result.bpp:.1f} : 1 | {result.encode_s:.2f} s | {decode} |"
    )


def notice(session: ImageSession, first: Measured | None = None) -> str:
    """The notice under the image: why it was downscaled, and for a large image, given its
    ``first`` exact result, what the image costs here."""
    lines = [f"⚠️ {session.notice}"] if session.notice else []
    if session.large and first is not None:
        decode = f" and {first.decode_s:.1f} s to decode" if first.decode_s is not None else ""
        lines.append(
            f"ℹ️ A large image ({session.pixels / 1e6:.1f} MP) is slow to code: its first rate took "
            f"{first.encode_s:.1f} s to code{decode} on this server, and each new rate will take about as "
            f"long. While the slider moves, previews come from rates {grid_step(session.pixels):g} apart "
            f"(not {GRID_STEP:g})."
        )
    return "\n\n".join(lines)


def preview_note(rate: float) -> str:
    return f"preview: nearest computed rate, {rate:.2f} is on its way"


def what(result: Measured) -> str:
    """``rate 4.30``, refined ``rate 4.30, effort 1``: names what the downloads hold."""
    return f"rate {result.rate:.2f}" + (f", effort {result.effort}" if result.effort else "")


def bpp_note(target: float, result: Measured, lowest: float, highest: float,
             reach: tuple[float, float] | None, step: float) -> str:  # fmt: skip
    """What the target-bpp search shows: the closest file, or the nearest end of the range."""
    if result.rate == lowest and result.bpp > target:
        return f"{target:g} bpp is below what the model reaches on this image: lowest reachable here: {result.bpp:.3f} bpp — showing that"
    if result.rate == highest and result.bpp < target:
        return f"{target:g} bpp is above what the model reaches on this image: highest reachable here: {result.bpp:.3f} bpp — showing that"
    span = f" (reachable here: {reach[0]:.3f}–{reach[1]:.3f} bpp)" if reach else ""
    return f"closest to the target {target:g} bpp on the slider's {step:g} steps{span}"


def _delta(a: float, b: float, digits: int) -> str:
    """a − b with its sign, rounded to ``digits`` (never "-0.000")."""
    return f"{round(a - b, digits) + 0.0:+.{digits}f}"


def versus_effort0(result: Measured, base: Measured) -> str:
    """How the refined ``result`` compares with ``base``, the effort-0 file at its rate."""
    saved = len(base.data) - len(result.data)
    size = f"{abs(saved):,} B ({abs(saved) / len(base.data):.1%}) {'smaller' if saved >= 0 else 'larger'}"
    return (
        f"{size} than at effort 0 ({len(base.data):,} B, {base.psnr:.2f} dB, encoded in {base.encode_s:.2f} s), "
        f"PSNR {_delta(result.psnr, base.psnr, 3)} dB, MS-SSIM {_delta(result.ms_ssim, base.ms_ssim, 4)}"
    )


def refining(rate: float, effort: int) -> str:
    return f"rate {rate:.2f} at effort {effort}"


def refined_summary(result: Measured, base: Measured, effort: int) -> str:
    return f"Refined {refining(result.rate, effort)} in {result.encode_s:.1f} s: {versus_effort0(result, base)}."


def refined_elsewhere(summary: str, rate: float) -> str:
    return f"{summary} Back at rate {rate:.2f}, **Refine** shows it at once."


def choose_effort(efforts: list[int]) -> str:
    return f"Choose an encoder effort: one of {', '.join(map(str, efforts))}."


def classic_status(names: list[str], errors: dict[str, str], running: str | None = None, coding: list[str] = ()) -> str:
    """Which classic codecs this image has curves of, which are being coded in the background,
    which skipped a setting and why."""
    lines = [f"Classic codecs on this image: {', '.join(names) or 'none yet'}."]
    if coding:
        lines.append(f"Coding this image with {' and '.join(coding)} in the background, after MSINN's grid of "
                     "rates: the plot gains their solid curves as they finish.")  # fmt: skip
    lines += [f"{label} skipped a setting: {message}" for label, message in errors.items()]
    if running:
        lines.append(f"Now coding with {running}…")
    return "\n\n".join(lines)


def versus(label: str, other: Measured, result: Measured) -> str:
    """The classic codec beside MSINN at matched bpp."""
    text = (
        f"◀ **{label}**: {other.bpp:.4f} bpp, {other.psnr:.2f} dB, MS-SSIM {other.ms_ssim:.4f} (setting {other.quality})"
        f" · **MSINN** ▶: {result.bpp:.4f} bpp, {result.psnr:.2f} dB, MS-SSIM {result.ms_ssim:.4f} (rate {result.rate:.2f})"
    )
    if not other.reached:
        text += f"\n\n{label} cannot reach {result.bpp:.3f} bpp on this image: its nearest setting is shown."
    return text
