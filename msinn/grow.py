"""Function-preserving widening (Net2Net-style): a larger config built from trained weights
that codes every image as the smaller model did, so training continues instead of restarting.

Only hidden widths grow (coupling subnets, cross-scale and checkerboard context CNNs, LRP);
the latents, gains, ActNorm statistics and post-filter are copied unchanged. In every weight
tensor (out, in, …) that grows, the old block is copied and::

    new rows    (incoming weights of new units): random, init_scale × the old tensor's std
    new columns (outgoing weights of new units into old units and outputs): zero
    new biases: zero

So every old unit, and so every output, sees exactly what it saw before (x·0 adds +0), while
the new units compute something from the start: their outgoing weights get a gradient on the
first step. With zero incoming weights too they would have no gradient at all.
"""

from __future__ import annotations

import dataclasses

import torch
from torch import Tensor

from .config import MSINNConfig
from .model import MSINN

# Config fields that may grow; every other field must be equal (the latent structure and
# everything coded around it stay as they are).
_WIDTHS = ("inn_hidden", "ctx_hidden", "lrp_hidden")


def check_growable(small: MSINNConfig, large: MSINNConfig) -> None:
    """Raise ValueError unless ``large`` differs from ``small`` only by wider hidden layers."""
    for f in dataclasses.fields(MSINNConfig):
        a, b = getattr(small, f.name), getattr(large, f.name)
        if f.name == "name":
            continue
        if f.name in _WIDTHS:
            if any(w_large < w_small for w_small, w_large in zip(a, b, strict=True)):
                raise ValueError(f"cannot grow {small.name!r} into {large.name!r}: {f.name} {b} is narrower than {a}")
        elif a != b:
            raise ValueError(
                f"cannot grow {small.name!r} into {large.name!r}: {f.name} differs ({a} vs {b}); only {', '.join(_WIDTHS)} may grow"
            )


def grown_config(small: MSINNConfig, target: MSINNConfig) -> MSINNConfig:
    """``small`` with ``target``'s name and hidden widths: what ``small``'s weights grow into
    (λ scale, anchors and post-filter stay those the weights were trained with)."""
    return dataclasses.replace(small, name=target.name, **{w: getattr(target, w) for w in _WIDTHS})


def widen_tensor(old: Tensor, shape: torch.Size, init_scale: float, generator: torch.Generator) -> Tensor:
    """``old`` (out, in, …) embedded in a tensor of ``shape`` as described in the module docstring."""
    if (
        len(shape) != old.dim()
        or any(n < o for n, o in zip(shape, old.shape, strict=True))
        or shape[2:] != old.shape[2:]
    ):
        raise ValueError(f"cannot widen a tensor of shape {tuple(old.shape)} to {tuple(shape)}")
    if old.dim() == 1:  # bias
        new = old.new_zeros(shape)
    else:
        std = float(old.float().std()) if old.numel() > 1 else 1.0
        new = torch.randn(shape, generator=generator, dtype=old.dtype) * (init_scale * std)
        new[: old.shape[0], old.shape[1] :] = 0  # new units → old units and outputs
    new[tuple(slice(0, n) for n in old.shape)] = old
    return new


@torch.no_grad()
def grow(model: MSINN, cfg: MSINNConfig, init_scale: float = 0.1, seed: int = 0) -> MSINN:
    """A new :class:`MSINN` of config ``cfg`` (wider than ``model.cfg``) that codes as ``model``.

    ``model`` is left as it is. The result is in ``model``'s mode, on the CPU in float32; its
    ActNorm layers count as initialised (never call ``initialise()`` on it: that would reset them).
    """
    check_growable(model.cfg, cfg)
    generator = torch.Generator().manual_seed(seed)
    large = MSINN(cfg)
    old_state = {
        k: v.detach().cpu().float() if v.is_floating_point() else v.detach().cpu()
        for k, v in model.state_dict().items()
    }
    state = {}
    for key, target in large.state_dict().items():
        if key not in old_state:
            raise ValueError(f"cannot grow: {key} has no counterpart in the {model.cfg.name!r} weights")
        old = old_state[key]
        state[key] = old if old.shape == target.shape else widen_tensor(old, target.shape, init_scale, generator)
    large.load_state_dict(state)
    return large.train(model.training)
