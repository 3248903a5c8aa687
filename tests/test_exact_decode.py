"""Decoding reproduces, bit for bit, the reconstruction the encoder computed."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

ENCODE = """
import sys, torch, msinn
torch.set_num_threads(int(sys.argv[1]))
codec = msinn.load(sys.argv[2], device="cpu")
enc = codec.encode(sys.argv[3], float(sys.argv[4]))
open(sys.argv[5], "wb").write(enc.data)
enc.image.save(sys.argv[6])
"""

DECODE = """
import sys, torch, msinn
torch.set_num_threads(int(sys.argv[1]))
codec = msinn.load(sys.argv[2], device="cpu")
codec.decompress(open(sys.argv[3], "rb").read()).save(sys.argv[4])
"""


@pytest.mark.parametrize("rate", [0.0, 1.37, 3.0])
def test_decompress_equals_encoder_reconstruction(tiny_codec, small_image, rate):
    enc = tiny_codec.encode(small_image, rate)
    out = tiny_codec.decompress(enc.data)
    assert out.size == small_image.size and out.mode == "RGB"
    assert np.array_equal(np.asarray(out), np.asarray(enc.image))


def test_decode_is_bit_exact_across_processes_and_thread_counts(lite_weights, tmp_path):
    """Encode with 1 thread in one process, decode with 2 threads in another."""
    from conftest import ASSETS

    image = ASSETS / "kodim23_160x104.png"
    msn, enc_png, dec_png = tmp_path / "a.msn", tmp_path / "enc.png", tmp_path / "dec.png"
    for threads, script, args in [
        ("1", ENCODE, [str(lite_weights), str(image), "4.3", str(msn), str(enc_png)]),
        ("2", DECODE, [str(lite_weights), str(msn), str(dec_png)]),
    ]:
        subprocess.run([sys.executable, "-c", script, threads, *args], check=True, timeout=300)
    from PIL import Image

    assert np.array_equal(np.asarray(Image.open(enc_png)), np.asarray(Image.open(dec_png)))


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
