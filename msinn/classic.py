"""The interface every classic codec implements (``msinn/baselines.py`` lists them): compress
RGB at an integer quality, decompress it back, and measure the real file with the library's
one :func:`msinn.measure`."""

from __future__ import annotations

from abc import ABC, abstractmethod
from functools import partial
from typing import NamedTuple

from PIL import Image

from .measurement import Measured, measure


class BaselineError(RuntimeError):
    """A classic codec failed: ffmpeg exited non-zero, timed out or could not start."""


class QualityRange(NamedTuple):
    """Integer settings ``lo..hi``; ``higher_is_more_rate`` tells the costly end."""

    lo: int
    hi: int
    higher_is_more_rate: bool


# A classic codec's result is the library's one result type: ``quality`` is its setting.
BaselineResult = Measured


class ClassicCodec(ABC):
    """A classic codec: ``compress`` RGB at an integer quality, ``decompress`` it back.

    Subclasses set ``name`` (registry key), ``label`` (for legends), ``chroma`` and
    ``quality_range``.
    """

    name: str
    label: str
    chroma: str
    quality_range: QualityRange

    @abstractmethod
    def compress(self, image: Image.Image, quality: int) -> bytes:
        """Code an RGB image; return the bytes that count towards the rate."""

    @abstractmethod
    def decompress(self, data: bytes, size: tuple[int, int]) -> Image.Image:
        """Decode ``data`` to an RGB image of ``size`` (width, height)."""

    def _check_quality(self, quality: int) -> None:
        lo, hi, _ = self.quality_range
        if not lo <= quality <= hi:
            raise ValueError(
                f"{self.name}: quality must be in {lo}..{hi}, got {quality}"
            )

    def encode(self, image: Image.Image, quality: int) -> tuple[bytes, Image.Image]:
        """Compress and decompress ``image``; return (bytes, decoded RGB image)."""
        self._check_quality(quality)
        x = image.convert("RGB")
        data = self.compress(x, quality)
        return data, self.decompress(data, x.size)

    def measure(self, image: Image.Image, quality: int) -> Measured:
        """Code ``image`` at ``quality``; measure bpp, PSNR, MS-SSIM and both times."""
        self._check_quality(quality)
        x = image.convert("RGB")
        return measure(self, x, quality, decompress=partial(self.decompress, size=x.size))

    def measure_file(self, image: Image.Image, quality: int, data: bytes) -> Measured:
        """Decode ``data``, made by ``compress(image, quality)``, timed, and measure it against
        ``image``; encode_s is None (whoever made the file timed it)."""
        x = image.convert("RGB")
        return measure(self, x, quality, encoded=data, decompress=partial(self.decompress, size=x.size))
