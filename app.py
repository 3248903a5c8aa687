"""MSINN demo app: one learned codec, one continuous rate slider (the Space's entry point).

    python app.py            # http://127.0.0.1:7860

The environment chooses the weights, threads, workers and file cap (``msinn_app/host.py``);
the page and its behaviour are ``msinn_app`` (``docs/ARCHITECTURE.md`` draws it). This file
only builds the one demo of this process: the codec, the lanes (closed at exit, so no thread
is inside torch then), the file store and the page.

API: ``/compress`` (the only public endpoint) takes (image, rate) and returns (the
reconstruction as PNG, stats {rate, bpp, psnr, ms_ssim, bytes}):

    from gradio_client import Client, handle_file
    client = Client("http://127.0.0.1:7860/")
    png_path, stats = client.predict(handle_file("photo.png"), 5.5, api_name="/compress")
"""

from __future__ import annotations

import atexit

import matplotlib

from msinn_app import FileStore, Serving, build_demo
from msinn_app.host import Host

matplotlib.use("Agg")

host = Host.from_env()
codec = host.load()
serving = Serving.create(model_workers=host.workers)
atexit.register(serving.close)
files = FileStore(host.files_root, host.files_bytes)
atexit.register(files.clear)
demo, handlers = build_demo(host.session_codec(codec), serving, files, name=codec.name, hardware=host.hardware)

if __name__ == "__main__":
    demo.launch(max_file_size="50mb")
