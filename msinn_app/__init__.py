"""The MSINN demo (gradio), apart from the codec library ``msinn``.

    demo, handlers = build_demo(codec, serving, files)   # a gr.Blocks and its handlers

``app.py`` reads the host (``host.py``), creates the lanes (``serving.py``) and the file
store (``files.py``) once per process, and builds the demo; a test builds one on any model.
Layers, each importing only those below it: scheduler, files, serving → results, classic →
session → tab, text → errors, layout → views → handlers → this module.
"""

from __future__ import annotations

from pathlib import Path

import gradio as gr

from .files import FileStore
from .handlers import Handlers
from .layout import Settings, build_layout
from .serving import Serving
from .session import SessionCodec
from .tab import Tab, TabRegistry
from .text import description

__all__ = ["FileStore", "Handlers", "Serving", "build_demo"]

RATE_STEP = 0.05  # the slider's step: every rate the UI codes and shows is a multiple of it
EXAMPLES = sorted((Path(__file__).resolve().parent.parent / "assets" / "examples").glob("*.png"))


def build_demo(
    codec: SessionCodec, serving: Serving, files: FileStore, name: str = "msinn", hardware: str = "CPU"
) -> tuple[gr.Blocks, Handlers]:
    """The demo page for ``codec`` (shown as ``name`` on ``hardware``), coding on ``serving``'s
    lanes and serving its files from ``files`` (registered as gradio static files)."""
    lo, hi = codec.rate_range
    settings = Settings(
        description=description(codec.rate_range, name, hardware),
        rate_range=codec.rate_range,
        default_rate=round(2 * (lo + (hi - lo) / 3)) / 2,  # a third up, on the grid
        rate_step=RATE_STEP,
        examples=EXAMPLES,
    )
    files.root.mkdir(parents=True, exist_ok=True)
    gr.set_static_paths([files.root])
    with gr.Blocks(title="MSINN image compression", delete_cache=(600, 3600)) as demo:
        tabs = TabRegistry()
        state = gr.State(None, delete_callback=tabs.forget)
        # Each browser tab gets its own Tab as the page loads (a private event: not an API).
        demo.load(Tab, None, state, api_visibility="private", show_progress="hidden")
        handlers = Handlers(codec, build_layout(settings, state), tabs, files, serving, RATE_STEP)
        handlers.wire(demo)
    demo.queue(max_size=64, default_concurrency_limit=None)
    return demo, handlers
