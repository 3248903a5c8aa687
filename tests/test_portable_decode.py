"""A file written on one machine decodes to the same image on another — or is refused.

The way a user's file really travels: a 512×768 photo, each shipped model, several rates,
encoded in one process and decoded in fresh ones with other thread counts and with the
kernels of a CPU without AVX2. (A 160×104 image passed while 384×320 decoded to garbage with
one thread: small images hide table-row flips.)
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys

import numpy as np
import pytest
import torch
from conftest import REPO
from PIL import Image

import msinn

PHOTO = REPO / "assets" / "examples" / "kodim04.png"  # 512×768 (portrait)
RATES = (0.0, 5.5, 11.0)
# The kernels a CPU without AVX2 gets, in PyTorch, oneDNN and MKL.
OLD_CPU = {"ATEN_CPU_CAPABILITY": "default", "ONEDNN_MAX_CPU_ISA": "SSE41", "MKL_ENABLE_INSTRUCTIONS": "SSE4_2"}

MODELS = msinn.shipped_models()  # every shipped model's files travel

ENCODE = """
import sys, torch, msinn
torch.set_num_threads(int(sys.argv[1]))
codec = msinn.load(sys.argv[4], device="cpu")
prep = codec.prepare(sys.argv[2])
for i, rate in enumerate(map(float, sys.argv[5:])):
    enc = codec.encode(prep, rate)
    open(f"{sys.argv[3]}/{i}.msn", "wb").write(enc.data)
    enc.image.save(f"{sys.argv[3]}/{i}.enc.png")
"""

DECODE = """
import sys, torch, msinn
torch.set_num_threads(int(sys.argv[1]))
for i in range(int(sys.argv[3])):
    data = open(f"{sys.argv[2]}/{i}.msn", "rb").read()
    codec = msinn.load(msinn.model_for(data), device="cpu")  # the file names its model
    if len(sys.argv) > 5:
        codec.model.tile = int(sys.argv[5])  # every stage over small tiles: not part of the format
    codec.decompress(data).save(f"{sys.argv[2]}/{i}.{sys.argv[4]}.png")
"""


def _run(script: str, *args: str, env: dict | None = None) -> None:
    subprocess.run([sys.executable, "-c", script, *args], check=True, timeout=600, env={**os.environ, **(env or {})}, cwd=REPO)


@pytest.fixture(scope="module", params=MODELS)
def encoded_photo(tmp_path_factory, request):
    folder = tmp_path_factory.mktemp("portable")
    _run(ENCODE, "2", str(PHOTO), str(folder), request.param, *map(str, RATES))
    return folder


@pytest.mark.slow
@pytest.mark.parametrize(
    "threads, env, tile",
    [("1", None, None), ("2", None, None), ("3", None, None), ("2", OLD_CPU, None), ("1", OLD_CPU, 4096)],
    ids=["1-thread", "2-threads", "3-threads", "no-avx2-kernels", "no-avx2-kernels-in-tiles"],
)
def test_photo_decodes_identically_in_other_processes(encoded_photo, threads, env, tile):
    """Identical pixels means identical symbols: a row flip would desynchronise the coder
    (and the symbol checksum would refuse the file). The photo is encoded whole; decoding
    it over tiles (msinn/tiles.py) elsewhere gives the same pixels."""
    tag = f"dec{threads}{'old' if env else ''}{tile or ''}"
    _run(DECODE, threads, str(encoded_photo), str(len(RATES)), tag, *([str(tile)] if tile else []), env=env)
    for i in range(len(RATES)):
        encoder_view = np.asarray(Image.open(encoded_photo / f"{i}.enc.png"))
        decoded = np.asarray(Image.open(encoded_photo / f"{i}.{tag}.png"))
        assert decoded.shape == (768, 512, 3)
        assert np.array_equal(decoded, encoder_view), f"rate {RATES[i]}: decode differs"


# A file committed with the shipped weights (kodim23, the 384×256 crop at (192, 128), rate 5):
# its decoded pixels never change, on any machine. New weights need a new golden file.
GOLDEN = REPO / "tests" / "assets" / "golden_kodim23_384x256_t5.msn"
GOLDEN_PIXELS_SHA256 = "24067487fc4fa5b258cad53bff58f9b18bea4a6d5660adbb8a01bf0bbd34ef22"


@pytest.fixture(scope="module")
def shipped() -> msinn.Codec:
    return msinn.load(device="cpu")


def test_golden_file_decodes_to_its_fixed_hash(shipped):
    image = shipped.decompress(GOLDEN.read_bytes())
    assert image.size == (384, 256)
    assert hashlib.sha256(np.asarray(image).tobytes()).hexdigest() == GOLDEN_PIXELS_SHA256


def test_a_decoder_whose_entropy_model_differs_refuses_instead_of_decoding_garbage(shipped, small_image):
    """What a machine that computed σ differently would see: BitstreamError, not an image."""
    data = shipped.compress(small_image, 4.0)
    bias = shipped.model.latent_models[2].entropy_parameters[-1].bias
    with torch.no_grad():
        bias[0] += 0.05  # σ of one y3 channel moves by ~5 %: some symbols change table row
    try:
        with pytest.raises(msinn.BitstreamError, match="stream y3 (did not decode exactly|is not a valid stream)"):
            shipped.decompress(data)
    finally:
        with torch.no_grad():
            bias[0] -= 0.05
    assert np.array_equal(np.asarray(shipped.decompress(data)), np.asarray(shipped.encode(small_image, 4.0).image))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("rate", RATES)
@pytest.mark.parametrize("model", MODELS)
def test_gpu_and_cpu_decode_each_others_files(rate, model):
    cpu, gpu = msinn.load(model, device="cpu"), msinn.load(model, device="cuda")
    for encoder, decoder in [(cpu, gpu), (gpu, cpu)]:
        enc = encoder.encode(PHOTO, rate)
        assert np.array_equal(np.asarray(decoder.decompress(enc.data)), np.asarray(enc.image))
