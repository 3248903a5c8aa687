"""The viewer's per-image session: size limit, rate cache, exact decode, rate search."""

from __future__ import annotations

import pytest
from PIL import Image

from msinn.session import VIEW_MAX_PIXELS, VIEW_MAX_SIDE, ImageSession, grid_rates, limit_size


@pytest.fixture
def session(tiny_codec, small_image) -> ImageSession:
    return ImageSession(tiny_codec, small_image)


def test_grid_rates_cover_the_range_ends_first():
    rates = grid_rates((0.0, 11.0))
    assert sorted(rates) == [i / 2 for i in range(23)]
    assert rates[:2] == [0.0, 11.0]


@pytest.mark.parametrize(("size", "expected"), [((3000, 1000), (VIEW_MAX_SIDE, 682)), ((1800, 1800), (1414, 1414))])
def test_large_images_are_downscaled_with_a_notice(size, expected):
    image, notice = limit_size(Image.new("RGB", size))
    assert image.size == expected and image.width * image.height <= VIEW_MAX_PIXELS
    assert f"{size[0]}×{size[1]}" in notice


def test_small_images_are_kept_as_they_are(small_image):
    image, notice = limit_size(small_image)
    assert image is small_image and notice is None


def test_session_result_is_the_codecs_and_is_cached(session, tiny_codec, small_image):
    result = session.encode(1.3)
    assert result.data == tiny_codec.encode(small_image, 1.3).data
    assert session.encode(1.3) is result
    assert session.nearest(1.45) is result and session.nearest(3.0) is result


def test_exact_decodes_the_file_and_keeps_bits_of_the_latest_only(session):
    first = session.exact(1.0)
    assert first.decode_s > 0 and first.encoded.bits
    second = session.exact(2.0)
    assert second.encoded.bits and not session.cached(1.0).encoded.bits
    assert session.cached(1.0).decode_s == first.decode_s


def test_fill_grid_gives_the_rd_curve_in_rate_order(session):
    session.fill_grid([2.0, 0.0, 1.0])
    curve = session.rd_curve()
    assert curve["rate"] == [0.0, 1.0, 2.0]
    assert curve["bpp"] == sorted(curve["bpp"])


def test_find_rate_for_bpp_lands_near_the_target(session):
    target = session.encode(1.7).bpp * 1.01
    session.close()  # an empty cache: the search brackets from the ends
    result = session.find_rate_for_bpp(target)
    assert result.bpp == pytest.approx(target, rel=0.05)
