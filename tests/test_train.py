"""Training: a few steps run, checkpoint, resume, and run under torchrun with 2 processes."""

from __future__ import annotations

import csv
import dataclasses
import subprocess
import sys

import pytest
import torch
from conftest import ASSETS

from msinn.cli import main
from msinn.config import get_config
from msinn.model import MSINN
from msinn.train import add_post_filter, append_csv, learning_rate
from msinn.weights import load_weights, save_weights

TINY = ["--config", "tiny", "--crop", "64", "--batch", "2", "--train-dirs", str(ASSETS), "--log-every", "1"]


def test_learning_rate_is_a_step_function_of_the_step():
    assert learning_rate(0, 1e-3, [10, 20], 0.1) == 1e-3
    assert learning_rate(10, 1e-3, [10, 20], 0.1) == 1e-3 * 0.1
    assert abs(learning_rate(25, 1e-3, [10, 20], 0.1) - 1e-5) < 1e-12


def test_train_checkpoints_logs_and_resumes(tmp_path):
    out = tmp_path / "run"
    args = ["train", *TINY, "--out", str(out), "--valid-dir", str(ASSETS), "--valid-crop", "64", "--valid-every", "3"]
    assert main([*args, "--steps", "3"]) == 0
    ckpt = torch.load(out / "checkpoint.pt", weights_only=False)
    assert ckpt["step"] == 3 and ckpt["config"]["name"] == "tiny"
    rows = list(csv.DictReader((out / "log.csv").read_text().splitlines()))
    assert [r["step"] for r in rows] == ["1", "2", "3"] and float(rows[-1]["bpp"]) > 0
    valid = list(csv.DictReader((out / "valid.csv").read_text().splitlines()))
    assert valid[0]["step"] == "3" and float(valid[0]["val_bpp_0"]) > 0
    assert main([*args, "--steps", "2", "--resume", str(out / "checkpoint.pt")]) == 0
    assert torch.load(out / "checkpoint.pt", weights_only=False)["step"] == 5
    valid = list(csv.DictReader((out / "valid.csv").read_text().splitlines()))
    assert [r["step"] for r in valid] == ["3", "5"]  # the last weights are validated even off the period
    assert float(list(csv.DictReader((out / "log.csv").read_text().splitlines()))[-1]["crops_s"]) > 0
    model, _, meta = load_weights(out / "checkpoint.safetensors")
    assert meta["step"] == "5" and model.cfg.name == "tiny"


def test_train_runs_distributed_with_two_cpu_processes(tmp_path):
    out = tmp_path / "ddp"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", "29517",
           "-m", "msinn", "train", *TINY, "--out", str(out), "--valid-dir", "", "--steps", "2", "--device", "cpu"]  # fmt: skip
    subprocess.run(cmd, check=True, timeout=300, capture_output=True)
    assert torch.load(out / "checkpoint.pt", weights_only=False)["step"] == 2


def test_extending_anchors_copies_the_last_gain_row_and_trains(tmp_path):
    out = tmp_path / "run"
    base = ["train", *TINY, "--out", str(out), "--valid-dir", ""]
    assert main([*base, "--steps", "1"]) == 0
    before, _, _ = load_weights(out / "checkpoint.safetensors")
    assert main([*base, "--steps", "1", "--resume", str(out / "checkpoint.pt"), "--extend-anchors", "6", "--lr", "0"]) == 0
    after, _, _ = load_weights(out / "checkpoint.safetensors")
    assert after.cfg.anchors == 6 and after.gains.log_gain.shape[0] == 6
    assert torch.equal(after.gains.log_gain[4], before.gains.log_gain[3])
    assert torch.equal(after.gains.log_gain[:4], before.gains.log_gain)


