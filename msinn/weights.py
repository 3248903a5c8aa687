"""Weights files: safetensors (fp32) with the config in the metadata, and the weights id.

The id (8 bytes of a SHA-256 over the config, every tensor and the coding tables' id) is
written into each bitstream, so a file is never decoded with weights or tables other than
those that encoded it.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, safe_open, save_file

from .coding import TABLES_ID
from .config import MSINNConfig
from .model import MSINN


def weights_state(model: MSINN) -> dict[str, torch.Tensor]:
    """The model's learned state: parameters and buffers, float32 on the CPU."""
    return {
        k: v.detach().cpu().float().contiguous() if v.is_floating_point() else v.detach().cpu().contiguous()
        for k, v in model.state_dict().items()
    }


def weights_id(state: dict[str, torch.Tensor], cfg: MSINNConfig) -> bytes:
    """8-byte id of a set of weights: SHA-256 over the config, every tensor (key order) and
    the coding tables' id."""
    h = hashlib.sha256(json.dumps(cfg.to_dict(), sort_keys=True).encode() + TABLES_ID)
    for key in sorted(state):
        t = state[key]
        h.update(f"{key}:{t.dtype}:{tuple(t.shape)}".encode())
        h.update(t.numpy().tobytes())
    return h.digest()[:8]


def save_weights(model: MSINN, path: str | Path, **metadata: str | int | float) -> bytes:
    """Write fp32 safetensors with the config (and any extra string-able metadata); return the id."""
    state = weights_state(model)
    meta = {"format": "msinn", "config": json.dumps(model.cfg.to_dict())}
    meta.update({k: str(v) for k, v in metadata.items()})
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    save_file(state, str(path), metadata=meta)
    return weights_id(state, model.cfg)


def read_metadata(path: str | Path) -> dict[str, str]:
    with safe_open(str(path), framework="pt") as f:
        return f.metadata() or {}


def read_weights(path: str | Path) -> tuple[dict[str, torch.Tensor], MSINNConfig, dict]:
    """(tensors, config, metadata) of an MSINN weights file; ValueError for anything else."""
    try:
        meta = read_metadata(path)
        state = load_file(str(path))
    except (SafetensorError, OSError) as e:
        raise ValueError(f"cannot read weights {path}: {e}") from e
    if meta.get("format") != "msinn" or "config" not in meta:
        raise ValueError(f"{path} is not an MSINN weights file (no msinn config in its metadata)")
    return state, MSINNConfig.from_dict(json.loads(meta["config"])), meta


def weights_file_id(path: str | Path) -> bytes:
    """The id of the weights in a file, as written into the files they encode."""
    state, cfg, _ = read_weights(path)
    return weights_id(state, cfg)


def load_weights(path: str | Path, device: str | torch.device = "cpu") -> tuple[MSINN, bytes, dict]:
    """Build the model from the file's own config and load it (float32).

    Returns (model in eval mode, weights id, metadata). Raises ValueError for files that are
    not MSINN weights.
    """
    state, cfg, meta = read_weights(path)
    model = MSINN(cfg)
    try:
        missing, unexpected = model.load_state_dict(state, strict=False)
    except RuntimeError as e:  # shape mismatches: one line, not torch's report
        raise ValueError(f"{path} does not match config {cfg.name!r}: {str(e).strip().splitlines()[-1].strip()}") from None
    if missing or unexpected:
        raise ValueError(f"{path} does not match config {cfg.name!r}: missing {missing[:3]}, unexpected {unexpected[:3]}")
    model.to(device).eval()
    return model, weights_id(state, cfg), meta
