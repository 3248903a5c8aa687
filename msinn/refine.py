"""Encoder-side refinement (``effort``): better latents for this one image, same decoder.

The analysis transform is amortised: one network maps every image to its latents. For one
image at one rate, the encoder can do better by searching the latents directly against the
training objective R + λ(t)·255²·MSE through the whole decoding path (context models, LRP,
synthesis); the file format and the decoder do not change. Rounding has no useful gradient,
so the search uses stochastic Gumbel annealing (Yang, Bamler & Mandt, NeurIPS 2020): each
residual r is replaced by a soft sample between ⌊r⌋ and ⌈r⌉ whose temperature τ falls from
0.4 to 0.15. With the few steps an encoder can afford, ending that warm beat annealing down to
the hard-rounded objective (τ → 0.01); the hard-rounded objective is what picks the result
(below). One sample per element serves the reconstruction, the checkerboard context and the
rate, whose likelihood is computed on the soft residuals (CompressAI's eval path rounds, which
has no rate gradient).

Latents are moved in quantisation bins: y = y₀ + u / g(t) with g the gain of each channel, so
one learning rate suits every rate. The hard-rounded objective is not monotone under annealing:
every ``check_every`` steps the current latents are scored hard-rounded, and the best (the
analysis output included) is what gets coded.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import Tensor

from .model import MSINN

# (Adam steps, learning rate in bins per step) per effort level: effort 1 is sized to fit the
# bar of 30 s per Kodak image and rate on a CPU; how they were tuned: README.md, "Encoder effort".
EFFORTS = {0: (0, 0.0), 1: (80, 0.01), 2: (200, 0.01)}


def effort_settings(effort: int) -> tuple[int, float]:
    """(steps, lr) of an effort level; ValueError for anything else."""
    if isinstance(effort, bool) or effort not in EFFORTS:
        raise ValueError(f"effort must be one of {sorted(EFFORTS)}, got {effort!r}")
    return EFFORTS[effort]


def lambda_at(model: MSINN, rate: float) -> float:
    """λ of a real rate index: geometric interpolation between the two anchors around it."""
    lambdas = model.cfg.lambdas
    low = min(int(math.floor(rate)), len(lambdas) - 2)
    frac = rate - low
    return lambdas[low] ** (1 - frac) * lambdas[low + 1] ** frac


def soft_round(tau: float, generator: torch.Generator) -> Callable[[Tensor], Tensor]:
    """Stochastic Gumbel annealing at temperature ``tau``: r → a relaxed sample of ⌊r⌋ or ⌊r⌋+1,
    each favoured by exp(−atanh(distance)/τ); the gradient flows through the weights."""

    def quantise(r: Tensor) -> Tensor:
        low = torch.floor(r.detach())
        up = r - low  # distance to ⌊r⌋, in [0, 1)
        eps = 1e-5
        logits = torch.stack([-torch.atanh(up.clamp(eps, 1 - eps)), -torch.atanh((1 - up).clamp(eps, 1 - eps))]) / tau
        u = torch.rand(logits.shape, generator=generator, device=r.device, dtype=r.dtype).clamp_min(1e-20)
        weights = torch.softmax((logits - torch.log(-torch.log(u))) / tau, dim=0)
        return low + weights[1]

    return quantise


def objective(model: MSINN, ys: list[Tensor], x: Tensor, rate: Tensor, lam: float, size: tuple[int, int], quantise) -> Tensor:
    """bpp + λ·255²·MSE of the image x (1, 3, H', W') padded, scored on its unpadded ``size``,
    the reconstruction taken before the post-filter."""
    h, w = size
    # Without the post-filter: its forward and backward at full resolution in every step took
    # effort 1 from ~25 s to ~40 s per Kodak image and rate; it adds a near-constant 0.03–0.14 dB
    # almost whatever the latents, so the search scores the reconstruction before it.
    out = model.forward_latents(ys, rate, quantise, post_filter=False)
    bits = -sum(torch.log2(lik).sum() for lik in out["likelihoods"].values())
    mse = (out["x_hat"][..., :h, :w] - x[..., :h, :w]).pow(2).mean()
    return bits / (h * w) + lam * 255**2 * mse


def refine(model: MSINN, x: Tensor, ys: list[Tensor], rate: float, steps: int, size: tuple[int, int],
           lr: float = 0.01, tau: tuple[float, float] = (0.4, 0.15), check_every: int = 8,
           progress: Callable[[int, int], None] | None = None) -> list[Tensor]:  # fmt: skip
    """Latents [y1 … y5] that code ``x`` better at ``rate`` than ``ys`` (the analysis of x).

    model: float32 MSINN in eval mode; x (1, 3, H', W') padded; size (h, w) unpadded. Returns
    the best latents found (by the hard-rounded objective), ``ys`` themselves if none beat them.
    """
    if steps <= 0:
        return ys
    rate_t = torch.tensor([rate], dtype=x.dtype, device=x.device)
    lam = lambda_at(model, rate)
    with torch.no_grad():  # per-channel gains, coding order y5 … y1 → analysis order y1 … y5
        gains = [g for g, _, _ in model.slice_gains(rate_t)][::-1]
    u = [torch.zeros_like(y, requires_grad=True) for y in ys]
    optimizer = torch.optim.Adam(u, lr=lr)
    generator = torch.Generator(device=x.device).manual_seed(0)  # same input → same file

    def latents() -> list[Tensor]:
        return [y + d / g for y, d, g in zip(ys, u, gains, strict=True)]

    def hard_score() -> float:
        with torch.no_grad():
            return float(objective(model, latents(), x, rate_t, lam, size, torch.round))

    best, best_score = ys, hard_score()
    for i in range(steps):
        t = tau[0] * (tau[1] / tau[0]) ** (i / max(steps - 1, 1))
        loss = objective(model, latents(), x, rate_t, lam, size, soft_round(t, generator))
        # gradients for u only: backward() would also compute every weight's gradient, since
        # the model's parameters require grad (a step 1.3× dearer)
        for d, grad in zip(u, torch.autograd.grad(loss, u), strict=True):
            d.grad = grad
        optimizer.step()
        if (i + 1) % check_every == 0 or i == steps - 1:
            score = hard_score()
            if score < best_score:
                best, best_score = [y.detach().clone() for y in latents()], score
        if progress is not None:
            progress(i + 1, steps)
    return best
