"""The three gain tables of MSINN-VRLIC (§3) and their interpolation at a real rate.

One row per rate anchor and one column per latent channel (138 = 48+48+24+12+6, coding
order). ``gain`` scales the mean-removed latent before rounding, ``inv_gain`` scales the
rounded residual back, ``scale_gain`` scales the predicted σ of the entropy model. Tables
are stored as logarithms, so the geometric interpolation v[a]^(1-f)·v[a+1]^f of the paper
is a linear one here and every table entry stays positive.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from .config import LATENT_CHANNELS, MSINNConfig


class _LowerBoundFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: Tensor, bound: Tensor) -> Tensor:
        ctx.save_for_backward(x, bound)
        return torch.max(x, bound)

    @staticmethod
    def backward(ctx, grad: Tensor) -> tuple[Tensor, None]:
        x, bound = ctx.saved_tensors
        return ((x >= bound) | (grad < 0)) * grad, None


class LowerBound(nn.Module):
    """max(x, bound), whose gradient passes where x ≥ bound or where descent raises x:
    CompressAI's ``compressai.ops.LowerBound``, with the same buffer (so the same weights files
    and ids). Written here because importing compressai costs ~3.6 s and ~0.3 GB at start-up,
    which real coding otherwise never pays (msinn/entropy.py, ``training_likelihoods``)."""

    def __init__(self, bound: float):
        super().__init__()
        self.register_buffer("bound", torch.tensor([float(bound)]))

    def forward(self, x: Tensor) -> Tensor:
        return _LowerBoundFunction.apply(x, self.bound)


class GainTables(nn.Module):
    def __init__(self, cfg: MSINNConfig):
        super().__init__()
        shape = (cfg.anchors, sum(LATENT_CHANNELS))
        self.log_gain = nn.Parameter(torch.zeros(shape))
        self.log_inv_gain = nn.Parameter(torch.zeros(shape))
        self.log_scale_gain = nn.Parameter(torch.zeros(shape))
        self.lower_bound = LowerBound(0.01)

    @property
    def anchors(self) -> int:
        return self.log_gain.shape[0]

    @torch.no_grad()
    def init_ladder(self, steps: Tensor, latent_scale: Tensor) -> None:
        """Start with quantisation step ``steps[a]`` (pixel units) at anchor a.

        steps: (A,); latent_scale: (138,) how much larger a latent channel is than the
        orthonormal transform coefficient it holds (the ActNorm scales on its path).
        """
        log_gain = -latent_scale.log()[None, :] - steps.log()[:, None]
        self.log_gain.copy_(log_gain)
        self.log_inv_gain.copy_(-log_gain)
        self.log_scale_gain.copy_(log_gain)

    @torch.no_grad()
    def extend(self, anchors: int) -> None:
        """Grow to ``anchors`` rows, the new ones copies of the last (the paper's 8 → 12
        wide-range fine-tune starts this way)."""
        extra = anchors - self.anchors
        if extra < 0:
            raise ValueError(f"cannot shrink gain tables from {self.anchors} to {anchors} anchors")
        for name in ("log_gain", "log_inv_gain", "log_scale_gain"):
            table = getattr(self, name)
            setattr(self, name, nn.Parameter(torch.cat([table, table[-1:].expand(extra, -1)])))

    def forward(self, rate: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """rate: (B,) real indices in [0, A−1] → gain, inv_gain, scale_gain, each (B, 138)."""
        if torch.any(rate < 0) or torch.any(rate > self.anchors - 1):
            raise ValueError(f"rate must be in [0, {self.anchors - 1}], got {rate.tolist()}")
        low = rate.floor().clamp(max=self.anchors - 2).long()
        frac = (rate - low).to(self.log_gain.dtype)[:, None]
        return tuple(
            self.lower_bound(((1 - frac) * table[low] + frac * table[low + 1]).exp())
            for table in (self.log_gain, self.log_inv_gain, self.log_scale_gain)
        )


def geometric_steps(first: float, last: float, anchors: int) -> Tensor:
    """(A,) quantisation steps from ``first`` to ``last``, evenly spaced in log."""
    return torch.exp(torch.linspace(math.log(first), math.log(last), anchors))
