"""The classic codecs Pillow runs in memory: WebP (libwebp), JPEG 2000 (OpenJPEG) and JPEG
(libjpeg-turbo). ``msinn/baselines.py`` describes what each codes and how it is measured."""

from __future__ import annotations

import io
from collections.abc import Callable

from PIL import Image

from .classic import ClassicCodec, QualityRange


class PillowCodec(ClassicCodec):
    """A codec Pillow saves to memory in ``format`` (with ``save_args(quality)``) and reads back."""

    def __init__(self, name: str, label: str, chroma: str, quality_range: QualityRange, format: str,
                 save_args: Callable[[int], dict]):  # fmt: skip
        self.name, self.label, self.chroma, self.quality_range = name, label, chroma, quality_range
        self.format, self.save_args = format, save_args

    def compress(self, image: Image.Image, quality: int) -> bytes:
        buf = io.BytesIO()
        image.save(buf, self.format, **self.save_args(quality))
        return buf.getvalue()

    def decompress(self, data: bytes, size: tuple[int, int]) -> Image.Image:
        with Image.open(io.BytesIO(data)) as im:
            return im.convert("RGB")


def webp() -> PillowCodec:
    """Lossy WebP (4:2:0): ``quality=q, method=6``."""
    return PillowCodec("webp", "WebP (method 6)", "4:2:0", QualityRange(0, 100, higher_is_more_rate=True), "WEBP",
                       lambda q: {"quality": q, "method": 6})  # fmt: skip


def jpeg2000() -> PillowCodec:
    """JPEG 2000 (OpenJPEG): bare codestream, 9/7 wavelet, colour transform.

    The quality is the target rate in 1/100 bpp: OpenJPEG's ``rates`` mode with one layer at
    compression ratio ``2400 / quality`` against 24-bit RGB. OpenJPEG stops early on easy
    images, so very high settings give less than their target.
    """
    return PillowCodec("jpeg2000", "JPEG 2000 (OpenJPEG)", "4:4:4", QualityRange(1, 2400, higher_is_more_rate=True),
                       "JPEG2000", lambda q: {"no_jp2": True, "irreversible": True, "mct": 1,
                                              "quality_mode": "rates", "quality_layers": [2400 / q]})  # fmt: skip


def jpeg() -> PillowCodec:
    """Baseline JPEG (libjpeg-turbo): 4:2:0, optimised Huffman tables."""
    return PillowCodec("jpeg", "JPEG (libjpeg-turbo, 4:2:0)", "4:2:0", QualityRange(1, 95, higher_is_more_rate=True),
                       "JPEG", lambda q: {"quality": q, "subsampling": "4:2:0", "optimize": True})  # fmt: skip
