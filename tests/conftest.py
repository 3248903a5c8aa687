"""Shared fixtures: small images, randomly initialised codecs built once per run, and the
demo app running on a free local port."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
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

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # no version check calling out


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


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def app_url(tmp_path_factory) -> Iterator[str]:
    """The demo app (app.py's ``demo``, weights from MSINN_WEIGHTS or the shipped ones)
    served on 127.0.0.1 at a free port for one test module; closed afterwards."""
    os.environ.setdefault("GRADIO_TEMP_DIR", str(tmp_path_factory.mktemp("gradio")))
    import app

    _, url, _ = app.demo.launch(server_name="127.0.0.1", server_port=free_port(), prevent_thread_lock=True, quiet=True)
    try:
        yield url
    finally:
        app.demo.close()
