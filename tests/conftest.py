"""Shared fixtures: small images and randomly initialised codecs built once per run."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from PIL import Image

import msinn
from msinn.config import get_config
from msinn.image import load_image, to_tensor
from msinn.model import MSINN
from msinn.weights import save_weights

ASSETS = Path(__file__).parent / "assets"
REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def small_image() -> Image.Image:
    """A 160x104 crop of Kodak's kodim23 (sizes not multiples of 32, to exercise padding)."""
    return load_image(ASSETS / "kodim23_160x104.png")


def make_weights(config: str, path: Path, image: Image.Image, seed: int = 0) -> Path:
    """Randomly initialised weights (data-dependent init on ``image``) saved to ``path``."""
    torch.manual_seed(seed)
    model = MSINN(get_config(config))
    model.initialise(to_tensor(image)[:, :, :96, :96])
    save_weights(model, path)
    return path


@pytest.fixture(scope="session")
def tiny_weights(tmp_path_factory, small_image) -> Path:
    return make_weights("tiny", tmp_path_factory.mktemp("w") / "tiny.safetensors", small_image)


@pytest.fixture(scope="session")
def lite_weights(tmp_path_factory, small_image) -> Path:
    return make_weights("lite", tmp_path_factory.mktemp("w") / "lite-random.safetensors", small_image)


@pytest.fixture(scope="session")
def tiny_codec(tiny_weights) -> msinn.Codec:
    return msinn.load(tiny_weights, device="cpu")
