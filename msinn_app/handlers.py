"""The demo's behaviour: one handler per event, as methods of one object that holds the codec,
the components, the file store and the lanes. Every path that sets a rate ends at the exact
result for that rate:

- ``rate.input`` (dragging, keys, typing): the nearest cached result at once, no coding;
- ``rate.change`` (any new value, also one set by the app): the exact result once no newer
  value came for ``SETTLE_S`` (so a drag ends at the exact result just after the mouse-up);
- the target-bpp search, a new image or example, and the API code exactly too;
- the refine button codes the slider's rate at encoder effort 1 or 2 (a search of tens of
  seconds, on its own lane, its steps on the refine status line) and shows that file with
  what it saves against effort 0, if the view is still at that rate; the slider, grid and RD
  curve stay effort 0.

The exact result is the file coded at that rate: readouts, reconstruction and both downloads
come from it together; then the file is decoded (timed, checked bit-exact against the
encoder's image), and latents, bit heatmaps and the RD plot are drawn from the bits the coding
recorded. Handlers wait on the lanes, not on gradio's queue: no concurrency limits here.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import replace

import gradio as gr
from PIL import Image

from msinn import Measured
from msinn.baselines import get_codec
from msinn.refine import EFFORTS

from . import text
from .errors import plain_errors, readable_rate, readable_upload
from .files import FileStore
from .layout import Components
from .serving import Serving
from .session import ImageSession, SessionCodec
from .tab import Tab, TabRegistry
from .views import Views

SETTLE_S = 0.15  # a rate value that stays this long (mouse up, keys, typing) gets its exact result


def api_stats(result: Measured) -> dict[str, float]:
    """What ``/compress`` returns beside the image."""
    return {"rate": result.rate, "bpp": result.bpp, "psnr": result.psnr, "ms_ssim": result.ms_ssim, "bytes": len(result.data)}


class Handlers:
    def __init__(self, codec: SessionCodec, c: Components, tabs: TabRegistry, files: FileStore, serving: Serving,
                 rate_step: float):  # fmt: skip
        self.codec, self.c, self.tabs, self.files, self.serving = codec, c, tabs, files, serving
        self.rate_step = rate_step
        self.views = Views(c, codec.name)
        # Each handler with its errors made plain; the component named is the one a handler
        # that ends without an update leaves unchanged.
        self.load_image = plain_errors(c.readouts)(self._load_image)
        self.preview_rate = plain_errors(c.readouts)(self._preview_rate)
        self.settle_rate = plain_errors(c.readouts)(self._settle_rate)
        self.find_rate_for_bpp = plain_errors(c.readouts)(self._find_rate_for_bpp)
        self.refine_rate = plain_errors(c.refine_status)(self._refine_rate)
        self.zoom_at = plain_errors(c.zoom)(self._zoom_at)
        self.compare_with_classic = plain_errors(c.classic_status)(self._compare_with_classic)
        self.refresh_rd_plot = plain_errors(c.timer)(self._refresh_rd_plot)
        self.compare_at_matched_bpp = plain_errors(c.versus_text)(self._compare_at_matched_bpp)
        self.compress = plain_errors(c.api_stats)(self._compress)
        self.reopened = {image: plain_errors(image)(self._reopen(image)) for _, image in c.opened}

    def snap(self, rate) -> float:
        """A rate from a control, checked by the codec and put on the slider's grid."""
        return round(round(self.codec.check_rate(rate) / self.rate_step) * self.rate_step, 2)

    def new_session(self, image: Image.Image, owner: str, files: FileStore | None = None) -> ImageSession:
        return ImageSession(self.codec, image, self.serving, owner=owner, files=files)

    def tab_closed(self, request: gr.Request) -> None:
        """A tab went away: stop its work and delete its files."""
        self.tabs.closed(request.session_hash if request is not None else None)

    # The exact result ----------------------------------------------------------------------

    def _exact(self, tab: Tab, rate: float, note: str = "exact", extra: dict | None = None):
        """Make and show the exact result at ``rate`` (yields update dicts): code the file (a
        job; readouts, view and downloads from it), decode it (a job; timed, checked), then draw
        the details. Stops as soon as a newer rate or image is asked for (that request shows its
        own), and does nothing if this rate is being or has been delivered."""
        session = tab.claim(rate)
        if session is None:
            return
        try:
            coded = session.encode(rate, details=True, slot="view")
            if not tab.wants(rate, session):
                return
            tab.show(coded)
            yield (extra or {}) | self.views.show(session, coded, note)
            decoded = session.decode(rate, slot="view")
            result = replace(coded, decode_s=decoded.decode_s)  # the bits recorded by this coding
            version = session.version
            details = self.views.details(session, result, tab.center)
            if not tab.wants(rate, session):
                return
            tab.complete(rate, result, version)
            yield self.views.show(session, result, note) | details
        finally:
            tab.release(rate)

    # Handlers (one per event) --------------------------------------------------------------

    def _load_image(self, image: Image.Image | None, tab: Tab, rate: float, request: gr.Request,
                    progress=gr.Progress()):  # noqa: B008 (gradio injects a tracker)  # fmt: skip
        """New image (upload, paste, example) or none: analyse it and show the exact result at
        the slider's rate, then start the background grid of rates."""
        c = self.c
        self.tabs.register(tab, request.session_hash if request is not None else None)
        tab.close()
        if image is None:
            yield self.views.cleared()
            return
        rate = self.snap(rate)
        progress(0.1, desc="Analysing the image")
        session = self.new_session(image, tab.id, self.files)
        tab.open(session, rate)
        if session.notice:
            gr.Warning(session.notice)
        first = {c.notice: text.notice(session), c.timer: gr.Timer(active=True),
                 c.classic_status: "", c.refine_status: text.REFINE_HINT}  # fmt: skip
        progress(0.4, desc=f"Coding at rate {rate:.2f}")
        for n, update in enumerate(self._exact(tab, rate, extra=first)):
            yield update
            if n == 0:
                session.start_grid()
        if session.large and tab.session is session:  # not replaced meanwhile: say what it costs
            yield {c.notice: text.notice(session, session.cached(rate))}

    def _preview_rate(self, tab: Tab, rate: float | None):
        """While the rate moves: the cached result nearest to it, at once (no coding)."""
        if rate is None:
            return {self.c.readouts: gr.skip()}
        rate = self.snap(rate)
        tab.ask(rate)
        session = tab.session
        result = session and (session.cached(rate) or session.nearest(rate))
        if result is None or tab.exact == rate:
            return {self.c.readouts: gr.skip()}
        tab.show(result)
        exact = result.rate == self.codec.check_rate(rate)
        return self.views.show(session, result, "exact" if exact else text.preview_note(rate))

    def _settle_rate(self, tab: Tab, rate: float | None):
        """Any new rate (keys, typed, set by the app): its exact result once it stays put."""
        if rate is None:
            return
        value, rate = rate, self.snap(rate)
        tab.ask(rate)
        time.sleep(SETTLE_S)
        if tab.requested == rate:
            yield from self._exact(tab, rate, extra={self.c.rate_slider: rate} if value != rate else None)

    def _find_rate_for_bpp(self, tab: Tab, target: float | None, progress=gr.Progress()):  # noqa: B008
        """Search the rate whose real file is closest to ``target`` bpp, on the slider's grid;
        move the slider there and show it, saying so when the image cannot reach the target."""
        session = tab.session
        if session is None:
            raise gr.Error(text.NO_IMAGE)
        try:
            target = float(target)
        except (TypeError, ValueError):
            target = math.nan
        if not target > 0:
            raise gr.Error(text.NO_TARGET)
        tries = []

        def on_try(rate: float) -> None:
            tries.append(rate)
            progress(min(len(tries) / 8, 0.95), desc=f"Coding at rate {rate:.2f} (try {len(tries)})")

        result = session.rate_for_bpp(target, step=self.rate_step, on_try=on_try)
        lo, hi = (session.cached(r) for r in self.codec.rate_range)
        reach = (lo.bpp, hi.bpp) if lo and hi else None
        note = text.bpp_note(target, result, *self.codec.rate_range, reach, self.rate_step)
        rate = round(result.rate, 2)
        tab.ask_again(rate)
        yield from self._exact(tab, rate, note, extra={self.c.rate_slider: rate})

    def _refine_rate(self, tab: Tab, rate: float | None, effort: int | None, progress=gr.Progress()):  # noqa: B008
        """Refine button: the file at the slider's rate coded at encoder ``effort`` (the
        session's long job, its steps on the refine status line), with what it saves against
        effort 0. It is shown only if the view is still at that rate and image; otherwise the
        status says it is ready. A newer refine request of this tab, a new image or closing the
        tab stops it (not on ZeroGPU, where the search runs to its end in the GPU process)."""
        c, session = self.c, tab.session
        if session is None:
            raise gr.Error(text.NO_IMAGE)
        if rate is None:
            return {c.refine_status: gr.skip()}
        rate, efforts = self.snap(rate), [e for e in EFFORTS if e]
        if effort not in efforts:
            raise gr.Error(text.choose_effort(efforts))
        effort = int(effort)
        what = text.refining(rate, effort)
        progress(0.0, desc=f"Refining {what}: waiting for a free refine worker")
        result = session.refine(rate, effort, progress=lambda step, steps: progress((step, steps), desc=f"Refining {what}"))
        base = session.cached(rate)
        if tab.session is not session or base is None:
            return {c.refine_status: gr.skip()}
        summary = text.refined_summary(result, base, effort)
        if tab.requested != rate:
            return {c.refine_status: text.refined_elsewhere(summary, rate)}
        tab.complete(rate, result, session.version)  # the slider's events leave it shown
        note = f"refined, effort {effort}: {text.versus_effort0(result, base)}"
        return (self.views.show(session, result, note) | self.views.details(session, result, tab.center)
                | {c.refine_status: summary})  # fmt: skip

    def _zoom_at(self, tab: Tab, evt: gr.SelectData):
        """Click on the reconstruction: zoom the before/after crop to that point."""
        result, session = tab.shown, tab.session
        if result is None or session is None:
            return {self.c.zoom: gr.skip()}
        w, h = session.image.size
        tab.center = (evt.index[0] / w, evt.index[1] / h)
        return {self.c.zoom: self.views.zoom(session, result, tab.center)}

    def _reopen(self, image: gr.Image) -> Callable[[Tab], dict]:
        """The handler of opening the page tab that shows ``image`` (see ``Components.opened``):
        that image of the result on display, again. A preview leaves the details as they are."""

        def reopened(tab: Tab | None) -> dict:  # None while the page loads
            session, result = (tab.session, tab.shown) if tab is not None else (None, None)
            if session is None or result is None or (image is not self.c.reconstruction and tab.exact is None):
                return {image: gr.skip()}
            if image is self.c.rd_plot:
                tab.replot(session.version)
            return {image: self.views.image(image, session, result) or gr.skip()}

        return reopened

    def _compare_with_classic(self, tab: Tab, progress=gr.Progress()):  # noqa: B008 (gradio injects a tracker)
        """Code this image with each classic codec over its sweep of settings (VVC last); the
        RD plot gains each codec's curve as it is done."""
        session = tab.session
        if session is None:
            raise gr.Error(text.NO_IMAGE)
        if not tab.start_comparing():
            return
        try:
            yield from self._run_classic(tab, session, progress)
        finally:
            tab.stop_comparing()

    def _classic_status(self, session: ImageSession, running: str | None = None) -> str:
        classic = session.classic
        names = [curve["name"] for curve in classic.curves()]
        coding = [get_codec(k).label for k in classic.pending()] if session.busy else []
        return text.classic_status(names, {get_codec(k).label: m for k, m in classic.errors.items()}, running, coding)

    def _run_classic(self, tab: Tab, session: ImageSession, progress: gr.Progress):
        c = self.c
        jobs = [(name, quality) for name, quality in session.classic.sweep() if not session.classic.done(name, quality)]
        for i, (name, quality) in enumerate(jobs):
            progress(i / len(jobs), desc=f"{get_codec(name).label}, setting {quality}")
            session.classic.measure(name, quality)
            if i + 1 == len(jobs) or jobs[i + 1][0] != name:
                following = get_codec(jobs[i + 1][0]).label if i + 1 < len(jobs) else None
                yield {c.rd_plot: self.views.rd_plot(session, tab.shown),
                       c.classic_status: self._classic_status(session, following)}  # fmt: skip
        yield {c.rd_plot: self.views.rd_plot(session, tab.shown), c.classic_status: self._classic_status(session)}

    def _refresh_rd_plot(self, tab: Tab):
        """Timer: redraw the RD plot (and say which classic codecs are still coding) when the
        background grid or classic codings added points."""
        c, session = self.c, tab.session
        if session is None:
            return {c.timer: gr.Timer(active=False)}
        busy = session.busy
        out = {c.timer: gr.skip() if busy else gr.Timer(active=False), c.classic_status: self._classic_status(session)}
        if tab.replot(session.version):
            out[c.rd_plot] = self.views.rd_plot(session, tab.shown)
        return out

    def _compare_at_matched_bpp(self, tab: Tab, codec_name: str, progress=gr.Progress()):  # noqa: B008
        """The chosen classic codec at the bpp of the shown MSINN result, side by side."""
        result, session = tab.shown, tab.session
        if result is None or session is None:
            raise gr.Error(text.NO_IMAGE)
        label = get_codec(codec_name).label
        tries = []

        def on_try(quality: int) -> None:
            tries.append(quality)
            progress(min(len(tries) / 8, 0.95), desc=f"{label}: setting {quality} (try {len(tries)})")

        other = session.classic.matched(codec_name, result.bpp, on_try=on_try)
        path = self.files.ensure_png(session.id, f"versus-{codec_name}-q{other.quality}.png", other.image)
        yield {self.c.versus: (str(path), str(session.files(result)[1])), self.c.versus_text: text.versus(label, other, result)}

    def _compress(self, image: Image.Image | None, rate: float, request: gr.Request) -> tuple[Image.Image, dict]:
        """Public API ``/compress``: code ``image`` at ``rate`` with the loaded model.

        The image goes through the library's rule (msinn.image.to_rgb) and the demo's size
        limit (downscaled above 2048 px per side or 2 MP). Returns the reconstruction (PNG,
        bit-identical to what ``Codec.decompress`` gives for the file) and its stats: rate (as
        stored in the file), bpp (8 × file bytes / pixels), PSNR (dB) and MS-SSIM against the
        coded input, bytes. Each call is a job of its client on the model lane, like a tab's."""
        if image is None:
            raise gr.Error(text.NO_API_IMAGE)
        owner = f"api-{request.session_hash}" if request is not None and request.session_hash else None
        result = self.new_session(image, owner).encode(rate)
        return result.image, api_stats(result)

    # Wiring --------------------------------------------------------------------------------

    def wire(self, demo: gr.Blocks) -> None:
        """Connect every event of the page to its handler (inside ``demo``'s context)."""
        c, tab, view, details = self.c, self.c.tab, self.c.view, self.c.details
        for upload in (c.image_input, c.api_image):
            readable_upload(upload)
        readable_rate(c.api_rate, self.codec.check_rate)
        private = {"api_visibility": "private", "concurrency_limit": None}
        # Rate events take the slider's raw value: clearing the number box to type sends an
        # empty one, which the handlers ignore (gradio's own range check would fail on it).
        raw = private | {"preprocess": False}
        c.image_input.change(self.load_image, [c.image_input, tab, c.rate_slider],
                             [c.notice, c.timer, c.classic_status, c.refine_status, *view, *details], **private)  # fmt: skip
        # No .release: it also fires when the number box merely loses focus, and the event
        # re-renders the download buttons just as the click that blurred the box lands on one.
        # Every new value fires .change, which settles within SETTLE_S of the mouse-up.
        c.rate_slider.input(self.preview_rate, [tab, c.rate_slider], view, show_progress="hidden",
                            trigger_mode="always_last", **raw)  # fmt: skip
        c.rate_slider.change(self.settle_rate, [tab, c.rate_slider], [c.rate_slider, *view, *details],
                             show_progress="minimal", show_progress_on=c.readouts, trigger_mode="always_last",
                             **raw)  # fmt: skip
        gr.on([c.find_button.click, c.target_bpp.submit], self.find_rate_for_bpp, [tab, c.target_bpp],
              [c.rate_slider, *view, *details], **raw)  # fmt: skip
        # "multiple": a click at another rate or effort while one refines starts at once (and
        # stops the older one); the progress goes on the status line, so the view stays live.
        c.refine_button.click(self.refine_rate, [tab, c.rate_slider, c.effort_choice],
                              [c.refine_status, *view, *details], show_progress_on=c.refine_status,
                              trigger_mode="multiple", **raw)  # fmt: skip
        c.reconstruction.select(self.zoom_at, tab, c.zoom, **private)
        for page_tab, image in c.opened:
            page_tab.select(self.reopened[image], tab, image, show_progress="hidden", **private)
        c.classic_button.click(self.compare_with_classic, tab, [c.rd_plot, c.classic_status], **private)
        c.timer.tick(self.refresh_rd_plot, tab, [c.rd_plot, c.classic_status, c.timer], show_progress="hidden",
                     **private)  # fmt: skip
        c.versus_button.click(self.compare_at_matched_bpp, [tab, c.codec_choice], [c.versus, c.versus_text], **private)
        c.api_button.click(self.compress, [c.api_image, c.api_rate], [c.api_reconstruction, c.api_stats],
                           api_name="compress", concurrency_limit=None)  # fmt: skip
        demo.unload(self.tab_closed)
