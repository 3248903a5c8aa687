"""Decoding reproduces, bit for bit, the reconstruction the encoder computed (in the same
process; tests/test_portable_decode.py covers other processes, kernels and devices)."""

from __future__ import annotations

import numpy as np
import pytest


@pytest.mark.parametrize("rate", [0.0, 1.37, 3.0])
def test_decompress_equals_encoder_reconstruction(tiny_codec, small_image, rate):
    enc = tiny_codec.encode(small_image, rate)
    out = tiny_codec.decompress(enc.data)
    assert out.size == small_image.size and out.mode == "RGB"
    assert np.array_equal(np.asarray(out), np.asarray(enc.image))


def test_bpp_rises_strictly_with_the_rate(small_image):
    """The rate slider's promise, with the shipped weights: a higher rate, a larger file."""
    import msinn

    codec = msinn.load(device="cpu")
    sizes = [len(codec.compress(small_image, rate)) for rate in (0.0, 2.5, 5.0, 7.5, 11.0)]
    assert all(a < b for a, b in zip(sizes, sizes[1:], strict=False)), sizes


def test_encoding_a_prepared_image_matches_encoding_the_image(tiny_codec, small_image):
    prep = tiny_codec.prepare(small_image)
    assert tiny_codec.encode(prep, 1.5).data == tiny_codec.compress(small_image, 1.5)


def test_estimated_bits_match_the_file_size(tiny_codec, small_image):
    """Σ −log2 p of the coded symbols agrees with the real streams (table quantisation only)."""
    enc = tiny_codec.analyse(small_image, 2.5)
    estimated = sum(float(b.sum()) for b in enc.bits.values()) / 8
    real = sum(enc.stream_bytes.values())
    assert abs(real - estimated) <= 0.02 * estimated + 5 * 8
