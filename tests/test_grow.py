"""Growing trained weights into a wider config: before any training the grown model writes
the same streams and decodes the same pixels as the model it grew from, and it trains."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
from conftest import ASSETS, REPO

import msinn
from msinn import bitstream
from msinn.cli import main
from msinn.codec import Codec
from msinn.config import get_config
from msinn.grow import check_growable, grow
from msinn.model import MSINN
from msinn.weights import load_weights, save_weights, weights_id, weights_state

PHOTO = REPO / "assets" / "examples" / "kodim14.png"  # 768×512, not a training image


def _codec(model, name: str) -> Codec:
    return Codec(model, weights_id(weights_state(model), model.cfg), name)


@pytest.fixture(scope="module")
def lite_and_grown():
    lite, lite_id, _ = load_weights(REPO / "weights" / "msinn-lite.safetensors")
    grown = grow(lite, get_config("mid"))
    return Codec(lite, lite_id, "lite"), _codec(grown, "grown")


def test_every_old_tensor_is_embedded_and_only_new_units_are_new(lite_and_grown):
    """Each tensor of lite sits in the corner of mid's; new columns (into old units and outputs) and
    new biases are zero; tensors that kept their shape are equal."""
    old = lite_and_grown[0].float_model.state_dict()
    new = lite_and_grown[1].float_model.state_dict()
    assert set(old) == set(new)
    widened = 0
    for key, a in old.items():
        b = new[key]
        if a.shape == b.shape:
            assert torch.equal(a, b), key
            continue
        widened += 1
        assert torch.equal(b[tuple(slice(0, n) for n in a.shape)], a), key
        if a.dim() == 1:
            assert not b[a.shape[0] :].any(), key
        else:
            assert not b[: a.shape[0], a.shape[1] :].any(), key
    assert widened > 100  # couplings, context CNNs and LRP of all five latents


@pytest.mark.parametrize("rate", [0.5, 5.5, 10.0])
def test_grown_model_codes_exactly_as_the_weights_it_grew_from(lite_and_grown, rate):
    lite, grown = lite_and_grown
    a, b = lite.encode(PHOTO, rate), grown.encode(PHOTO, rate)
    (ha, streams_a), (hb, streams_b) = bitstream.unpack(a.data), bitstream.unpack(b.data)
    assert streams_a == streams_b and ha.checksums == hb.checksums
    assert ha.model_id != hb.model_id  # a file still names the weights that wrote it
    assert np.array_equal(np.asarray(a.image), np.asarray(b.image))
    assert np.array_equal(np.asarray(grown.decompress(b.data)), np.asarray(b.image))


def test_new_units_start_small_and_silent():
    """New rows random at 0.1× the old std (they get gradient), new columns into old units zero."""
    lite, _, _ = load_weights(REPO / "weights" / "msinn-lite.safetensors")
    grown = grow(lite, get_config("mid"))
    old = lite.inn.levels[1][0].coupling.subnet.body[2].weight  # (32, 32, 3, 3) in lite
    new = grown.inn.levels[1][0].coupling.subnet.body[2].weight  # (64, 64, 3, 3) in mid
    o, i = old.shape[:2]
    assert torch.equal(new[:o, :i], old) and not new[:o, i:].any()
    assert 0 < new[o:].std() < 0.2 * old.std()
    out = grown.inn.levels[1][0].coupling.subnet.out.weight  # into the coupling's outputs
    assert not out[:, o:].any()
    assert all(bool(m.initialised) for m in grown.modules() if hasattr(m, "initialised"))


def test_only_hidden_widths_may_grow():
    lite = get_config("lite")
    with pytest.raises(ValueError, match="depths differs"):
        check_growable(lite, dataclasses.replace(lite, depths=(3, 3, 3, 3)))
    with pytest.raises(ValueError, match="narrower"):
        check_growable(get_config("mid"), lite)


def test_train_grows_resumed_weights_and_trains_them(tmp_path, monkeypatch):
    tiny = get_config("tiny")
    wide = dataclasses.replace(tiny, name="tiny-wide", inn_hidden=(8, 8, 8, 8))
    model = MSINN(tiny)
    model.initialise(torch.rand(2, 3, 64, 64))
    save_weights(model, tmp_path / "tiny.safetensors")
    monkeypatch.setitem(msinn.config.CONFIGS, "tiny-wide", wide)
    args = ["train", "--crop", "64", "--batch", "2", "--train-dirs", str(ASSETS), "--valid-dir", "", "--steps", "2",
            "--out", str(tmp_path / "run"), "--resume", str(tmp_path / "tiny.safetensors"), "--grow-to", "tiny-wide"]  # fmt: skip
    assert main(args) == 0
    after, _, meta = load_weights(tmp_path / "run" / "checkpoint.safetensors")
    assert after.cfg.inn_hidden == (8, 8, 8, 8) and meta["step"] == "2"
    assert after.inn.levels[0][0].coupling.subnet.out.weight[:, 4:].abs().sum() > 0  # new units now contribute


def test_grow_to_needs_resumed_weights(tmp_path, capsys):
    assert main(["train", "--config", "tiny", "--out", str(tmp_path), "--grow-to", "mid", "--valid-dir", ""]) == 2
    assert "--grow-to widens trained weights" in capsys.readouterr().err
