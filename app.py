"""MSINN demo app: one learned codec, one continuous rate slider.

    python app.py            # http://127.0.0.1:7860

Environment: ``MSINN_WEIGHTS`` (a .safetensors path or a name in weights/; default: the
shipped model), ``MSINN_THREADS`` (torch CPU threads, default 1: the background grid,
the metrics and ffmpeg use the other core of a 2-vCPU Space). The device is CUDA when
present.

The UI keeps one ``msinn.session.ImageSession`` per browser tab in ``gr.State``: the
image is analysed once on upload, a background thread encodes it on a grid of rates,
dragging the slider shows the nearest cached result and releasing it codes the exact
rate, then decodes the file (timed, checked bit-exact) and draws latents, bit
allocation and the RD plot.

API: ``/compress`` (the only public endpoint) takes (image, rate) and returns (the
reconstruction as PNG, stats {bpp, psnr, ms_ssim, bytes}):

    from gradio_client import Client, handle_file
    client = Client("http://127.0.0.1:7860/")
    png_path, stats = client.predict(handle_file("photo.png"), 5.5, api_name="/compress")
"""

from __future__ import annotations

import functools
import hashlib
import os
import tempfile
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import gradio as gr
import matplotlib
import torch
from matplotlib.figure import Figure
from PIL import Image

import msinn
from msinn import plots
from msinn.baselines import CODECS, BaselineError, get_codec
from msinn.metrics import kodak_references
from msinn.session import VIEW_MAX_PIXELS, VIEW_MAX_SIDE, ImageSession, Result

matplotlib.use("Agg")
torch.set_num_threads(int(os.environ.get("MSINN_THREADS", "1")))

codec = msinn.load(os.environ.get("MSINN_WEIGHTS") or None)
RATE_MIN, RATE_MAX = codec.rate_range
DEFAULT_RATE = round(2 * (RATE_MIN + (RATE_MAX - RATE_MIN) / 3)) / 2  # a third up, on the grid
EXAMPLES = sorted((Path(__file__).resolve().parent / "assets" / "examples").glob("*.png"))
DOWNLOADS = Path(tempfile.mkdtemp(prefix="msinn-app-"))  # the only place the app writes files
ZOOM_CROP, ZOOM_FACTOR = 128, 4  # zoom view: a 128-px square shown 4× larger

_refs = kodak_references()
REFERENCE_CURVES = [
    plots.compressai_curve(_refs["vtm"], "VTM (Kodak average)", color="grey", linestyle="--", marker="."),
    plots.compressai_curve(_refs["msinn-vrlic"], "MSINN-VRLIC, paper (Kodak average)", color="tab:green",
                           linestyle=":", marker="^", markersize=4),
]  # fmt: skip

DESCRIPTION = f"""
# MSINN — variable-rate learned image compression
A multi-scale invertible network (after MSINN-VRLIC, Tu et al., IEEE TMM 2025, arXiv:2503.21284) codes an image at any
**rate** in [{RATE_MIN:g}, {RATE_MAX:g}] with one set of weights (`{codec.name}`, on {codec.device.type.upper()}).
Upload or paste an image (or pick an example), then drag the rate slider: while dragging
you see the nearest result computed so far, on release the exact one; every number
below is measured on the real `.msn` file. Images above {VIEW_MAX_SIDE} px per side or
{VIEW_MAX_PIXELS / 1e6:g} MP are downscaled first.
"""

API_DOC = """
`/compress` takes (image, rate) and returns (the reconstruction as PNG, stats
`{bpp, psnr, ms_ssim, bytes}`), the same numbers as `msinn.load().encode(image, rate)`:

```python
from gradio_client import Client, handle_file
client = Client("<this app's URL>")
png_path, stats = client.predict(handle_file("photo.png"), 5.5, api_name="/compress")
```
"""


def _readable_upload_errors(preprocess: Callable) -> Callable:
    """Wrap an image input's preprocess: a file Pillow cannot read (or only partly: the
    pixels are loaded here) ends in a message, not a traceback. (A gr.Image subclass would
    do the same, but gradio writes a .pyi stub next to the module of every component class.)"""

    @functools.wraps(preprocess)
    def checked(payload):
        try:
            image = preprocess(payload)
            if image is not None:
                image.load()
            return image
        except (OSError, ValueError, SyntaxError):  # Pillow's errors for bad files
            raise gr.Error("This file cannot be read as an image. Try a PNG, JPEG or WebP file.") from None

    return checked


