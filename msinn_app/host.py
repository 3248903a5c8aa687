"""The host the demo runs on, read from the environment once, in ``app.py``:

- ``MSINN_WEIGHTS``: a .safetensors path or a name in weights/; default: lite on a CPU host,
  the quality model ``msinn-mid`` on a GPU when it is shipped;
- ``MSINN_THREADS``: torch CPU threads per model call (default 1: the lanes run calls side by side);
- ``MSINN_WORKERS``: model calls at once (default 2);
- ``MSINN_FILES_MB``: cap on the files kept for viewing and download (default 2000).

The model runs on CUDA when present; on Hugging Face ZeroGPU (``spaces`` installed and
``SPACES_ZERO_GPU`` set) every model call goes through ``spaces.GPU``.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from PIL import Image

import msinn


@dataclass(frozen=True)
class Host:
    weights: str | None
    threads: int
    workers: int
    files_bytes: int
    files_root: Path
    zero_gpu: bool

    @classmethod
    def from_env(cls) -> Host:
        zero_gpu = _spaces() is not None and os.environ.get("SPACES_ZERO_GPU", "").lower() in ("1", "true")
        return cls(
            weights=os.environ.get("MSINN_WEIGHTS") or None,
            threads=int(os.environ.get("MSINN_THREADS", "1")),
            workers=int(os.environ.get("MSINN_WORKERS", "2")),
            files_bytes=int(os.environ.get("MSINN_FILES_MB", "2000")) << 20,
            files_root=Path(tempfile.gettempdir()) / f"msinn-files-{os.getpid()}",
            zero_gpu=zero_gpu,
        )

    def model(self) -> str | None:
        """``MSINN_WEIGHTS`` if set; else the quality model on a GPU host (when shipped); else
        the default, lite, sized to code in about a second on 2 CPU cores."""
        if self.weights:
            return self.weights
        if (self.zero_gpu or torch.cuda.is_available()) and "msinn-mid" in msinn.shipped_models():
            return "msinn-mid"
        return None

    @property
    def hardware(self) -> str:
        return "ZeroGPU" if self.zero_gpu else ("CUDA" if torch.cuda.is_available() else "CPU")

    def load(self) -> msinn.Codec:
        torch.set_num_threads(self.threads)
        return msinn.load(self.model(), device="cuda" if self.zero_gpu else None)

    def session_codec(self, codec: msinn.Codec) -> Any:
        """What image sessions code with: the codec, or on ZeroGPU one whose model calls run in
        the GPU process."""
        return ZeroGPUCodec(codec) if self.zero_gpu else codec


def _spaces() -> Any:
    try:  # Hugging Face ZeroGPU: CUDA exists only inside functions decorated with spaces.GPU
        import spaces
    except ImportError:
        return None
    return spaces


class ZeroGPUCodec:
    """The codec as image sessions use it on ZeroGPU (``msinn_app.session.SessionCodec``): its
    two model calls go through ``spaces.GPU`` (arguments and results must then be CPU data).
    No analysis is kept between calls: :meth:`prepare` returns the image, and each encode
    analyses it again, in the GPU call."""

    def __init__(self, codec: msinn.Codec, gpu: Callable[[Callable], Callable] | None = None):
        """``gpu``: the decorator that moves a call into the GPU process (default
        ``spaces.GPU(duration=60)``)."""
        self.codec = codec
        self.name, self.rate_range = codec.name, codec.rate_range
        gpu = gpu or _spaces().GPU(duration=60)
        self._encode: Callable[..., msinn.Encoded] = gpu(codec.encode)
        self._decompress: Callable[[bytes], Image.Image] = gpu(codec.decompress)

    def check_rate(self, rate: float) -> float:
        return self.codec.check_rate(rate)

    def prepare(self, image: Image.Image) -> Image.Image:
        return image

    def encode(self, source: Image.Image, rate: float, details: bool = False, effort: int = 0,
               progress: Callable[[int, int], None] | None = None) -> msinn.Encoded:  # fmt: skip
        """``progress`` stays in this process (a callback cannot cross into the GPU one): a
        refinement there shows no steps and cannot be stopped before it ends."""
        return self._encode(source, rate, details=details, effort=effort)

    def decompress(self, data: bytes) -> Image.Image:
        return self._decompress(data)

    def rate_for_bpp(self, source: Image.Image, target_bpp: float, encode: Callable[[float], msinn.Encoded],
                     known: list[msinn.Encoded], step: float) -> msinn.Encoded:  # fmt: skip
        return self.codec.rate_for_bpp(source, target_bpp, encode=encode, known=known, step=step)
