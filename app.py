"""MSINN demo app: one learned codec, one continuous rate slider.

    python app.py            # http://127.0.0.1:7860

Environment: ``MSINN_WEIGHTS`` (a .safetensors path or a name in weights/; default: lite on a
CPU host, the quality model ``msinn-mid`` on a GPU when it is shipped), ``MSINN_THREADS`` (torch CPU threads per model call, default 1),
``MSINN_WORKERS`` (model calls at once, default 2), ``MSINN_FILES_MB`` (cap on the files
the app keeps for viewing and download, default 2000). The model runs on CUDA when present;
on Hugging Face ZeroGPU every model call goes through ``spaces.GPU`` (imported only if
installed, so CPU hosts and tests do not need it).

Each browser tab has a ``Viewer`` (``gr.State``): its image session (``msinn/session.py``),
the rate the controls asked for last and the result on display. All coding goes through the
process-wide fair scheduler (``msinn/scheduler.py``): round robin across tabs, the latest
request of a tab wins, background grids only in idle time. Every path that sets a rate ends
at the exact result for that rate:

- ``rate.input`` (dragging, keys, typing): the nearest cached result at once, no coding;
- ``rate.change`` (any new value, also one set by the app): the exact result once no newer
  value came for ``SETTLE_S`` (so a drag ends at the exact result just after the mouse-up);
- the target-bpp search, a new image or example, and the API code exactly too;
- the refine button codes the slider's rate at encoder effort 1 or 2 (a search of tens of
  seconds, on its own lane, its steps shown on the refine status line) and shows that file
  with what it saves against effort 0, if the view is still at that rate; the slider, grid and
  RD curve stay effort 0.

The exact result is the file coded at that rate: readouts (bpp of the real file, PSNR, MS-SSIM),
reconstruction and both downloads come from it together; then the file is decoded (timed, and
checked bit-exact against the encoder's image), and latents, bit heatmaps and the RD plot are
drawn from the bits the coding recorded.

API: ``/compress`` (the only public endpoint) takes (image, rate) and returns (the
reconstruction as PNG, stats {rate, bpp, psnr, ms_ssim, bytes}):

    from gradio_client import Client, handle_file
    client = Client("http://127.0.0.1:7860/")
    png_path, stats = client.predict(handle_file("photo.png"), 5.5, api_name="/compress")
"""

from __future__ import annotations

import functools
import inspect
import logging
import math
import os
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import gradio as gr
import matplotlib
import torch
from gradio.utils import get_upload_folder
from matplotlib.figure import Figure
from PIL import Image

import msinn
from msinn import plots
from msinn.baselines import CODECS, BaselineError, get_codec
from msinn.metrics import kodak_references
from msinn.refine import EFFORTS
from msinn.scheduler import CancelledError
from msinn.session import (
    BASELINE_SWEEPS,
    VIEW_MAX_PIXELS,
    VIEW_MAX_SIDE,
    FileStore,
    ImageSession,
    Result,
    save_png,
)

try:  # Hugging Face ZeroGPU: CUDA exists only inside functions decorated with spaces.GPU
    import spaces
except ImportError:
    spaces = None

matplotlib.use("Agg")
torch.set_num_threads(int(os.environ.get("MSINN_THREADS", "1")))
log = logging.getLogger("msinn.app")

ZERO_GPU = spaces is not None and os.environ.get("SPACES_ZERO_GPU", "").lower() in ("1", "true")


def _host_model() -> str | None:
    """``MSINN_WEIGHTS`` if set; else the quality model on a GPU host (when shipped); else the
    default, lite, sized to code in about a second on 2 CPU cores."""
    if os.environ.get("MSINN_WEIGHTS"):
        return os.environ["MSINN_WEIGHTS"]
    if (ZERO_GPU or torch.cuda.is_available()) and "msinn-mid" in msinn.shipped_models():
        return "msinn-mid"
    return None


codec = msinn.load(_host_model(), device="cuda" if ZERO_GPU else None)
RATE_MIN, RATE_MAX = codec.rate_range
RATE_STEP = 0.05  # the slider's step: every rate the UI codes and shows is a multiple of it
DEFAULT_RATE = round(2 * (RATE_MIN + (RATE_MAX - RATE_MIN) / 3)) / 2  # a third up, on the grid
SETTLE_S = 0.15  # a rate value that stays this long (mouse up, keys, typing) gets its exact result
REFINE_HINT = "**Refine**: the encoder searches for a better file at this rate (slower encode, same decoder)."
EXAMPLES = sorted((Path(__file__).resolve().parent / "assets" / "examples").glob("*.png"))
ZOOM_CROP, ZOOM_FACTOR = 128, 4  # zoom view: a 128-px square shown 4× larger
# Files shown and offered for download live in gradio's cache folder (served without a copy),
# one folder per image, deleted when its tab closes; all together capped, oldest first out.
FILES = FileStore(Path(get_upload_folder()) / "msinn", int(os.environ.get("MSINN_FILES_MB", "2000")) << 20)


