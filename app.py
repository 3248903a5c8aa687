"""MSINN demo app (placeholder until the full app lands): compress an image at a rate."""

from __future__ import annotations

import gradio as gr

import msinn

DESCRIPTION = "# MSINN — variable-rate learned image compression\nUpload an image and pick a rate index."

codec = msinn.load()


def compress(image, rate: float):
    if image is None:
        raise gr.Error("Upload an image first.")
    enc = codec.encode(image, rate)
    return enc.image, {"bpp": enc.bpp, "bytes": len(enc.data)}


with gr.Blocks(title="MSINN") as demo:
    gr.Markdown(DESCRIPTION)
    with gr.Row():
        inp = gr.Image(type="pil", label="Input")
        out = gr.Image(type="pil", format="png", label="Reconstruction")
    lo, hi = codec.rate_range
    rate = gr.Slider(lo, hi, value=(lo + hi) / 2, step=0.05, label="Rate index")
    stats = gr.JSON(label="Stats")
    gr.Button("Compress").click(compress, [inp, rate], [out, stats], api_name="compress")

if __name__ == "__main__":
    demo.launch()
