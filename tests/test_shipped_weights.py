"""The shipped weights load, invert, and their bits are what the file says; lite is the default."""

from __future__ import annotations

import subprocess

import numpy as np
import pytest
import torch

import msinn
from msinn.bitstream import HEADER_BYTES, N_STREAMS
from msinn.codec import WEIGHTS_DIR, resolve_weights

FLUSH_BYTES = 8  # each range-coded stream ends with up to two 32-bit words of its state


@pytest.fixture(scope="module", params=msinn.shipped_models())
def shipped(request) -> msinn.Codec:
    return msinn.load(request.param, device="cpu")


def test_default_model_is_the_shipped_lite_weights():
    assert resolve_weights(None) == WEIGHTS_DIR / "msinn-lite.safetensors"
    lite = msinn.load(device="cpu")
    assert lite.model.cfg.name == "lite" and lite.rate_range == (0.0, 11.0)


def test_every_shipped_model_has_its_model_card():
    cards = (WEIGHTS_DIR / "README.md").read_text()
    for name in msinn.shipped_models():
        assert f"{name}.safetensors" in cards or (WEIGHTS_DIR / f"{name}.md").is_file(), name


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


def test_no_tracked_file_is_too_large_for_a_space():
    """A Hugging Face Space refuses files over 10 MiB that are not stored through LFS."""
    repo = WEIGHTS_DIR.parent
    try:
        files = subprocess.run(["git", "ls-files", "-z"], cwd=repo, capture_output=True, check=True).stdout.split(b"\0")
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("not a git checkout")
    sizes = {f.decode(): (repo / f.decode()).stat().st_size for f in files if f and (repo / f.decode()).is_file()}
    assert sizes and max(sizes.values()) < 10 * 2**20, max(sizes, key=sizes.get)