def _on_device(fn: Callable) -> Callable:
    """``spaces.GPU`` on ZeroGPU (the call then runs in a GPU process: arguments and results
    must be CPU data); unchanged elsewhere."""
    return spaces.GPU(duration=60)(fn) if spaces is not None else fn


@_on_device
def _encode_on_device(image, rate: float, details: bool = False, effort: int = 0) -> msinn.Encoded:
    return codec.encode(image, rate, details=details, effort=effort)


@_on_device
def _decompress_on_device(data: bytes) -> Image.Image:
    return codec.decompress(data)


class _DeviceCodec:
    """The codec as the image sessions use it on ZeroGPU: its two model calls go through
    ``spaces.GPU``; everything else is the codec's. No analysis is kept between calls
    (``reuse_analysis=False``): each encode analyses the image again, in the GPU call."""

    decompress = staticmethod(_decompress_on_device)

    @staticmethod
    def encode(image, rate: float, details: bool = False, effort: int = 0, progress=None) -> msinn.Encoded:
        """``progress`` stays in this process (a callback cannot cross into the GPU one): a
        refinement there shows no steps and cannot be stopped before it ends."""
        return _encode_on_device(image, rate, details, effort)

    def __getattr__(self, name: str):
        return getattr(codec, name)


SESSION_CODEC = _DeviceCodec() if ZERO_GPU else codec
HARDWARE = "ZeroGPU" if ZERO_GPU else codec.device.type.upper()

_refs = kodak_references()
PUBLISHED = {"linestyle": "--", "linewidth": 1.2, "markersize": 3}  # Kodak averages: dashed
# Refined points of this image: MSINN's colour, unjoined, a marker per effort.
REFINED_STYLES = {1: {"linestyle": "none", "marker": "D", "markersize": 7, "markeredgecolor": "black"},
                  2: {"linestyle": "none", "marker": "P", "markersize": 9, "markeredgecolor": "black"}}  # fmt: skip
REFERENCE_CURVES = [
    plots.compressai_curve(_refs["vtm"], "VVC reference: VTM (published Kodak average, 4:4:4)", **PUBLISHED),
    plots.compressai_curve(_refs["msinn-vrlic"], "MSINN-VRLIC, the paper (published Kodak average)", **PUBLISHED),
]

DESCRIPTION = f"""
# MSINN — variable-rate learned image compression
A multi-scale invertible network (after MSINN-VRLIC, Tu et al., IEEE TMM 2025, arXiv:2503.21284) codes an image at any
**rate** in [{RATE_MIN:g}, {RATE_MAX:g}] with one set of weights (`{codec.name}`, on {HARDWARE}).
Upload or paste an image (or pick an example), then move the rate: while you drag you see the
nearest result computed so far, and wherever the rate stops (mouse, keys or a typed value) the
exact one; every number below is measured on the real `.msn` file, which you can download.
Images above {VIEW_MAX_SIDE} px per side or {VIEW_MAX_PIXELS / 1e6:g} MP are downscaled first.
"""

API_DOC = """
`/compress` takes (image, rate) and returns (the reconstruction as PNG, stats
`{rate, bpp, psnr, ms_ssim, bytes}`), the same numbers as `msinn.load().encode(image, rate)`:

```python
from gradio_client import Client, handle_file
client = Client("<this app's URL>")
png_path, stats = client.predict(handle_file("photo.png"), 5.5, api_name="/compress")
```
"""


class Viewer:
    """One browser tab: its image session, the rate asked for last, what is on display."""

    def __init__(self):
        self.id = uuid.uuid4().hex  # the tab's owner key in the scheduler
        self.session: ImageSession | None = None
        self.requested: float | None = None  # the rate the controls asked for last
        self.shown: Result | None = None  # the result the view and downloads show
        self.complete: float | None = None  # rate whose exact result and details are shown
        self.delivering: float | None = None  # rate whose exact result a handler is making
        self.center = (0.5, 0.5)  # zoom centre, relative
        self.plotted = -1  # session.version the RD plot shows
        self.comparing = False  # the classic codecs are running for this tab
        self.lock = threading.Lock()

    def __deepcopy__(self, memo) -> Viewer:
        # gr.State gives each tab a deep copy of its default, an empty Viewer: that copy is a
        # new empty Viewer (with its own id and lock). Handlers change it in place.
        return Viewer()

    def close(self) -> None:
        """Stop this tab's work and delete its files."""
        session, self.session, self.shown, self.complete = self.session, None, None, None
        if session is not None:
            session.close()
            FILES.remove(session.id)


