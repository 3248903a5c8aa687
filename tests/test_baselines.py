"""Classic codecs: round trips, rate search and error messages.

``assets/kodim23_128x96.png`` is the crop (120, 180, 248, 276) of Kodak's kodim23 (a
parrot's face), released by Eastman Kodak for unrestricted use.
"""

from pathlib import Path

import pytest
from PIL import Image

from msinn import ffmpeg_codecs
from msinn.baselines import CODECS, BaselineError, at_bpp, evaluate_baseline, get_codec
from msinn.measurement import Measured
from msinn.metrics import bits_per_pixel

ASSET = Path(__file__).parent / "assets" / "kodim23_128x96.png"

# A high-rate and a low-rate setting per codec.
QUALITIES = {
    "vvc": (22, 42),
    "hevc": (22, 42),
    "av1": (15, 50),
    "jxl": (90, 40),
    "webp": (90, 20),
    "jpeg2000": (300, 30),
    "jpeg": (90, 20),
}


@pytest.fixture(scope="module")
def image() -> Image.Image:
    with Image.open(ASSET) as im:
        return im.convert("RGB")


def test_registry_keys_are_the_documented_ones():
    assert list(CODECS) == list(QUALITIES)


@pytest.mark.parametrize("name", list(QUALITIES))
def test_round_trip_keeps_size_and_mode_with_sane_psnr(name, image):
    codec = get_codec(name)
    high, low = (codec.measure(image, q) for q in QUALITIES[name])
    for r in (high, low):
        assert r.data and r.codec == name
        assert r.image.size == image.size and r.image.mode == "RGB"
    assert 25 < high.psnr < 60 and 0.9 < high.ms_ssim <= 1
    assert high.bpp > low.bpp and high.psnr > low.psnr


def test_encode_returns_bytes_and_decoded_image(image):
    data, decoded = get_codec("webp").encode(image, 80)
    assert isinstance(data, bytes) and decoded.size == image.size


def test_vvc_pads_odd_sizes_and_crops_back(image):
    odd = image.crop((0, 0, 101, 77))
    data, decoded = get_codec("vvc").encode(odd, 32)
    assert data and decoded.size == (101, 77)


@pytest.mark.parametrize("name", ["jpeg", "webp"])
@pytest.mark.parametrize("target", [1.0, 2.0])
def test_at_bpp_lands_within_15_percent_of_reachable_target(name, target, image):
    r = at_bpp(get_codec(name), image, target)
    assert r.reached
    assert abs(r.bpp / target - 1) < 0.15


def test_at_bpp_flags_unreachable_targets_and_returns_nearest_end(image):
    codec = get_codec("jpeg")
    too_high = at_bpp(codec, image, 50.0)
    too_low = at_bpp(codec, image, 0.001)
    assert not too_high.reached and too_high.quality == 95
    assert not too_low.reached and too_low.quality == 1


@pytest.mark.parametrize("target", [1.0, 50.0, 0.001])
def test_at_bpp_bisects_over_the_compress_it_is_given(target, image):
    """Each try goes through ``compress`` and the chosen file through ``measure`` (the app's
    scheduled wrappers): the same choice and reached flag as the defaults."""
    codec, tried, measured = get_codec("jpeg"), [], []

    def compress(x, quality):
        tried.append(quality)
        return codec.compress(x, quality)

    def measure(x, quality, data):
        measured.append(quality)
        return codec.measure_file(x, quality, data)

    r = at_bpp(codec, image, target, compress=compress, measure=measure)
    plain = at_bpp(codec, image, target)
    assert len(tried) == len(set(tried)) >= 6 and measured == [r.quality]  # 95 settings: about log2(95) tries
    assert (r.quality, r.reached, r.data, r.bpp) == (plain.quality, plain.reached, plain.data, plain.bpp)
    assert r.reached == (target == 1.0) and r.encode_s > 0 and r.decode_s > 0


def test_a_classic_result_is_the_library_measured_type(image):
    r = get_codec("webp").measure(image, 80)
    assert isinstance(r, Measured) and r.quality == r.setting == 80 and r.encoded is None
    assert r.bpp == bits_per_pixel(len(r.data), image.size)


def test_unknown_codec_key_names_valid_keys():
    with pytest.raises(
        ValueError, match="valid keys: vvc, hevc, av1, jxl, webp, jpeg2000, jpeg"
    ):
        get_codec("bpg")


def test_out_of_range_quality_raises_value_error(image):
    with pytest.raises(ValueError, match=r"jpeg: quality must be in 1\.\.95"):
        get_codec("jpeg").measure(image, 100)


def test_unknown_vvc_preset_raises_value_error():
    with pytest.raises(ValueError, match="preset"):
        get_codec("vvc", preset="ultrafast")


def test_missing_ffmpeg_raises_baseline_error_naming_codec(image, monkeypatch):
    monkeypatch.setattr(ffmpeg_codecs, "ffmpeg_exe", lambda: "/nonexistent/ffmpeg")
    with pytest.raises(BaselineError, match="^hevc: could not run ffmpeg"):
        get_codec("hevc").encode(image, 30)


def test_undecodable_stream_raises_baseline_error_with_ffmpeg_stderr():
    with pytest.raises(BaselineError, match=r"^av1: ffmpeg exited with code \d+") as e:
        get_codec("av1").decompress(b"not an AV1 stream" * 4, (16, 16))
    assert len(str(e.value).splitlines()) > 1  # ffmpeg's last stderr lines follow


def test_evaluate_baseline_returns_compressai_results():
    results = evaluate_baseline(get_codec("jpeg"), [ASSET, ASSET], [30, 90])
    assert set(results) == {
        "bpp",
        "psnr-rgb",
        "ms-ssim-rgb",
        "encoding_time",
        "decoding_time",
    }
    assert all(len(v) == 2 for v in results.values())
    assert results["bpp"][0] < results["bpp"][1]
