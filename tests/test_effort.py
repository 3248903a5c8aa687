"""Encoder-side refinement: smaller or better files, decoded by the unchanged decoder."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import msinn
from msinn.metrics import psnr
from msinn.refine import lambda_at, objective, refine


@pytest.fixture(scope="module")
def shipped() -> msinn.Codec:
    return msinn.load(device="cpu")


def _hard_objective(codec: msinn.Codec, prep: msinn.Prepared, ys, rate: float) -> float:
    model = codec.float_model
    rate_t = torch.tensor([rate])
    with torch.no_grad():
        return float(objective(model, ys, prep.x, rate_t, lambda_at(model, rate), prep.size[::-1], torch.round))


@pytest.mark.parametrize("rate", [2.0, 8.5])
def test_refined_latents_never_score_worse_than_the_analysis(shipped, small_image, rate):
    prep = shipped.prepare(small_image)
    ys = refine(shipped.float_model, prep.x, prep.y, rate, steps=16, size=prep.size[::-1])
    assert _hard_objective(shipped, prep, ys, rate) <= _hard_objective(shipped, prep, prep.y, rate)


def test_effort_files_decode_exactly_and_cost_less(shipped, small_image):
    """R + λD of the real file (bpp and PSNR from the decoded image) improves at effort 1."""
    rate = 6.0
    base = shipped.encode(small_image, rate)
    refined = shipped.encode(small_image, rate, effort=1)
    decoded = shipped.decompress(refined.data)
    assert np.array_equal(np.asarray(decoded), np.asarray(refined.image))
    lam = lambda_at(shipped.float_model, rate) * 255**2

    def cost(enc: msinn.Encoded) -> float:
        mse = 10 ** (-psnr(small_image, enc.image) / 10)
        return enc.bpp + lam * mse

    assert cost(refined) < cost(base)


def test_effort_is_reproducible_and_validated(shipped, small_image):
    crop = small_image.crop((0, 0, 64, 48))
    assert shipped.compress(crop, 3.0, effort=1) == shipped.compress(crop, 3.0, effort=1)
    for bad in (3, -1, 1.5, True):
        with pytest.raises(ValueError, match="effort"):
            shipped.compress(crop, 3.0, effort=bad)
