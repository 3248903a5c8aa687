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


def test_reported_bpp_is_the_file_size(tiny_codec, small_image):
    enc = tiny_codec.encode(small_image, 2.0)
    w, h = small_image.size
    assert enc.bpp == 8 * len(enc.data) / (w * h)
    assert sum(enc.stream_bytes.values()) < len(enc.data)


def test_encoding_a_prepared_image_matches_encoding_the_image(tiny_codec, small_image):
    prep = tiny_codec.prepare(small_image)
    assert tiny_codec.encode(prep, 1.5).data == tiny_codec.compress(small_image, 1.5)


def test_estimated_bits_match_the_file_size(tiny_codec, small_image):
    """Σ −log2 p of the coded symbols agrees with the real streams (table quantisation only)."""
    enc = tiny_codec.analyse(small_image, 2.5)
    estimated = sum(float(b.sum()) for b in enc.bits.values()) / 8
    real = sum(enc.stream_bytes.values())
    assert abs(real - estimated) <= 0.02 * estimated + 5 * 8
