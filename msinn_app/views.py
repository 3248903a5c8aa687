"""What the demo draws for a result, as gradio updates {component: value}: the view
(reconstruction, before/after, readouts, downloads) and the details (latents, bit heatmaps,
RD plot, zoom). No state changes here: handlers decide what to show, and the tab records it."""

from __future__ import annotations

from pathlib import Path

import gradio as gr
from matplotlib.figure import Figure
from PIL import Image

from msinn import Measured, plots
from msinn.metrics import kodak_references, measured_kodak

from . import text
from .layout import Components
from .session import ImageSession, result_name

ZOOM_CROP, ZOOM_FACTOR = 128, 4  # zoom view: a 128-px square shown 4× larger
DASHED = {"linestyle": "--", "linewidth": 1.2, "markersize": 3}  # Kodak averages
# Refined points of this image: MSINN's colour, unjoined, each effort's marker.
REFINED = {"linestyle": "none", "markersize": 8, "markeredgecolor": "black"}
THIS_IMAGE, KODAK = "This image (solid lines)", "Kodak average, 24 photos (dashed)"  # the legend's headings
ALWAYS = ("msinn", "vvc", "hevc", "msinn-vrlic")  # Kodak averages drawn whatever this image has


def kodak_averages(model: str) -> dict[str, dict]:
    """The Kodak average drawn (dashed) beside each codec family of the RD plot: MSINN's is ours,
    of the loaded ``model``; a classic codec's the field's published curve, or ours measured
    with the same codec where none is published (JPEG XL); the paper's. A family whose
    average is not measured has none."""
    refs = kodak_references()
    named = {
        "msinn": (measured_kodak(model), f"MSINN {model.removeprefix('msinn-')} (ours)"),
        "vvc": (refs["vtm"], "VVC: VTM reference, 4:4:4 (published)"),
        "hevc": (refs["bpg"], "HEVC: BPG, 4:4:4 (published)"),
        "av1": (refs["av1"], "AV1: libaom, 4:4:4 (published)"),
        "jxl": (measured_kodak("jxl"), "JPEG XL: libjxl (ours)"),
        "webp": (refs["webp"], "WebP (published)"),
        "jpeg2000": (refs["jpeg2000"], "JPEG 2000 (published)"),
        "jpeg": (refs["jpeg"], "JPEG (published)"),
        "msinn-vrlic": (refs["msinn-vrlic"], "MSINN-VRLIC, the paper (published)"),
    }
    return {family: plots.compressai_curve(doc, name, **DASHED) for family, (doc, name) in named.items() if doc}


def save_figure(figure: Figure, path: Path) -> None:
    figure.savefig(path, format="png")


