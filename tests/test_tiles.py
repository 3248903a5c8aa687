"""Large images are coded tile by tile with the result of the whole image: the same values up
to float64 rounding (a GEMM may add in another order on a narrower tile), hence the same
files and pixels (msinn/tiles.py)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import REPO
from PIL import Image

import msinn
from msinn.conv import Conv2d
from msinn.inn import squeeze
from msinn.postfilter import PostFilter
from msinn.tiles import TILE, grid, map_tiles

PHOTO = REPO / "assets" / "examples" / "kodim04.png"  # 512×768


def _stack(channels: int, layers: int) -> torch.nn.Sequential:
    torch.manual_seed(0)
    mods = []
    for _ in range(layers):
        mods += [Conv2d(channels, channels, 3, padding=1), torch.nn.GELU()]  # the codec's float64 convolution
    return torch.nn.Sequential(*mods).double()


@pytest.mark.parametrize("size", [(37, 53), (64, 96), (129, 31)])
def test_tiles_with_a_halo_of_the_receptive_radius_give_the_whole_image_result(size):
    stack, x = _stack(4, 3), torch.randn(1, 4, *size, dtype=torch.float64)
    with torch.no_grad():
        whole = stack(x)
        assert len(grid(*size, 200)) > 4
        assert (map_tiles(stack, [x], 3, tile=200) - whole).abs().max() < 1e-15
        assert (map_tiles(stack, [x], 2, tile=200) - whole).abs().max() > 1e-6  # a halo too small shows


def test_tiles_of_a_stage_that_changes_resolution_and_takes_several_inputs():
    stack, x = _stack(16, 2), torch.randn(1, 4, 96, 128, dtype=torch.float64)
    coarse = torch.randn(1, 16, 48, 64, dtype=torch.float64)

    def stage(x: torch.Tensor, c: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = stack(squeeze(x) + c)
        return h, h[:, :3].repeat_interleave(4, -1).repeat_interleave(4, -2)  # ½ and 2× the input

    with torch.no_grad():
        whole = stage(x, coarse)
        tiled = map_tiles(stage, [x, coarse], halo=4, tile=700, align=2)
    assert [t.shape for t in tiled] == [w.shape for w in whole]
    assert all((t - w).abs().max() < 1e-14 for t, w in zip(tiled, whole, strict=True))


@pytest.mark.parametrize("size", [(96, 128), (132, 68)])
def test_the_post_filter_over_tiles_is_the_whole_image_filter(size):
    """Every sweep of the tiled filter (the means, and e1 recomputed from x) against the whole
    image, with random weights everywhere (the tail too, which training leaves non-zero)."""
    torch.manual_seed(1)
    post = PostFilter(4).double()
    for p in post.parameters():
        p.data.normal_(0, 0.3)
    x = torch.rand(1, 3, *size, dtype=torch.float64)
    with torch.no_grad():
        whole, tiled = post(x), post(x, tile=256)  # tiles of 4·256 pixels: 12+ per sweep
    scale = whole.abs().max()
    assert (tiled - whole).abs().max() < 1e-14 * scale and (whole - x).abs().max() > 0.1


@pytest.fixture(scope="module")
def codec() -> msinn.Codec:
    return msinn.load(device="cpu")


@pytest.mark.parametrize("rate", [0.0, 5.5, 11.0])
def test_tiled_coding_writes_the_files_and_pixels_of_whole_image_coding(codec, rate):
    """Every stage in 20+ tiles (post-filter sweeps included) against no tiling at all."""
    image = Image.open(PHOTO)
    results = {}
    for tile in (None, 8192):
        codec.model.tile = codec.float_model.tile = tile
        try:
            enc = codec.encode(image, rate)
            results[tile] = enc.data, np.asarray(enc.image), np.asarray(codec.decompress(enc.data))
        finally:
            codec.model.tile = codec.float_model.tile = TILE
    (whole_file, whole_enc, whole_dec), (tiled_file, tiled_enc, tiled_dec) = results.values()
    assert tiled_file == whole_file
    assert np.array_equal(tiled_dec, tiled_enc) and np.array_equal(tiled_dec, whole_dec)