VIEWERS: dict[str, Viewer] = {}  # by gradio session hash, to clean up when a tab closes


def _register(viewer: Viewer, request: gr.Request | None) -> Viewer:
    if request is not None and request.session_hash:
        VIEWERS[request.session_hash] = viewer
    return viewer


def _snap(rate) -> float:
    """A rate from a control, on the slider's grid and in range (ValueError if not a number)."""
    try:
        value = float(rate)
    except (TypeError, ValueError):
        value = math.nan
    if not RATE_MIN <= value <= RATE_MAX:
        raise ValueError(f"The rate must be a number from {RATE_MIN:g} to {RATE_MAX:g}; got {rate!r}.")
    return round(round(value / RATE_STEP) * RATE_STEP, 2)


def _plain_errors(unchanged: str) -> Callable[[Callable], Callable]:
    """Handler decorator. Errors reach the visitor as one plain sentence and leave the tab
    usable: bad input (ValueError, e.g. BitstreamError) as its own message, anything else as a
    short notice (the traceback goes to the log); work dropped for a newer request
    (CancelledError) ends quietly. A generator handler ends with one more update, "``unchanged``
    (an output's name): no change": gradio applies a generator's last update again when it
    ends (which would bring back a result that a newer request has replaced meanwhile), and
    blanks every output of a generator that yielded nothing."""

    def decorate(handler: Callable) -> Callable:
        def message(e: Exception) -> gr.Error:
            if isinstance(e, ValueError):
                return gr.Error(str(e).splitlines()[0], print_exception=False)
            log.exception("handler %s failed", handler.__name__)
            first = (str(e).splitlines() or [""])[0][:200]
            return gr.Error(
                f"Something went wrong here ({type(e).__name__}: {first}). The image is still loaded: "
                "try again, or another rate.",
                print_exception=False,
            )

        if inspect.isgeneratorfunction(handler):

            @functools.wraps(handler)
            def generator(*args, **kwargs):
                try:
                    yield from handler(*args, **kwargs)
                except gr.Error:
                    raise
                except CancelledError:
                    pass
                except Exception as e:
                    raise message(e) from None
                yield {globals()[unchanged]: gr.skip()}

            return generator

        @functools.wraps(handler)
        def function(*args, **kwargs):
            try:
                return handler(*args, **kwargs)
            except gr.Error:
                raise
            except CancelledError:
                return {globals()[unchanged]: gr.skip()}
            except Exception as e:
                raise message(e) from None

        return function

    return decorate


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
        except (OSError, ValueError, SyntaxError, Image.DecompressionBombError):  # Pillow's errors for bad files
            raise gr.Error(
                "This file cannot be read as an image. Try a PNG, JPEG or WebP file.", print_exception=False
            ) from None

    return checked


def _readable_rate_errors(preprocess: Callable) -> Callable:
    """Wrap the API rate's preprocess: an empty, non-numeric, NaN or out-of-range rate ends in
    one plain sentence (gradio's own check fails with a bare "Error" on text or null)."""

    @functools.wraps(preprocess)
    def checked(payload):
        try:
            value = float(payload)
        except (TypeError, ValueError):
            value = math.nan
        if not RATE_MIN <= value <= RATE_MAX:
            raise gr.Error(
                f"The rate must be a number from {RATE_MIN:g} to {RATE_MAX:g}; got {payload!r}.", print_exception=False
            )
        return preprocess(value)

    return checked


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


def _show(viewer: Viewer, session: ImageSession, result: Result, note: str = "exact") -> dict:
    """The view of ``result`` of ``session``: reconstruction, before/after, readouts and both
    downloads, all of this one result (its files carry its rate, and effort if refined)."""
    msn, png = session.files(result)
    viewer.shown = result
    what = f"rate {result.rate:.2f}" + (f", effort {result.effort}" if result.effort else "")
    return {
        reconstruction: str(png),
        before_after: (str(session.input_png()), str(png)),
        readouts: _readouts(result, note),
        download_msn: gr.DownloadButton(
            f"Download .msn ({what}, {len(result.data):,} B)", value=str(msn), interactive=True
        ),
        download_png: gr.DownloadButton(f"Download decoded PNG ({what})", value=str(png), interactive=True),
    }