@contextmanager
def _user_errors() -> Iterator[None]:
    """Show the library's errors for bad input (ValueError) as a message in the UI."""
    try:
        yield
    except ValueError as e:
        raise gr.Error(str(e)) from None


# Compute helpers -------------------------------------------------------------------------


def _readouts(result: Result, note: str) -> str:
    decode = f"{result.decode_s:.2f} s" if result.decode_s is not None else "…"
    return (
        f"**Rate {result.rate:.2f}** · {note}\n\n"
        "| bpp | PSNR | MS-SSIM | file | ratio | encode | decode |\n"
        "|---:|---:|---:|---:|---:|---:|---:|\n"
        f"| {result.bpp:.4f} | {result.psnr:.2f} dB | {result.ms_ssim:.4f} | {len(result.data):,} B "
        f"| {result.ratio:.1f} : 1 | {result.encode_s:.2f} s | {decode} |"
    )


def _write_once(path: Path, write: Callable[[Path], None]) -> Path:
    """Create ``path`` with ``write`` unless it exists; atomically (write, then rename), so
    a concurrent reader never sees half a file."""
    if not path.exists():
        path.parent.mkdir(exist_ok=True)
        partial = path.with_name(f".{threading.get_ident()}-{path.name}")
        write(partial)
        partial.replace(path)
    return path


def _png(image: Image.Image, path: Path) -> Path:
    """``image`` as a PNG file (fast zlib level: outputs are sent as files, not re-encoded)."""
    return _write_once(path, lambda p: image.save(p, format="PNG", compress_level=1))


def _files(result: Result) -> tuple[Path, Path]:
    """The .msn file and the PNG of its reconstruction, in a folder named by the file's hash."""
    folder, name = DOWNLOADS / hashlib.sha256(result.data).hexdigest()[:16], f"msinn-rate{result.rate:.2f}"
    png = _png(result.image, folder / f"{name}.png")
    return _write_once(folder / f"{name}.msn", lambda p: p.write_bytes(result.data)), png


def _view(session: ImageSession, result: Result, view: dict, note: str = "exact") -> tuple:
    """reconstruction, before/after pair, readouts; records ``result.rate`` as the shown one."""
    view["rate"] = result.rate
    before = _png(session.image, DOWNLOADS / session.id / "input.png")
    after = _files(result)[1]
    return after, (before, after), _readouts(result, note)


