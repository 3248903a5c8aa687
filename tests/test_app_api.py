"""The app's public API, ``/compress``, called through gradio_client on a running app."""

from __future__ import annotations

import pytest
from conftest import ASSETS
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError
from PIL import Image

from msinn.image import load_image
from msinn.metrics import ms_ssim, psnr

IMAGE = ASSETS / "kodim23_160x104.png"


@pytest.fixture(scope="module")
def client(app_url) -> Client:
    return Client(app_url, analytics_enabled=False, verbose=False)


@pytest.mark.parametrize("rate", [1.0, 6.3])
def test_compress_returns_the_library_png_and_numbers(client, rate):
    import app

    png_path, stats = client.predict(handle_file(IMAGE), rate, api_name="/compress")
    image = load_image(IMAGE)
    enc = app.codec.encode(image, rate)
    with Image.open(png_path) as png:
        assert png.format == "PNG"
        returned = png.convert("RGB")
    assert returned.tobytes() == app.codec.decompress(enc.data).tobytes()
    assert stats == {
        "rate": enc.rate,
        "bpp": enc.bpp,
        "psnr": pytest.approx(psnr(image, enc.image), abs=1e-9),
        "ms_ssim": pytest.approx(ms_ssim(image, enc.image), abs=1e-6),
        "bytes": len(enc.data),
    }


@pytest.mark.parametrize("size", [(1, 1), (3, 2), (1, 700), (700, 1)])
def test_odd_sizes_come_back_at_their_own_size(client, tmp_path, size):
    import app

    image = load_image(IMAGE).resize(size, Image.Resampling.BOX)
    path = tmp_path / "odd.png"
    image.save(path)
    png_path, stats = client.predict(handle_file(path), 4.0, api_name="/compress")
    with Image.open(png_path) as png:
        assert png.size == size
        assert png.convert("RGB").tobytes() == app.codec.decompress(app.codec.compress(image, 4.0)).tobytes()
    assert stats["bytes"] == len(app.codec.compress(image, 4.0))


# A float NaN cannot travel in JSON (gradio_client refuses it); "NaN" as text is how one arrives.
@pytest.mark.parametrize("rate", [99.0, -1.0, "fast", "", None, "NaN"])
def test_a_bad_rate_gets_one_plain_sentence(client, rate):
    with pytest.raises(AppError) as error:
        client.predict(handle_file(IMAGE), rate, api_name="/compress")
    assert str(error.value).startswith("The rate must be a number from 0 to 11; got")


@pytest.mark.parametrize("content", ["text", "truncated PNG"])
def test_unreadable_file_gives_a_readable_error(client, tmp_path, content):
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"this is not a PNG" if content == "text" else IMAGE.read_bytes()[:3000])
    with pytest.raises(AppError, match="cannot be read as an image"):
        client.predict(handle_file(bad), 3.0, api_name="/compress")


def test_only_compress_is_public(client):
    assert list(client.view_api(print_info=False, return_format="dict")["named_endpoints"]) == ["/compress"]
