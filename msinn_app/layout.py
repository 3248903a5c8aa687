"""The demo's page: every component, laid out, and returned by name. No behaviour here: the
handlers (``handlers.py``) wire the events.

Figures are shown as PNG files (``gr.Image``, like the reconstruction): drawn once per result
and view, and sent again cheaply when a tab opens (``Components.opened``)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import gradio as gr

from msinn.baselines import CODECS, get_codec
from msinn.refine import EFFORTS

from . import text


@dataclass(frozen=True)
class Settings:
    """What the page shows of the codec and host."""

    description: str
    rate_range: tuple[float, float]
    default_rate: float
    rate_step: float
    examples: list[Path]


@dataclass(frozen=True, eq=False)
class Components:
    tab: gr.State
    timer: gr.Timer
    image_input: gr.Image
    notice: gr.Markdown
    reconstruction: gr.Image
    before_after: gr.ImageSlider
    zoom: gr.ImageSlider
    rate_slider: gr.Slider
    target_bpp: gr.Number
    find_button: gr.Button
    readouts: gr.Markdown
    download_msn: gr.DownloadButton
    download_png: gr.DownloadButton
    effort_choice: gr.Radio
    refine_button: gr.Button
    refine_status: gr.Markdown
    rd_plot: gr.Image
    classic_button: gr.Button
    classic_status: gr.Markdown
    latents: gr.Gallery
    heatmaps: gr.Image
    codec_choice: gr.Dropdown
    versus_button: gr.Button
    versus: gr.ImageSlider
    versus_text: gr.Markdown
    api_image: gr.Image
    api_rate: gr.Slider
    api_button: gr.Button
    api_stats: gr.JSON
    api_reconstruction: gr.Image
    reconstruction_tab: gr.Tab
    rd_tab: gr.Tab
    heatmaps_tab: gr.Tab

    @property
    def view(self) -> list:
        """What shows one result: changes together."""
        return [self.reconstruction, self.before_after, self.readouts, self.download_msn, self.download_png]

    @property
    def opened(self) -> list[tuple[gr.Tab, gr.Image]]:
        """Page tabs and the image each shows: gradio drops an image sent to a tab that is not
        open when the event that sent it ends, so opening one sends its image again."""
        return [(self.reconstruction_tab, self.reconstruction), (self.rd_tab, self.rd_plot),
                (self.heatmaps_tab, self.heatmaps)]  # fmt: skip

    @property
    def details(self) -> list:
        """Drawn once the exact result is decoded."""
        return [self.latents, self.heatmaps, self.rd_plot, self.zoom]


def build_layout(s: Settings, tab: gr.State) -> Components:
    """Lay out the page inside the current ``gr.Blocks``; ``tab`` is the per-tab state."""
    lo, hi = s.rate_range
    timer = gr.Timer(3.0, active=False)
    gr.Markdown(s.description)
    with gr.Row():
        with gr.Column(scale=1):
            image_input = gr.Image(
                type="pil", image_mode=None, sources=["upload", "clipboard"], label="Image", elem_id="image-input"
            )
            notice = gr.Markdown()
            gr.Examples([[str(p)] for p in s.examples], inputs=image_input, label=text.EXAMPLES_LABEL)
        with gr.Column(scale=2):
            with gr.Tabs():
                with gr.Tab("Reconstruction") as reconstruction_tab:
                    reconstruction = gr.Image(
                        type="filepath", format="png", label="Reconstruction (click to zoom there)", interactive=False,
                        elem_id="reconstruction",
                    )
                with gr.Tab("Before / after"):
                    before_after = gr.ImageSlider(
                        type="filepath", format="png", label="Input ◀ ▶ reconstruction", interactive=False,
                        elem_id="before-after",
                    )
                with gr.Tab("Zoom ×4"):
                    zoom = gr.ImageSlider(
                        type="filepath", format="png", label="128-px crop: input ◀ ▶ reconstruction", interactive=False,
                        elem_id="zoom",
                    )
            rate_slider = gr.Slider(lo, hi, value=s.default_rate, step=s.rate_step, label="Rate",
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
            refine_status = gr.Markdown(text.REFINE_HINT, min_height=56, elem_id="refine-status")
    with gr.Tabs():
        with gr.Tab("Rate–distortion") as rd_tab:
            rd_plot = gr.Image(type="filepath", format="png", label="PSNR against bpp", interactive=False,
                               elem_id="rd-plot")  # fmt: skip
            with gr.Row():
                classic_button = gr.Button("Compare with classic codecs", scale=1)
                classic_status = gr.Markdown(elem_id="classic-status")
        with gr.Tab("Latents y1…y5"):
            latents = gr.Gallery(label="RMS over channels of the coded symbols (finest y1 to coarsest y5)", columns=5,
                                 elem_id="latents")
        with gr.Tab("Bit allocation") as heatmaps_tab:
            heatmaps = gr.Image(type="filepath", format="png", label="Estimated bits per pixel, per latent and in total",
                                interactive=False, elem_id="heatmaps")  # fmt: skip
        with gr.Tab("MSINN vs a classic codec"):
            with gr.Row():
                codec_choice = gr.Dropdown(
                    [(get_codec(k).label, k) for k in CODECS], value="webp", label="Classic codec", scale=2
                )
                versus_button = gr.Button("Code it at MSINN's bpp", scale=1)
            versus = gr.ImageSlider(type="filepath", format="png", label="Classic codec ◀ ▶ MSINN", interactive=False)
            versus_text = gr.Markdown()
    with gr.Accordion("API: /compress", open=False):
        gr.Markdown(text.API_DOC)
        with gr.Row():
            api_image = gr.Image(type="pil", image_mode=None, sources=["upload", "clipboard"], label="Image")
            with gr.Column():
                api_rate = gr.Slider(lo, hi, value=s.default_rate, step=s.rate_step, label="API rate")
                api_button = gr.Button("Compress")
                api_stats = gr.JSON(label="Stats")
            api_reconstruction = gr.Image(type="pil", format="png", label="Reconstruction", interactive=False)
    return Components(
        tab=tab, timer=timer, image_input=image_input, notice=notice, reconstruction=reconstruction,
        before_after=before_after, zoom=zoom, rate_slider=rate_slider, target_bpp=target_bpp,
        find_button=find_button, readouts=readouts, download_msn=download_msn, download_png=download_png,
        effort_choice=effort_choice, refine_button=refine_button, refine_status=refine_status,
        rd_plot=rd_plot, classic_button=classic_button, classic_status=classic_status, latents=latents,
        heatmaps=heatmaps, codec_choice=codec_choice, versus_button=versus_button, versus=versus,
        versus_text=versus_text, api_image=api_image, api_rate=api_rate, api_button=api_button,
        api_stats=api_stats, api_reconstruction=api_reconstruction, reconstruction_tab=reconstruction_tab,
        rd_tab=rd_tab, heatmaps_tab=heatmaps_tab,
    )
