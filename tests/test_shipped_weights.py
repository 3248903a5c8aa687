"""The shipped default weights load, invert, and their bits are what the file says."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import msinn
from msinn.bitstream import HEADER_BYTES, N_STREAMS
from msinn.codec import WEIGHTS_DIR, resolve_weights

FLUSH_BYTES = 8  # each range-coded stream ends with up to two 32-bit words of its state


@pytest.fixture(scope="module")
def shipped() -> msinn.Codec:
    return msinn.load(device="cpu")


def test_default_model_is_the_shipped_lite_weights(shipped):
    assert resolve_weights(None) == WEIGHTS_DIR / "msinn-lite.safetensors"
    assert shipped.model.cfg.name == "lite" and shipped.rate_range == (0.0, 11.0)


def test_shipped_inn_is_invertible(shipped, small_image):
    from msinn.image import pad, to_tensor

    x = pad(to_tensor(small_image), 32)
    with torch.no_grad():
        assert (shipped.model.inn.synthesis(shipped.model.inn.analysis(x)) - x).abs().max() < 1e-4


@pytest.mark.parametrize("rate", [0.0, 5.5, 11.0])
def test_file_size_matches_estimated_bits(shipped, small_image, rate):
    """Real streams are within 2 % of Σ −log2 p, plus the header and the coders' flushes."""
    enc = shipped.analyse(small_image, rate)
    estimated = sum(float(b.sum()) for b in enc.bits.values()) / 8
    overhead = HEADER_BYTES + N_STREAMS * FLUSH_BYTES
    assert abs(len(enc.data) - estimated) <= 0.02 * estimated + overhead
    assert np.array_equal(np.asarray(shipped.decompress(enc.data)), np.asarray(enc.image))