class Views:
    def __init__(self, c: Components, model: str):
        self.c, self.model = c, model
        self.averages = kodak_averages(model)

    def show(self, session: ImageSession, result: Measured, note: str = "exact") -> dict:
        """The view of ``result``: reconstruction, before/after, readouts and both downloads,
        all of this one result (its files carry its rate, and effort if refined)."""
        c, (msn, png) = self.c, session.files(result)
        return {
            c.reconstruction: str(png),
            c.before_after: (str(session.input_png()), str(png)),
            c.readouts: text.readouts(result, note),
            c.download_msn: gr.DownloadButton(
                f"Download .msn ({text.what(result)}, {len(result.data):,} B)", value=str(msn), interactive=True
            ),
            c.download_png: gr.DownloadButton(f"Download decoded PNG ({text.what(result)})", value=str(png), interactive=True),
        }

    def details(self, session: ImageSession, result: Measured, center: tuple[float, float]) -> dict:
        """Latents and heatmaps (when the result kept its bits), RD plot and zoom."""
        c, bits = self.c, bool(result.encoded.bits)
        return {
            c.latents: self.latents(session, result) if bits else None,
            c.heatmaps: self.heatmaps(session, result) if bits else None,
            c.rd_plot: self.rd_plot(session, result),
            c.zoom: self.zoom(session, result, center),
        }

    def cleared(self) -> dict:
        c = self.c
        return {
            c.notice: "",
            c.reconstruction: None,
            c.before_after: None,
            c.readouts: "",
            c.download_msn: gr.DownloadButton("Download .msn file", value=None, interactive=False),
            c.download_png: gr.DownloadButton("Download decoded PNG", value=None, interactive=False),
            c.latents: None,
            c.heatmaps: None,
            c.rd_plot: None,
            c.zoom: None,
            c.classic_status: "",
            c.refine_status: text.REFINE_HINT,
            c.timer: gr.Timer(active=False),
        }

    def zoom(self, session: ImageSession, result: Measured, center: tuple[float, float]) -> tuple[str, str]:
        """The same square of input and reconstruction around ``center``, enlarged, as files."""
        w, h = session.image.size
        side = min(ZOOM_CROP, w, h)
        left = min(max(round(center[0] * w) - side // 2, 0), w - side)
        top = min(max(round(center[1] * h) - side // 2, 0), h - side)
        box, size = (left, top, left + side, top + side), (side * ZOOM_FACTOR, side * ZOOM_FACTOR)
        paths = []
        for label, im in (("input", session.image), (result_name(result), result.image)):
            crop = im.crop(box).resize(size, Image.Resampling.NEAREST)
            paths.append(str(session.store.ensure_png(session.id, f"zoom-{label}-{left}-{top}.png", crop)))
        return paths[0], paths[1]

    def latents(self, session: ImageSession, result: Measured) -> list[tuple[str, str]]:
        """The latent pictures of ``result`` as files, with their captions."""
        pictures = zip(plots.SCALES, plots.latent_images(result.encoded), strict=True)
        return [
            (str(session.store.ensure_png(session.id, f"latent-{name}-{result_name(result)}.png", picture)), caption)
            for name, (picture, caption) in pictures
        ]

    def image(self, image: gr.Image, session: ImageSession, result: Measured) -> str | None:
        """What the page's ``image`` (reconstruction, RD plot or heatmaps) shows of ``result``."""
        c = self.c
        if image is c.reconstruction:
            return str(session.files(result)[1])
        if image is c.rd_plot:
            return self.rd_plot(session, result)
        return self.heatmaps(session, result) if result.encoded.bits else None

    def heatmaps(self, session: ImageSession, result: Measured) -> str:
        """The bit heatmaps of ``result`` as a file (drawn once per result)."""
        draw = lambda path: save_figure(plots.bit_heatmaps(result.encoded), path)  # noqa: E731
        return str(session.store.ensure(session.id, f"heatmaps-{result_name(result)}.png", draw))

    def rd_plot(self, session: ImageSession, current: Measured | None) -> str:
        """The RD plot as a file, named by the session's version (read before the curves, so a
        file holds at least that version's points) and the highlighted result."""
        name = f"rd-{session.version}-{result_name(current) if current else 'none'}.png"
        draw = lambda path: save_figure(self.rd_figure(session, current), path)  # noqa: E731
        return str(session.store.ensure(session.id, name, draw))

    def rd_figure(self, session: ImageSession, current: Measured | None) -> Figure:
        """This image's curves (solid: MSINN, refined points, classic codecs coded on it) and
        the Kodak averages (dashed) of MSINN, VVC, HEVC, the paper and of every other family
        drawn for this image, so that each solid curve has its dashed counterpart."""
        w, h = session.image.size
        classic = [c | {"style": plots.CODEC_STYLES[c["key"]] | {"linewidth": 1.2}} for c in session.classic.curves()]
        refined = [
            {"name": f"MSINN refined, effort {effort}", "style": REFINED | {"marker": plots.EFFORT_STYLES[effort]["marker"]},
             "bpp": [r.bpp for r in rs], "psnr": [r.psnr for r in rs]}
            for effort, rs in session.refined_by_effort().items()
        ]  # fmt: skip
        results = session.cache.results()
        mine = {"name": f"MSINN {self.model.removeprefix('msinn-')} (ours)", "bpp": [r.bpp for r in results],
                "psnr": [r.psnr for r in results]}  # fmt: skip
        drawn = {*ALWAYS, *(curve["key"] for curve in classic)}
        averages = [curve for family, curve in self.averages.items() if family in drawn]
        return plots.rd_plot(
            [{"name": THIS_IMAGE}, mine, *refined, *classic, {"name": KODAK}, *averages],
            current=(current.bpp, current.psnr) if current else None,
            title=f"This image ({w}×{h}) beside the Kodak averages",
        )