def _zoom(session: ImageSession, result: Result, center: tuple[float, float]) -> tuple[Image.Image, Image.Image]:
    """The same square of input and reconstruction around ``center`` (relative x, y), enlarged."""
    w, h = session.image.size
    side = min(ZOOM_CROP, w, h)
    left = min(max(round(center[0] * w) - side // 2, 0), w - side)
    top = min(max(round(center[1] * h) - side // 2, 0), h - side)
    box = (left, top, left + side, top + side)
    size = (side * ZOOM_FACTOR, side * ZOOM_FACTOR)
    return tuple(im.crop(box).resize(size, Image.Resampling.NEAREST) for im in (session.image, result.image))


def _rd_figure(session: ImageSession, current: Result | None) -> Figure:
    w, h = session.image.size
    classic = [c | {"style": {"linewidth": 1, "marker": "s", "markersize": 3}} for c in session.baseline_curves()]
    mine = session.rd_curve() | {"style": {"color": "tab:red", "linewidth": 2.5, "marker": "o", "markersize": 3}}
    return plots.rd_plot(
        [*REFERENCE_CURVES, *classic, mine],
        current=(current.bpp, current.psnr) if current else None,
        title=f"This image ({w}×{h}) against published Kodak averages",
    )


SKIP_VIEW = (gr.skip(),) * 3  # reconstruction, before/after, readouts
SKIP_DETAILS = (gr.skip(),) * 7  # downloads, latents, heatmaps, RD plot, zoom, version


def _complete(session: ImageSession, rate: float, view: dict) -> tuple:
    """Decode the file at ``rate`` (timed, checked) and draw everything about it:
    view (3), downloads (2), latents, heatmaps, RD plot, zoom, plotted version.
    Given up as soon as the view moves to another rate (dragging the slider meanwhile):
    the event that moved it shows that rate."""
    if view["rate"] != rate:
        return SKIP_VIEW + SKIP_DETAILS
    result = session.exact(rate)
    version = session.version
    outputs = (
        *_files(result),
        plots.latent_images(result.encoded),
        plots.bit_heatmaps(result.encoded),
        _rd_figure(session, result),
        _zoom(session, result, view["center"]),
        version,
    )
    if view["rate"] != rate:
        return SKIP_VIEW + SKIP_DETAILS
    return _view(session, result, view) + outputs


# Handlers (one per event) ----------------------------------------------------------------


def load_image(image: Image.Image | None, old: ImageSession | None, rate: float, view: dict):
    """New image: analyse it, show the result at the slider's rate, start the grid, then
    decode and draw the details."""
    if image is None:
        if old is not None:
            old.close()
        yield None, "", gr.Timer(active=False), None, None, "", None, None, None, None, None, None, -1
        return
    with _user_errors():
        session = ImageSession(codec, image)
        result = session.encode(rate, details=True)
    if old is not None:
        old.close()
    session.start_grid()
    notice = f"⚠️ {session.notice}" if session.notice else ""
    if session.notice:
        gr.Warning(session.notice)
    yield session, notice, gr.Timer(active=True), *_view(session, result, view), *SKIP_DETAILS
    yield (gr.skip(),) * 3 + _complete(session, result.rate, view)


def preview_rate(session: ImageSession | None, rate: float, view: dict):
    """While dragging: the cached result nearest to ``rate`` (no coding)."""
    result = session and (session.cached(rate) or session.nearest(rate))
    if result is None:
        return SKIP_VIEW
    if result.rate == session.codec.check_rate(rate):
        return _view(session, result, view)
    return _view(session, result, view, f"preview: nearest computed rate (release the slider to code {rate:.2f})")


def compress_at_rate(session: ImageSession | None, rate: float, view: dict):
    """Slider released: code at exactly ``rate``, show it, then decode and draw details."""
    if session is None:
        return
    with _user_errors():
        result = session.encode(rate, details=True)
    yield *_view(session, result, view), *SKIP_DETAILS
    yield _complete(session, result.rate, view)


def find_rate_for_bpp(session: ImageSession | None, target_bpp: float | None, view: dict):
    """Bisect the rate on real file sizes to the target bpp; move the slider there."""
    if session is None:
        raise gr.Error("Upload an image first.")
    with _user_errors():
        result = session.find_rate_for_bpp(target_bpp if target_bpp is not None else float("nan"))
    note = f"closest to the target {target_bpp:g} bpp"
    yield result.rate, *_view(session, result, view, note), *SKIP_DETAILS
    yield gr.skip(), *_complete(session, result.rate, view)


def zoom_at(session: ImageSession | None, view: dict, evt: gr.SelectData):
    """Click on the reconstruction: zoom the before/after crop to that point."""
    result = session and view["rate"] is not None and session.cached(view["rate"])
    if not result:
        return gr.skip()
    w, h = session.image.size
    view["center"] = (evt.index[0] / w, evt.index[1] / h)
    return _zoom(session, result, view["center"])


def _baseline_status(session: ImageSession) -> str:
    names = [c["name"] for c in session.baseline_curves()]
    if not (names or session.comparing):
        return ""
    lines = [f"Classic codecs on this image: {', '.join(names) or 'none yet'}."]
    lines += [f"{get_codec(k).label} skipped a setting: {msg}" for k, msg in session.baseline_errors.items()]
    if session.comparing:
        lines.append("Still computing in the background (VVC last)…")
    return "\n\n".join(lines)


def compare_with_classic(session: ImageSession | None):
    """Start coding this image with the classic codecs (background; VVC last)."""
    if session is None:
        raise gr.Error("Upload an image first.")
    session.start_baselines()
    return _baseline_status(session), gr.Timer(active=True)


def refresh_rd_plot(session: ImageSession | None, view: dict, plotted: int):
    """Timer: redraw the RD plot when the grid or the classic codecs added points."""
    if session is None:
        return gr.skip(), gr.skip(), plotted, gr.Timer(active=False)
    timer = gr.Timer(active=session.busy)
    if session.version == plotted:
        return gr.skip(), _baseline_status(session), plotted, timer
    version = session.version
    current = session.cached(view["rate"]) if view["rate"] is not None else None
    return _rd_figure(session, current), _baseline_status(session), version, timer


def compare_at_matched_bpp(session: ImageSession | None, view: dict, codec_name: str):
    """The chosen classic codec at the bpp of the shown MSINN result, side by side."""
    result = session and view["rate"] is not None and session.cached(view["rate"])
    if not result:
        raise gr.Error("Upload an image first.")
    try:
        other = session.matched(codec_name, result.bpp)
    except BaselineError as e:
        raise gr.Error(str(e).splitlines()[0]) from None
    label = get_codec(codec_name).label
    text = (
        f"◀ **{label}**: {other.bpp:.4f} bpp, {other.psnr:.2f} dB, MS-SSIM {other.ms_ssim:.4f} (setting {other.quality})"
        f" · **MSINN** ▶: {result.bpp:.4f} bpp, {result.psnr:.2f} dB, MS-SSIM {result.ms_ssim:.4f} (rate {result.rate:.2f})"
    )
    if not other.reached:
        text += f"\n\n{label} cannot reach {result.bpp:.3f} bpp on this image: its nearest setting is shown."
    return (other.image, result.image), text


def compress(image: Image.Image | None, rate: float) -> tuple[Image.Image, dict[str, float]]:
    """Public API ``/compress``: code ``image`` at ``rate`` with the loaded model.

    The image goes through the library's rule (msinn.image.to_rgb) and the demo's size
    limit (msinn.session.limit_size: downscaled above 2048 px per side or 2 MP). Returns the reconstruction (PNG,
    bit-identical to what ``Codec.decompress`` gives for the file) and its stats: bpp
    (8 × file bytes / pixels), PSNR (dB) and MS-SSIM against the coded input, bytes.
    """
    if image is None:
        raise gr.Error("No image given.")
    with _user_errors():
        result = ImageSession(codec, image).encode(rate)
    return result.image, result.stats()


def _close_session(session: ImageSession | None) -> None:
    if session is not None:
        session.close()


# Layout ----------------------------------------------------------------------------------

with gr.Blocks(title="MSINN image compression") as demo:
    session = gr.State(None, delete_callback=_close_session)
    view = gr.State({"rate": None, "center": (0.5, 0.5)})  # the shown rate, zoom centre; updated in place
    plotted = gr.State(-1)  # session.version the RD plot shows
    timer = gr.Timer(2.0, active=False)

    gr.Markdown(DESCRIPTION)
    with gr.Row():
        with gr.Column(scale=1):
            image_input = gr.Image(
                type="pil", image_mode=None, sources=["upload", "clipboard"], label="Image", elem_id="image-input"
            )
            notice = gr.Markdown()
            gr.Examples(
                [[str(p)] for p in EXAMPLES],
                inputs=image_input,
                label="Examples (Kodak; CID22 by Cloudinary, CC BY-SA 4.0)",
            )
        with gr.Column(scale=2):
            with gr.Tabs():
                with gr.Tab("Reconstruction"):
                    reconstruction = gr.Image(
                        type="pil", format="png", label="Reconstruction (click to zoom there)", interactive=False
                    )
                with gr.Tab("Before / after"):
                    before_after = gr.ImageSlider(
                        type="pil", format="png", label="Input ◀ ▶ reconstruction", interactive=False
                    )
                with gr.Tab("Zoom ×4"):
                    zoom = gr.ImageSlider(
                        type="pil", format="png", label="128-px crop: input ◀ ▶ reconstruction", interactive=False
                    )
            rate = gr.Slider(RATE_MIN, RATE_MAX, value=DEFAULT_RATE, step=0.05, label="Rate",
                             info="Higher rate: larger file, better quality")  # fmt: skip
            with gr.Row():
                target_bpp = gr.Number(0.5, label="Target bpp", minimum=0.001, scale=2)
                find_button = gr.Button("Find the rate for this bpp", scale=1)
            readouts = gr.Markdown(elem_id="readouts")
            with gr.Row():
                download_msn = gr.DownloadButton("Download .msn file")
                download_png = gr.DownloadButton("Download decoded PNG")
    with gr.Tabs():
        with gr.Tab("Rate–distortion"):
            rd_plot = gr.Plot(format="png", label="PSNR against bpp", elem_id="rd-plot")
            with gr.Row():
                classic_button = gr.Button("Compare with classic codecs", scale=1)
                classic_status = gr.Markdown()
        with gr.Tab("Latents y1…y5"):
            latents = gr.Gallery(label="RMS over channels of the coded symbols (finest y1 to coarsest y5)", columns=5)
        with gr.Tab("Bit allocation"):
            heatmaps = gr.Plot(format="png", label="Estimated bits per pixel, per latent and in total")
        with gr.Tab("MSINN vs a classic codec"):
            with gr.Row():
                codec_choice = gr.Dropdown(
                    [(get_codec(k).label, k) for k in CODECS], value="webp", label="Classic codec", scale=2
                )
                versus_button = gr.Button("Code it at MSINN's bpp", scale=1)
            versus = gr.ImageSlider(type="pil", format="png", label="Classic codec ◀ ▶ MSINN", interactive=False)
            versus_text = gr.Markdown()
    with gr.Accordion("API: /compress", open=False):
        gr.Markdown(API_DOC)
        with gr.Row():
            api_image = gr.Image(type="pil", image_mode=None, sources=["upload", "clipboard"], label="Image")
            with gr.Column():
                api_rate = gr.Slider(RATE_MIN, RATE_MAX, value=DEFAULT_RATE, step=0.05, label="API rate")
                api_button = gr.Button("Compress")
                api_stats = gr.JSON(label="Stats")
            api_reconstruction = gr.Image(type="pil", format="png", label="Reconstruction", interactive=False)

    # Wiring ------------------------------------------------------------------------------

    for upload in (image_input, api_image):
        upload.preprocess = _readable_upload_errors(upload.preprocess)
    shown = [reconstruction, before_after, readouts]
    details = [download_msn, download_png, latents, heatmaps, rd_plot, zoom, plotted]
    # Events that code and redraw the view run one at a time, in order (one queue for all
    # tabs: the model and the CPU are shared anyway); previews and the timer run beside them.
    private = {"api_visibility": "private", "concurrency_limit": 1}
    coding = private | {"concurrency_id": "coding"}
    image_input.change(load_image, [image_input, session, rate, view],
                       [session, notice, timer, *shown, *details], **coding)  # fmt: skip
    rate.input(preview_rate, [session, rate, view], shown, show_progress="hidden", trigger_mode="always_last",
               api_visibility="private", concurrency_limit=None)  # fmt: skip
    rate.release(compress_at_rate, [session, rate, view], [*shown, *details], show_progress="minimal",
                 trigger_mode="always_last", **coding)  # fmt: skip
    gr.on([find_button.click, target_bpp.submit], find_rate_for_bpp, [session, target_bpp, view],
          [rate, *shown, *details], **coding)  # fmt: skip
    reconstruction.select(zoom_at, [session, view], zoom, api_visibility="private")
    classic_button.click(compare_with_classic, session, [classic_status, timer], api_visibility="private")
    timer.tick(refresh_rd_plot, [session, view, plotted], [rd_plot, classic_status, plotted, timer],
               show_progress="hidden", **private)  # fmt: skip
    versus_button.click(compare_at_matched_bpp, [session, view, codec_choice], [versus, versus_text], **coding)
    api_button.click(compress, [api_image, api_rate], [api_reconstruction, api_stats], api_name="compress",
                     concurrency_limit=1, concurrency_id="coding")  # fmt: skip

demo.queue(max_size=32, default_concurrency_limit=1)

if __name__ == "__main__":
    demo.launch(max_file_size="50mb")
