"""The public API: msinn.load / compress / decompress / analyse and the image rule."""

from __future__ import annotations

import dataclasses
import io
import subprocess
import sys

import numpy as np
import pytest
import torch
from conftest import REPO
from PIL import Image

import msinn
from msinn.image import MAX_SIDE, load_image, to_rgb


def _exif_rotated(image: Image.Image) -> Image.Image:
    """A JPEG whose EXIF says 'rotate 90° clockwise to display' (orientation 6)."""
    exif = Image.Exif()
    exif[0x0112] = 6
    buf = io.BytesIO()
    image.save(buf, "JPEG", exif=exif, quality=95)
    return Image.open(io.BytesIO(buf.getvalue()))


@pytest.mark.parametrize(
    "mode", ["L", "LA", "RGBA", "P", "PA", "CMYK", "I;16", "I", "F", "1", "YCbCr"]
)
def test_any_pil_mode_becomes_rgb_of_same_size(small_image, mode):
    if mode == "PA":
        image = small_image.convert("P").convert("PA")
    elif mode in ("I;16", "I"):
        image = Image.fromarray(np.asarray(small_image.convert("L")).astype(np.uint16) * 257)
        image = image if mode == "I;16" else image.convert("I")
    else:
        image = small_image.convert(mode)
    out = to_rgb(image)
    assert out.mode == "RGB" and out.size == small_image.size


def test_sixteen_bit_grey_keeps_its_high_byte(small_image):
    grey = np.asarray(small_image.convert("L"))
    image = Image.fromarray(grey.astype(np.uint16) * 257)
    assert image.mode == "I;16"
    assert np.array_equal(np.asarray(to_rgb(image))[:, :, 0], grey)


def test_transparency_is_composited_over_white():
    rgba = Image.new("RGBA", (4, 4), (0, 0, 0, 0))
    assert to_rgb(rgba).getpixel((0, 0)) == (255, 255, 255)


def test_exif_orientation_is_applied(small_image):
    rotated = _exif_rotated(small_image)
    assert rotated.size == small_image.size
    assert to_rgb(rotated).size == small_image.size[::-1]


def test_first_frame_of_animated_gif(small_image):
    buf = io.BytesIO()
    frames = [small_image.convert("P"), small_image.transpose(Image.Transpose.FLIP_TOP_BOTTOM).convert("P")]
    frames[0].save(buf, "GIF", save_all=True, append_images=frames[1:])
    assert to_rgb(Image.open(io.BytesIO(buf.getvalue()))).size == small_image.size


def test_unreadable_file_gives_value_error(tmp_path):
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"this is not an image")
    with pytest.raises(ValueError, match="cannot read image"):
        load_image(bad)


@pytest.mark.parametrize("size", [(1, 1), (33, 17), (31, 65)])
def test_any_image_size_round_trips_at_original_size(tiny_codec, small_image, size):
    image = small_image.resize(size)
    assert tiny_codec.decompress(tiny_codec.compress(image, 1.0)).size == size


def test_compress_of_rotated_file_decodes_upright(tiny_codec, small_image):
    out = tiny_codec.decompress(tiny_codec.compress(_exif_rotated(small_image), 1.0))
    assert out.size == small_image.size[::-1]


@pytest.mark.parametrize("rate", [-0.1, 3.01, float("nan"), "high", None])
def test_rate_outside_range_names_the_valid_range(tiny_codec, small_image, rate):
    with pytest.raises(ValueError, match=r"^The rate must be a number from 0 to 3; got .+\.$"):
        tiny_codec.compress(small_image, rate)


def test_check_rate_is_the_rate_parser_with_one_plain_sentence(tiny_codec):
    assert tiny_codec.check_rate("2.5") == 2.5 and tiny_codec.check_rate(1.1) == float(np.float32(1.1))
    with pytest.raises(ValueError) as error:
        tiny_codec.check_rate("abc")
    assert str(error.value) == "The rate must be a number from 0 to 3; got 'abc'."


def test_oversized_image_is_refused_before_coding(tiny_codec):
    with pytest.raises(ValueError, match="outside"):
        tiny_codec.compress(Image.new("RGB", (MAX_SIDE + 1, 1)), 1.0)


def test_bpp_increases_with_rate(tiny_codec, small_image):
    prep = tiny_codec.prepare(small_image)
    sizes = [len(tiny_codec.encode(prep, r).data) for r in np.arange(0, 3.01, 0.25)]
    assert sizes == sorted(sizes)