def _cleared() -> dict:
    return {
        notice: "",
        reconstruction: None,
        before_after: None,
        readouts: "",
        download_msn: gr.DownloadButton("Download .msn file", value=None, interactive=False),
        download_png: gr.DownloadButton("Download decoded PNG", value=None, interactive=False),
        latents: None,
        heatmaps: None,
        rd_plot: None,
        zoom: None,
        classic_status: "",
        refine_status: REFINE_HINT,
        timer: gr.Timer(active=False),
    }


def _zoom_files(session: ImageSession, result: Result, center: tuple[float, float]) -> tuple[str, str]:
    """The same square of input and reconstruction around ``center``, enlarged, as files."""
    w, h = session.image.size
    side = min(ZOOM_CROP, w, h)
    left = min(max(round(center[0] * w) - side // 2, 0), w - side)
    top = min(max(round(center[1] * h) - side // 2, 0), h - side)
    box, size = (left, top, left + side, top + side), (side * ZOOM_FACTOR, side * ZOOM_FACTOR)
    paths = []
    for label, im in (("input", session.image), (result.name, result.image)):
        crop = im.crop(box).resize(size, Image.Resampling.NEAREST)
        paths.append(str(FILES.ensure(session.id, f"zoom-{label}-{left}-{top}.png", lambda p, c=crop: save_png(c, p))))
    return paths[0], paths[1]


def _latent_files(session: ImageSession, result: Result) -> list[tuple[str, str]]:
    """The latent pictures of ``result`` as files, with their captions."""
    files = []
    for name, (picture, caption) in zip(plots.SCALES, plots.latent_images(result.encoded), strict=True):
        path = FILES.ensure(session.id, f"latent-{name}-{result.name}.png", lambda p, im=picture: save_png(im, p))
        files.append((str(path), caption))
    return files


def _rd_figure(session: ImageSession, current: Result | None) -> Figure:
    w, h = session.image.size
    classic = [c | {"style": plots.CODEC_STYLES[c["key"]] | {"linewidth": 1.2}} for c in session.baseline_curves()]
    refined = [c | {"style": REFINED_STYLES.get(c["effort"], REFINED_STYLES[1])} for c in session.refined_curves()]
    return plots.rd_plot(
        [*REFERENCE_CURVES, *classic, session.rd_curve(), *refined],
        current=(current.bpp, current.psnr) if current else None,
        title=f"This image ({w}×{h}): solid lines; published Kodak averages: dashed",
    )


def _exact(viewer: Viewer, rate: float, note: str = "exact", extra: dict | None = None):
    """Make and show the exact result at ``rate`` (yields update dicts): code the file (a job;
    readouts, view and downloads from it), decode it (a job; timed, checked), then draw
    latents, heatmaps, RD plot and zoom. Stops as soon as a newer rate is asked for (that
    request shows its own), and does nothing if this rate is being or has been delivered."""
    session = viewer.session
    with viewer.lock:
        if session is None or rate in (viewer.delivering, viewer.complete):
            return
        viewer.delivering = rate
    try:
        coded = session.encode(rate, details=True, slot="view")
        if viewer.requested != rate or viewer.session is not session:
            return
        viewer.complete = None
        yield (extra or {}) | _show(viewer, session, coded, note)
        decoded = session.decode(rate, slot="view")
        result = replace(coded, decode_s=decoded.decode_s)  # the bits recorded by this coding
        details = {
            latents: _latent_files(session, result),
            heatmaps: plots.bit_heatmaps(result.encoded),
            rd_plot: _rd_figure(session, result),
            zoom: _zoom_files(session, result, viewer.center),
        }
        viewer.plotted = session.version
        if viewer.requested != rate or viewer.session is not session:
            return
        viewer.complete = rate
        yield _show(viewer, session, result, note) | details
    finally:
        with viewer.lock:
            if viewer.delivering == rate:
                viewer.delivering = None


# Handlers (one per event) ----------------------------------------------------------------


@_plain_errors("readouts")
def load_image(image: Image.Image | None, viewer: Viewer, rate: float, request: gr.Request, progress=gr.Progress()):  # noqa: B008 (gradio injects a tracker)
    """New image (upload, paste, example) or none: analyse it and show the exact result at
    the slider's rate, then start the background grid of rates."""
    _register(viewer, request)
    viewer.close()
    if image is None:
        yield _cleared()
        return
    rate = _snap(rate)
    viewer.requested = rate
    progress(0.1, desc="Analysing the image")
    session = ImageSession(SESSION_CODEC, image, owner=viewer.id, files=FILES, reuse_analysis=not ZERO_GPU)
    viewer.session, viewer.plotted = session, -1
    if session.notice:
        gr.Warning(session.notice)
    first = {notice: f"⚠️ {session.notice}" if session.notice else "", timer: gr.Timer(active=True),
             classic_status: "", refine_status: REFINE_HINT}  # fmt: skip
    progress(0.4, desc=f"Coding at rate {rate:.2f}")
    started = False
    for update in _exact(viewer, rate, extra=first):
        yield update
        if not started:
            session.start_grid()
            started = True


@_plain_errors("readouts")
def preview_rate(viewer: Viewer, rate: float | None):
    """While the rate moves: the cached result nearest to it, at once (no coding)."""
    if rate is None:
        return {readouts: gr.skip()}
    rate = _snap(rate)
    viewer.requested = rate
    session = viewer.session
    result = session and (session.cached(rate) or session.nearest(rate))
    if result is None or viewer.complete == rate:
        return {readouts: gr.skip()}
    viewer.complete = None
    if result.rate == codec.check_rate(rate):
        return _show(viewer, session, result, "exact")
    return _show(viewer, session, result, f"preview: nearest computed rate, {rate:.2f} is on its way")


@_plain_errors("readouts")
def settle_rate(viewer: Viewer, rate: float | None):
    """Any new rate (keys, typed, set by the app): its exact result once it stays put."""
    if rate is None:
        return
    value, rate = rate, _snap(rate)
    viewer.requested = rate
    time.sleep(SETTLE_S)
    if viewer.requested == rate:
        yield from _exact(viewer, rate, extra={rate_slider: rate} if value != rate else None)


@_plain_errors("readouts")
def find_rate_for_bpp(viewer: Viewer, target: float | None, progress=gr.Progress()):  # noqa: B008 (gradio injects a tracker)
    """Search the rate whose real file is closest to ``target`` bpp, on the slider's grid;
    move the slider there and show it, saying so when the image cannot reach the target."""
    session = viewer.session
    if session is None:
        raise gr.Error("Upload an image first.")
    try:
        target = float(target)
    except (TypeError, ValueError):
        target = math.nan
    if not target > 0:
        raise gr.Error("Enter a target size in bits per pixel, a number above 0.")
    tries = []

    def on_try(rate: float) -> None:
        tries.append(rate)
        progress(min(len(tries) / 8, 0.95), desc=f"Coding at rate {rate:.2f} (try {len(tries)})")

    result = session.rate_for_bpp(target, step=RATE_STEP, on_try=on_try)
    rate = round(result.rate, 2)
    lo, hi = session.cached(RATE_MIN), session.cached(RATE_MAX)
    if result.rate == RATE_MIN and result.bpp > target:
        note = f"{target:g} bpp is below what the model reaches on this image: lowest reachable here: {result.bpp:.3f} bpp — showing that"
    elif result.rate == RATE_MAX and result.bpp < target:
        note = f"{target:g} bpp is above what the model reaches on this image: highest reachable here: {result.bpp:.3f} bpp — showing that"
    else:
        reach = f" (reachable here: {lo.bpp:.3f}–{hi.bpp:.3f} bpp)" if lo and hi else ""
        note = f"closest to the target {target:g} bpp on the slider's {RATE_STEP:g} steps{reach}"
    viewer.requested, viewer.complete = rate, None
    yield from _exact(viewer, rate, note, extra={rate_slider: rate})


def _delta(a: float, b: float, digits: int) -> str:
    """a − b with its sign, rounded to ``digits`` (never "-0.000")."""
    return f"{round(a - b, digits) + 0.0:+.{digits}f}"


def _versus_effort0(result: Result, base: Result) -> str:
    """How the refined ``result`` compares with ``base``, the effort-0 file at its rate."""
    saved = len(base.data) - len(result.data)
    size = f"{abs(saved):,} B ({abs(saved) / len(base.data):.1%}) {'smaller' if saved >= 0 else 'larger'}"
    return (
        f"{size} than at effort 0 ({len(base.data):,} B, {base.psnr:.2f} dB, encoded in {base.encode_s:.2f} s), "
        f"PSNR {_delta(result.psnr, base.psnr, 3)} dB, MS-SSIM {_delta(result.ms_ssim, base.ms_ssim, 4)}"
    )


@_plain_errors("refine_status")
def refine_rate(viewer: Viewer, rate: float | None, effort: int | None, progress=gr.Progress()):  # noqa: B008 (gradio injects a tracker)
    """Refine button: the file at the slider's rate coded at encoder ``effort`` (the session's
    long job, its steps on the refine status line), with what it saves against effort 0. It is
    shown only if the view is still at that rate and image; otherwise the status says it is
    ready. A newer refine request of this tab, a new image or closing the tab stops it (not on
    ZeroGPU, where the search runs to its end in the GPU process and shows no steps)."""
    session = viewer.session
    if session is None:
        raise gr.Error("Upload an image first.")
    if rate is None:
        return {refine_status: gr.skip()}
    rate, efforts = _snap(rate), [e for e in EFFORTS if e]
    if effort not in efforts:
        raise gr.Error(f"Choose an encoder effort: one of {', '.join(map(str, efforts))}.")
    effort = int(effort)
    what = f"rate {rate:.2f} at effort {effort}"
    progress(0.0, desc=f"Refining {what}: waiting for a free refine worker")
    result = session.refine(rate, effort, progress=lambda step, steps: progress((step, steps), desc=f"Refining {what}"))
    base = session.cached(rate)
    if viewer.session is not session or base is None:
        return {refine_status: gr.skip()}
    summary = f"Refined {what} in {result.encode_s:.1f} s: {_versus_effort0(result, base)}."
    if viewer.requested != rate:
        return {refine_status: f"{summary} Back at rate {rate:.2f}, **Refine** shows it at once."}
    viewer.complete, viewer.plotted = rate, session.version  # the slider's events leave it shown
    bits = bool(result.encoded.bits)  # kept for the session's latest refinement only
    details = {
        latents: _latent_files(session, result) if bits else None,
        heatmaps: plots.bit_heatmaps(result.encoded) if bits else None,
        rd_plot: _rd_figure(session, result),
        zoom: _zoom_files(session, result, viewer.center),
    }
    note = f"refined, effort {effort}: {_versus_effort0(result, base)}"
    return _show(viewer, session, result, note) | details | {refine_status: summary}


@_plain_errors("zoom")
def zoom_at(viewer: Viewer, evt: gr.SelectData):
    """Click on the reconstruction: zoom the before/after crop to that point."""
    result, session = viewer.shown, viewer.session
    if result is None or session is None:
        return {zoom: gr.skip()}
    w, h = session.image.size
    viewer.center = (evt.index[0] / w, evt.index[1] / h)
    return {zoom: _zoom_files(session, result, viewer.center)}


def _baseline_status(session: ImageSession, running: str | None = None) -> str:
    names = [c["name"] for c in session.baseline_curves()]
    lines = [f"Classic codecs on this image: {', '.join(names) or 'none yet'}."]
    lines += [f"{get_codec(k).label} skipped a setting: {msg}" for k, msg in session.baseline_errors.items()]
    if running:
        lines.append(f"Now coding with {running}…")
    return "\n\n".join(lines)


@_plain_errors("classic_status")
def compare_with_classic(viewer: Viewer, progress=gr.Progress()):  # noqa: B008 (gradio injects a tracker)
    """Code this image with each classic codec over its sweep of settings (VVC last); the
    RD plot gains each codec's curve as it is done."""
    session = viewer.session
    if session is None:
        raise gr.Error("Upload an image first.")
    with viewer.lock:
        if viewer.comparing:
            return
        viewer.comparing = True
    try:
        yield from _run_classic(viewer, session, progress)
    finally:
        viewer.comparing = False


def _run_classic(viewer: Viewer, session: ImageSession, progress: gr.Progress):
    jobs = [(name, q) for name, qualities in BASELINE_SWEEPS.items() for q in qualities]
    done = {c["key"] for c in session.baseline_curves()} | set(session.baseline_errors)
    for i, (name, quality) in enumerate(jobs):
        if name in done:
            continue
        label = get_codec(name).label
        progress(i / len(jobs), desc=f"{label}, setting {quality}")
        try:
            session.measure_classic(name, quality)
        except BaselineError as e:
            session.baseline_errors[name] = str(e).splitlines()[0]
        if i + 1 == len(jobs) or jobs[i + 1][0] != name:
            following = get_codec(jobs[i + 1][0]).label if i + 1 < len(jobs) else None
            yield {rd_plot: _rd_figure(session, viewer.shown), classic_status: _baseline_status(session, following)}
    yield {rd_plot: _rd_figure(session, viewer.shown), classic_status: _baseline_status(session)}


@_plain_errors("timer")
def refresh_rd_plot(viewer: Viewer):
    """Timer: redraw the RD plot when the background grid added points."""
    session = viewer.session
    if session is None:
        return {timer: gr.Timer(active=False)}
    out = {timer: gr.skip() if session.busy else gr.Timer(active=False)}
    if session.version != viewer.plotted and viewer.complete is not None:
        viewer.plotted = session.version
        out[rd_plot] = _rd_figure(session, viewer.shown)
    return out


@_plain_errors("versus_text")
def compare_at_matched_bpp(viewer: Viewer, codec_name: str, progress=gr.Progress()):  # noqa: B008 (gradio injects a tracker)
    """The chosen classic codec at the bpp of the shown MSINN result, side by side."""
    result, session = viewer.shown, viewer.session
    if result is None or session is None:
        raise gr.Error("Upload an image first.")
    label = get_codec(codec_name).label
    tries = []

    def on_try(quality: int) -> None:
        tries.append(quality)
        progress(min(len(tries) / 8, 0.95), desc=f"{label}: setting {quality} (try {len(tries)})")

    try:
        other = session.matched(codec_name, result.bpp, on_try=on_try)
    except BaselineError as e:
        raise gr.Error(str(e).splitlines()[0]) from None
    path = FILES.ensure(session.id, f"versus-{codec_name}-q{other.quality}.png", lambda p: save_png(other.image, p))
    text = (
        f"◀ **{label}**: {other.bpp:.4f} bpp, {other.psnr:.2f} dB, MS-SSIM {other.ms_ssim:.4f} (setting {other.quality})"
        f" · **MSINN** ▶: {result.bpp:.4f} bpp, {result.psnr:.2f} dB, MS-SSIM {result.ms_ssim:.4f} (rate {result.rate:.2f})"
    )
    if not other.reached:
        text += f"\n\n{label} cannot reach {result.bpp:.3f} bpp on this image: its nearest setting is shown."
    yield {versus: (str(path), str(session.files(result)[1])), versus_text: text}


@_plain_errors("api_stats")
def compress(image: Image.Image | None, rate: float, request: gr.Request) -> tuple[Image.Image, dict[str, float]]:
    """Public API ``/compress``: code ``image`` at ``rate`` with the loaded model.

    The image goes through the library's rule (msinn.image.to_rgb) and the demo's size limit
    (msinn.session.limit_size: downscaled above 2048 px per side or 2 MP). Returns the
    reconstruction (PNG, bit-identical to what ``Codec.decompress`` gives for the file) and
    its stats: rate (as stored in the file), bpp (8 × file bytes / pixels), PSNR (dB) and
    MS-SSIM against the coded input, bytes. Each call is a job of its client in the fair
    scheduler, like a browser tab's.
    """
    if image is None:
        raise gr.Error("No image given.")
    owner = f"api-{request.session_hash}" if request is not None and request.session_hash else None
    result = ImageSession(SESSION_CODEC, image, owner=owner, reuse_analysis=not ZERO_GPU).encode(rate)
    return result.image, result.stats()


def _tab_closed(request: gr.Request) -> None:
    """A tab went away: stop its work and delete its files."""
    viewer = VIEWERS.pop(request.session_hash, None) if request is not None else None
    if viewer is not None:
        viewer.close()


def _forget_viewer(viewer: Viewer | None) -> None:
    """gr.State's clean-up (an hour after a tab closed, if the unload event was missed)."""
    if isinstance(viewer, Viewer):
        viewer.close()
        for key in [k for k, v in VIEWERS.items() if v is viewer]:
            VIEWERS.pop(key, None)


# Layout ----------------------------------------------------------------------------------

with gr.Blocks(title="MSINN image compression", delete_cache=(600, 3600)) as demo:
    viewer_state = gr.State(Viewer(), delete_callback=_forget_viewer)  # each tab gets its own copy
    timer = gr.Timer(3.0, active=False)

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
                        type="filepath", format="png", label="Reconstruction (click to zoom there)", interactive=False
                    )
                with gr.Tab("Before / after"):
                    before_after = gr.ImageSlider(
                        type="filepath", format="png", label="Input ◀ ▶ reconstruction", interactive=False
                    )
                with gr.Tab("Zoom ×4"):
                    zoom = gr.ImageSlider(
                        type="filepath", format="png", label="128-px crop: input ◀ ▶ reconstruction", interactive=False
                    )
            rate_slider = gr.Slider(RATE_MIN, RATE_MAX, value=DEFAULT_RATE, step=RATE_STEP, label="Rate",
                                    info="Higher rate: larger file, better quality", elem_id="rate")  # fmt: skip
            with gr.Row():
                target_bpp = gr.Number(0.5, label="Target bpp", minimum=0.001, scale=2)
                find_button = gr.Button("Find the rate for this bpp", scale=1)
            readouts = gr.Markdown(elem_id="readouts")
            with gr.Row():
                download_msn = gr.DownloadButton("Download .msn file", interactive=False, elem_id="download-msn")
                download_png = gr.DownloadButton("Download decoded PNG", interactive=False, elem_id="download-png")
            with gr.Row(equal_height=True):
                effort_choice = gr.Radio([(f"{e} ({EFFORTS[e][0]} search steps)", e) for e in EFFORTS if e], value=1,
                                         label="Encoder effort", elem_id="effort", scale=2)  # fmt: skip
                refine_button = gr.Button("Refine this rate", scale=1, elem_id="refine")
            refine_status = gr.Markdown(REFINE_HINT, min_height=56, elem_id="refine-status")
    with gr.Tabs():
        with gr.Tab("Rate–distortion"):
            rd_plot = gr.Plot(format="png", label="PSNR against bpp", elem_id="rd-plot")
            with gr.Row():
                classic_button = gr.Button("Compare with classic codecs", scale=1)
                classic_status = gr.Markdown()
        with gr.Tab("Latents y1…y5"):
            latents = gr.Gallery(label="RMS over channels of the coded symbols (finest y1 to coarsest y5)", columns=5)
        with gr.Tab("Bit allocation", elem_id="bit-allocation"):
            heatmaps = gr.Plot(
                format="png", label="Estimated bits per pixel, per latent and in total", elem_id="heatmaps"
            )
        with gr.Tab("MSINN vs a classic codec"):
            with gr.Row():
                codec_choice = gr.Dropdown(
                    [(get_codec(k).label, k) for k in CODECS], value="webp", label="Classic codec", scale=2
                )
                versus_button = gr.Button("Code it at MSINN's bpp", scale=1)
            versus = gr.ImageSlider(type="filepath", format="png", label="Classic codec ◀ ▶ MSINN", interactive=False)
            versus_text = gr.Markdown()
    with gr.Accordion("API: /compress", open=False):
        gr.Markdown(API_DOC)
        with gr.Row():
            api_image = gr.Image(type="pil", image_mode=None, sources=["upload", "clipboard"], label="Image")
            with gr.Column():
                api_rate = gr.Slider(RATE_MIN, RATE_MAX, value=DEFAULT_RATE, step=RATE_STEP, label="API rate")
                api_button = gr.Button("Compress")
                api_stats = gr.JSON(label="Stats")
            api_reconstruction = gr.Image(type="pil", format="png", label="Reconstruction", interactive=False)

    # Wiring ------------------------------------------------------------------------------

    for upload in (image_input, api_image):
        upload.preprocess = _readable_upload_errors(upload.preprocess)
    api_rate.preprocess = _readable_rate_errors(api_rate.preprocess)
    view = [reconstruction, before_after, readouts, download_msn, download_png]
    details = [latents, heatmaps, rd_plot, zoom]
    # Handlers wait on the scheduler, not on gradio's queue: no concurrency limits here.
    private = {"api_visibility": "private", "concurrency_limit": None}
    # Rate events take the slider's raw value: clearing the number box to type sends an empty
    # one, which the handlers ignore (gradio's own range check would fail on it).
    raw = private | {"preprocess": False}
    image_input.change(load_image, [image_input, viewer_state, rate_slider],
                       [notice, timer, classic_status, refine_status, *view, *details], **private)  # fmt: skip
    # No .release: it also fires when the number box merely loses focus, and the event re-renders
    # the download buttons just as the click that blurred the box lands on one. Every new value
    # fires .change, which settles within SETTLE_S of the mouse-up.
    rate_slider.input(preview_rate, [viewer_state, rate_slider], view, show_progress="hidden",
                      trigger_mode="always_last", **raw)  # fmt: skip
    rate_slider.change(settle_rate, [viewer_state, rate_slider], [rate_slider, *view, *details],
                       show_progress="minimal", show_progress_on=readouts, trigger_mode="always_last",
                       **raw)  # fmt: skip
    gr.on([find_button.click, target_bpp.submit], find_rate_for_bpp, [viewer_state, target_bpp],
          [rate_slider, *view, *details], **raw)  # fmt: skip
    # "multiple": a click at another rate or effort while one refines starts at once (and stops
    # the older one); the progress goes on the status line, so the view stays live for the slider.
    refine_button.click(refine_rate, [viewer_state, rate_slider, effort_choice], [refine_status, *view, *details],
                        show_progress_on=refine_status, trigger_mode="multiple", **raw)  # fmt: skip
    reconstruction.select(zoom_at, viewer_state, zoom, **private)
    classic_button.click(compare_with_classic, viewer_state, [rd_plot, classic_status], **private)
    timer.tick(refresh_rd_plot, viewer_state, [rd_plot, timer], show_progress="hidden", **private)
    versus_button.click(compare_at_matched_bpp, [viewer_state, codec_choice], [versus, versus_text], **private)
    api_button.click(compress, [api_image, api_rate], [api_reconstruction, api_stats], api_name="compress",
                     concurrency_limit=None)  # fmt: skip
    demo.unload(_tab_closed)

demo.queue(max_size=64, default_concurrency_limit=None)

if __name__ == "__main__":
    demo.launch(max_file_size="50mb")
