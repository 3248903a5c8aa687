"""The float64 convolution of real coding (msinn/conv.py) computes what ``F.conv2d`` does,
masked kernels included, where only the mask's taps are multiplied."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from msinn.conv import conv2d
from msinn.entropy import MaskedConv2d


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