def test_analyse_returns_latents_bits_and_symbols_per_scale(tiny_codec, small_image):
    enc = tiny_codec.analyse(small_image, 2.0)
    shapes = {k: v.shape for k, v in enc.symbols.items()}
    # 160x104 is padded to 160x128
    assert shapes == {"y5": (48, 8, 10), "y4": (48, 8, 10), "y3": (24, 16, 20), "y2": (12, 32, 40), "y1": (6, 64, 80)}
    assert all(enc.bits[k].shape == shapes[k] and (enc.bits[k] >= 0).all() for k in shapes)
    assert np.allclose(enc.symbols["y1"], np.round(enc.symbols["y1"]))


def test_rate_for_bpp_finds_closest_rate(tiny_codec, small_image):
    prep = tiny_codec.prepare(small_image)
    lo, hi = tiny_codec.encode(prep, 0.0).bpp, tiny_codec.encode(prep, 3.0).bpp
    target = (lo + hi) / 2
    assert abs(tiny_codec.rate_for_bpp(prep, target).bpp - target) < 0.1 * target


def test_decode_only_loading_decodes_identically_without_a_float32_model(tiny_codec, tiny_weights, small_image):
    decoder = msinn.load_decoder(tiny_weights, device="cpu")
    assert type(decoder) is msinn.Decoder and not hasattr(decoder, "float_model")
    assert all(p.dtype == torch.float64 for p in decoder.model.parameters())
    assert repr(decoder).startswith("Decoder(") and decoder.model_id == tiny_codec.model_id
    for rate in (0.0, 1.7, 3.0):
        enc = tiny_codec.encode(small_image, rate)
        assert decoder.read_header(enc.data) == tiny_codec.read_header(enc.data)
        assert decoder.decompress(enc.data).tobytes() == tiny_codec.decompress(enc.data).tobytes() == enc.image.tobytes()


def test_measure_codes_decodes_and_measures_real_bytes(tiny_codec, small_image):
    m = msinn.measure(tiny_codec, small_image, 2.0)
    assert m.codec == tiny_codec.name and m.rate == 2.0 and m.data == tiny_codec.compress(small_image, 2.0)
    assert m.bpp == msinn.bits_per_pixel(len(m.data), small_image.size) == 8 * len(m.data) / (160 * 104)
    assert m.image.tobytes() == tiny_codec.decompress(m.data).tobytes()
    assert m.encode_s > 0 and m.decode_s > 0 and m.psnr > 0 and 0 < m.ms_ssim <= 1


def test_measure_an_encoded_without_decoding_then_decode_and_check_later(tiny_codec, small_image):
    enc = tiny_codec.encode(small_image, 1.5)
    quick = msinn.measure(tiny_codec, small_image, enc.rate, encoded=enc, decode=False)
    assert quick.decode_s is None and quick.encoded is enc and quick.image is enc.image and quick.encode_s == enc.encode_s
    checked = msinn.decode_checked(quick, tiny_codec.decompress)
    assert checked.decode_s > 0 and (checked.bpp, checked.psnr, checked.ms_ssim) == (quick.bpp, quick.psnr, quick.ms_ssim)
    decoded = msinn.measure(tiny_codec, small_image, enc.rate, encoded=enc)
    assert decoded.decode_s > 0 and decoded.psnr == quick.psnr


def test_measure_raises_when_the_file_does_not_decode_to_the_reconstruction(tiny_codec, small_image):
    enc = tiny_codec.encode(small_image, 1.5)
    other = tiny_codec.encode(small_image, 2.5)
    wrong = dataclasses.replace(enc, image=other.image)  # a reconstruction the file does not decode to
    with pytest.raises(RuntimeError, match="does not decode to the encoder's reconstruction"):
        msinn.measure(tiny_codec, small_image, wrong.rate, encoded=wrong)
    quick = msinn.measure(tiny_codec, small_image, wrong.rate, encoded=wrong, decode=False)
    with pytest.raises(RuntimeError, match="does not decode to the encoder's reconstruction"):
        msinn.decode_checked(quick, tiny_codec.decompress)


def test_load_unknown_name_lists_what_exists():
    with pytest.raises(ValueError, match="give a .safetensors path"):
        msinn.load("no-such-model")


def test_coding_in_a_fresh_process_never_imports_compressai():
    """compressai (with torchvision and torch_geometric) takes seconds and ~0.3 GB to import;
    only training and the encoder's search use its likelihoods."""
    script = (
        "import sys, msinn; from PIL import Image; c = msinn.load('lite'); "
        "c.decompress(c.compress(Image.new('RGB', (64, 48), (90, 140, 200)), 3.0)); "
        "print(sorted(m for m in ('compressai', 'torchvision') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True, cwd=REPO)
    assert out.stdout.strip() == "[]"
