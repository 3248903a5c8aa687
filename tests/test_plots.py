"""Figures drawn from a coding: bit maps that add up to the file, figures whose cost does not
grow with the image (thin images included), and an RD plot where every codec has its own
colour and marker."""

from __future__ import annotations

import io
import time

import pytest
from PIL import Image

import msinn
from msinn import plots


@pytest.fixture(scope="module")
def codec() -> msinn.Codec:
    """The shipped model: realistic bit maps, and fast (the random tiny model codes slowly)."""
    return msinn.load(device="cpu")


@pytest.mark.parametrize("rate", [2.0, 9.0])
def test_bit_maps_account_for_the_file_but_its_fixed_overhead(codec, small_image, rate):
    enc = codec.analyse(small_image.crop((0, 0, 160, 96)), rate)
    maps = plots.bpp_maps(enc)
    assert maps["all"].shape == (48, 80)  # one value per 2×2 pixels
    estimated_bits = maps["all"].mean() * 160 * 96
    assert 0 < 8 * len(enc.data) - estimated_bits < 8 * 120  # header, stream ends: ~80 bytes


@pytest.mark.parametrize("size", [(1, 1), (3, 2000), (2000, 3), (160, 104)])
def test_figures_stay_small_for_any_image_shape(codec, small_image, size):
    enc = codec.analyse(small_image.resize(size, Image.Resampling.BOX), 2.0)
    start = time.perf_counter()
    fig = plots.bit_heatmaps(enc)
    w, h = fig.get_size_inches() * fig.dpi
    assert w <= 1500 and h <= 1500
    pictures = plots.latent_images(enc)
    assert all(max(p.size) <= plots.DISPLAY_SIDE for p, _ in pictures)
    fig.savefig(io.BytesIO(), format="png")
    assert time.perf_counter() - start < 20  # was 41 s for 3×2000 (a 400,000-px-tall figure)


def test_each_codec_in_the_rd_plot_has_its_own_colour_and_marker():
    names = ["MSINN (this image)", "MSINN-VRLIC, the paper", "VVC reference: VTM", "HEVC (x265)", "AV1 (libaom)",
             "JPEG XL (libjxl effort 7)", "WebP (method 6)", "JPEG 2000 (OpenJPEG)", "JPEG (libjpeg-turbo)",
             "InvCompress (published)"]  # fmt: skip
    fig = plots.rd_plot([{"name": n, "bpp": [0.1, 1.0], "psnr": [28.0, 36.0]} for n in names])
    lines = fig.axes[0].lines
    assert len({line.get_color() for line in lines}) == len(names)
    assert len({line.get_marker() for line in lines}) == len(names)
    msinn = lines[0]
    assert msinn.get_linewidth() > max(line.get_linewidth() for line in lines[1:])


def test_the_paper_and_jpeg2000_no_longer_share_a_colour_nor_jxl_and_msinn():
    style = plots.codec_style
    assert style("MSINN-VRLIC (published, 12 anchors)")["color"] != style("JPEG2000")["color"]
    assert style("JPEG XL (libjxl effort 7)")["color"] != style("MSINN lite (ours)")["color"]