def test_a_post_filter_added_to_trained_weights_trains_alone(tmp_path):
    """--add-post-filter + --train-only: the new filter learns; every other tensor, and so
    every coded symbol, stays as it was."""
    cfg = dataclasses.replace(get_config("tiny"), post_filter=0)
    model = MSINN(cfg)
    model.initialise(torch.rand(2, 3, 64, 64))
    save_weights(model, tmp_path / "plain.safetensors")
    before, _, _ = load_weights(tmp_path / "plain.safetensors")
    out = tmp_path / "run"
    args = ["train", *TINY, "--out", str(out), "--valid-dir", "", "--steps", "3", "--lr", "1e-2", "--fp32",
            "--resume", str(tmp_path / "plain.safetensors"), "--add-post-filter", "4", "--train-only", "post_filter."]  # fmt: skip
    assert main(args) == 0
    after, _, _ = load_weights(out / "checkpoint.safetensors")
    assert after.cfg.post_filter == 4 and before.post_filter is None
    assert after.post_filter.tail.weight.abs().sum() > 0  # the tail starts at zero: it trained
    old = before.state_dict()
    assert all(torch.equal(v, old[k]) for k, v in after.state_dict().items() if not k.startswith("post_filter."))


def test_train_only_refuses_a_prefix_that_matches_nothing(tmp_path, capsys):
    assert main(["train", *TINY, "--out", str(tmp_path / "run"), "--valid-dir", "", "--steps", "1", "--train-only", "nothing."]) != 0
    assert "matches no parameter" in capsys.readouterr().err


def test_an_added_post_filter_starts_as_the_identity():
    model = MSINN(dataclasses.replace(get_config("tiny"), post_filter=0))
    model.initialise(torch.rand(2, 3, 64, 64))
    model.eval()
    x, rate = torch.rand(1, 3, 64, 64), torch.tensor([1.5])
    with torch.no_grad():
        before = model(x, rate)["x_hat"]
        add_post_filter(model, 4)
        assert torch.equal(model(x, rate)["x_hat"], before)
    with pytest.raises(ValueError, match="even width"):
        add_post_filter(model, 3)


def test_a_log_keeps_its_columns_when_a_newer_trainer_appends(tmp_path):
    log = tmp_path / "log.csv"
    append_csv(log, {"step": 1, "loss": 2.0})
    append_csv(log, {"step": 2, "crops_s": 9.0, "loss": 1.5})
    rows = list(csv.DictReader(log.read_text().splitlines()))
    assert rows == [{"step": "1", "loss": "2.0"}, {"step": "2", "loss": "1.5"}]


def test_the_gain_lower_bound_is_compressais_forward_and_backward():
    from compressai.ops import LowerBound as CompressAILowerBound

    from msinn.gains import LowerBound

    x = torch.tensor([0.001, 0.005, 0.01, 0.02, 0.5, 0.003], requires_grad=True)
    grad = torch.tensor([1.0, -1.0, 1.0, -1.0, 1.0, -2.0])  # descent that lowers x and that raises it
    ours, theirs = LowerBound(0.01), CompressAILowerBound(0.01)
    assert ours.state_dict().keys() == theirs.state_dict().keys()
    torch.testing.assert_close(ours.bound, theirs.bound, rtol=0, atol=0)
    (a,) = torch.autograd.grad(ours(x), x, grad)
    (b,) = torch.autograd.grad(theirs(x), x, grad)
    torch.testing.assert_close(ours(x), theirs(x), rtol=0, atol=0)
    torch.testing.assert_close(a, b, rtol=0, atol=0)
    assert a.tolist() == [0.0, -1.0, 1.0, -1.0, 1.0, -2.0]  # below the bound only a push upwards passes


def test_the_post_filter_trains_in_fp32_under_bf16_autocast():
    # A post-filter trained in bf16 loses PSNR in the float64 decoder; the transform may use bf16.
    model = MSINN(dataclasses.replace(get_config("tiny"), post_filter=4))
    model.initialise(torch.rand(2, 3, 64, 64))
    seen = {}

    def record(name):
        def hook(module, args, out):
            seen[name] = out.dtype

        return hook

    for name, module in model.named_modules():
        if isinstance(module, torch.nn.Conv2d):
            module.register_forward_hook(record(name))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = model(torch.rand(2, 3, 64, 64), torch.tensor([0.0, 2.0]))
    post = {n: d for n, d in seen.items() if n.startswith("post_filter.")}
    assert post and set(post.values()) == {torch.float32}
    assert torch.bfloat16 in {d for n, d in seen.items() if not n.startswith("post_filter.")}
    assert out["x_hat"].dtype == torch.float32
