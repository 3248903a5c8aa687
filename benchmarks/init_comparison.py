"""Haar-initialised vs random-orthogonal invertible 1x1 convs: which trains faster?

    python -m benchmarks.init_comparison --steps 1500 --every 500

Trains the ``lite`` config twice from scratch, identical except for ``init`` (same seed, same
crops, same anchors), and prints validation bpp / PSNR on the held-out CID22 folder at the
lowest, a middle and the highest anchor, plus a Bjøntegaard delta between the two runs' curves
(estimated bits, eval-mode rounding).
"""

from __future__ import annotations

import argparse
import dataclasses
import random

import torch

from msinn.config import get_config
from msinn.metrics import bd_rate
from msinn.model import MSINN
from msinn.train import (
    DEFAULT_TRAIN,
    DEFAULT_VALID,
    CropSampler,
    autocast_context,
    image_files,
    rd_loss,
    validate,
    validation_set,
)


def run(init: str, steps: int, every: int, x_val: torch.Tensor, files: list) -> list[tuple[int, dict]]:
    torch.manual_seed(0)
    sampler = CropSampler(files, 128, seed=0)
    model = MSINN(dataclasses.replace(get_config("lite"), init=init))
    model.initialise(sampler.batch(16))
    model = model.to(memory_format=torch.channels_last)
    optimizer = torch.optim.Adam([
        {"params": [p for n, p in model.named_parameters() if not n.startswith("gains.")], "lr": 3e-4},
        {"params": model.gains.parameters(), "lr": 3e-3},
    ])  # fmt: skip
    lambdas = torch.tensor(model.cfg.lambdas)
    rng = random.Random(0)
    history = [(0, validate(model, x_val, torch.device("cpu")))]
    for step in range(1, steps + 1):
        x = sampler.batch(8).contiguous(memory_format=torch.channels_last)
        anchor = torch.tensor([rng.randrange(model.anchors) for _ in range(8)])
        with autocast_context(torch.device("cpu"), True):
            out = model(x, anchor.float())
        loss = rd_loss(out, x, lambdas[anchor])["loss"]
        optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        if step % every == 0:
            history.append((step, validate(model, x_val, torch.device("cpu"))))
    return history


def curve(stats: dict) -> tuple[list[float], list[float]]:
    anchors = sorted(int(k.rsplit("_", 1)[1]) for k in stats if k.startswith("val_bpp_"))
    return [stats[f"val_bpp_{a}"] for a in anchors], [stats[f"val_psnr_{a}"] for a in anchors]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--steps", type=int, default=1500)
    p.add_argument("--every", type=int, default=500)
    args = p.parse_args()
    x_val = validation_set(DEFAULT_VALID, 256)
    files = image_files(DEFAULT_TRAIN)
    runs = {init: run(init, args.steps, args.every, x_val, files) for init in ("haar", "orthogonal")}
    for (step, haar), (_, orth) in zip(runs["haar"], runs["orthogonal"], strict=False):
        (hb, hp), (ob, op) = curve(haar), curve(orth)
        pts = " | ".join(f"a{a}: haar {b1:.3f} bpp {p1:.2f} dB, orth {b2:.3f} bpp {p2:.2f} dB"
                         for a, b1, p1, b2, p2 in zip((0, 4, 7, 11), hb, hp, ob, op, strict=False))  # fmt: skip
        try:
            bd = f"{bd_rate(ob, op, hb, hp):+.1f}%"
        except ValueError:
            bd = "n/a (curves do not overlap)"
        print(f"step {step}: {pts}\n   BD-rate of haar vs orthogonal: {bd}")


if __name__ == "__main__":
    main()
