"""The float64 convolution of real coding (msinn/conv.py) computes what ``F.conv2d`` does,
masked kernels included, where only the mask's taps are multiplied, and so does the
checkerboard context that runs on one colour's sublattices."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from msinn.config import CONFIGS
from msinn.conv import checkerboard_conv, colour_sublattices, conv2d
from msinn.entropy import LatentEntropyModel, MaskedConv2d, checkerboard


@pytest.mark.parametrize("k", [1, 3, 5])
@pytest.mark.parametrize("bias", [True, False])
def test_float64_conv_matches_torch(k, bias):
    torch.manual_seed(k)
    x = torch.randn(2, 5, 37, 70, dtype=torch.float64)  # a batch of 2, odd sizes
    w = torch.randn(7, 5, k, k, dtype=torch.float64)
    b = torch.randn(7, dtype=torch.float64) if bias else None
    torch.testing.assert_close(conv2d(x, w, b, k // 2), F.conv2d(x, w, b, padding=k // 2), rtol=0, atol=1e-12)


@pytest.mark.parametrize("kind", ["A", "B"])
def test_masked_conv_multiplies_only_its_taps_and_matches_torch(kind):
    torch.manual_seed(0)
    conv = MaskedConv2d(6, 4, kind).double()
    mask = torch.tensor(MaskedConv2d.MASKS[kind])
    assert sorted(conv.taps) == [tuple(t) for t in mask.nonzero().tolist()]
    x = torch.randn(1, 6, 33, 48, dtype=torch.float64)
    expected = F.conv2d(x, conv.weight * conv.mask, conv.bias, padding=1)
    torch.testing.assert_close(conv(x), expected, rtol=0, atol=1e-12)


@pytest.mark.parametrize("kind", ["A", "B"])
@pytest.mark.parametrize("colour", [0, 1])
def test_checkerboard_conv_gives_the_whole_convolution_at_the_output_colour(kind, colour):
    torch.manual_seed(colour)
    conv = MaskedConv2d(6, 4, kind).double()
    colour_in = 1 - colour if kind == "A" else colour  # A moves between colours, B stays on one
    x = torch.randn(1, 6, 34, 48, dtype=torch.float64) * checkerboard(34, 48, colour_in, torch.device("cpu"))
    whole = F.conv2d(x, conv.weight * conv.mask, conv.bias, padding=1)[0]
    subs = checkerboard_conv(colour_sublattices(x[0], colour_in), (colour_in, colour), conv.weight * conv.mask, conv.bias, conv.taps)
    for got, expected in zip(subs, colour_sublattices(whole, colour), strict=True):
        torch.testing.assert_close(got, expected, rtol=0, atol=1e-12)
    with pytest.raises(ValueError, match="does not read colour"):  # a tap between the wrong colours
        checkerboard_conv(colour_sublattices(x[0], 1 - colour_in), (1 - colour_in, colour), conv.weight, conv.bias, conv.taps)


@pytest.mark.parametrize("size", [(24, 16), (6, 10), (7, 9), (1, 1)])  # even: sublattices; odd: the whole grid
@pytest.mark.parametrize("parity", [0, 1])
def test_spatial_context_at_the_non_anchors_is_the_masked_stacks_output(size, parity):
    torch.manual_seed(parity)
    model = LatentEntropyModel(CONFIGS["lite"], 2, 24).double().eval()
    for p in model.spatial.parameters():
        p.data.normal_(0, 0.3)
    anchor = checkerboard(*size, parity, torch.device("cpu"))
    y = torch.randn(2, 24, *size, dtype=torch.float64) * anchor
    with torch.no_grad():
        h = y  # the stack through torch's own convolution, over the whole grid
        for layer in model.spatial:
            h = F.conv2d(h, layer.weight * layer.mask, layer.bias, padding=1) if isinstance(layer, MaskedConv2d) else layer(h)
        torch.testing.assert_close(model.spatial_at(y, ~anchor), h[:, :, ~anchor], rtol=0, atol=1e-12)
