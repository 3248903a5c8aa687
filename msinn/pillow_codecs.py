"""The classic codecs Pillow runs in memory: WebP (libwebp), JPEG 2000 (OpenJPEG) and JPEG
(libjpeg-turbo). ``msinn/baselines.py`` describes what each codes and how it is measured."""

from __future__ import annotations

import io
from abc import abstractmethod

from PIL import Image

from .classic import ClassicCodec, QualityRange


class PillowCodec(ClassicCodec):
    """A codec Pillow saves to memory and reads back; subclasses give ``save_args``."""

    format: str

    @abstractmethod
    def save_args(self, quality: int) -> dict:
        """Keyword arguments for ``Image.save``."""

    def compress(self, image: Image.Image, quality: int) -> bytes:
        buf = io.BytesIO()
        image.save(buf, self.format, **self.save_args(quality))
        return buf.getvalue()

    def decompress(self, data: bytes, size: tuple[int, int]) -> Image.Image:
        with Image.open(io.BytesIO(data)) as im:
            return im.convert("RGB")


class WebP(PillowCodec):
    """Lossy WebP (4:2:0) via Pillow: ``quality=q, method=6``."""

    name = "webp"
    label = "WebP (method 6)"
    chroma = "4:2:0"
    quality_range = QualityRange(0, 100, higher_is_more_rate=True)
    format = "WEBP"

    def save_args(self, quality: int) -> dict:
        return {"quality": quality, "method": 6}


class JPEG2000(PillowCodec):
    """JPEG 2000 via Pillow/OpenJPEG: bare codestream, 9/7 wavelet, colour transform.

    The quality is the target rate in 1/100 bpp: OpenJPEG's ``rates`` mode with one
    layer at compression ratio ``2400 / quality`` against 24-bit RGB. OpenJPEG stops
    early on easy images, so very high settings give less than their target.
    """

    name = "jpeg2000"
    label = "JPEG 2000 (OpenJPEG)"
    chroma = "4:4:4"
    quality_range = QualityRange(1, 2400, higher_is_more_rate=True)
    format = "JPEG2000"

    def save_args(self, quality: int) -> dict:
        ratio = 2400 / quality
        return {"no_jp2": True, "irreversible": True, "mct": 1,
                "quality_mode": "rates", "quality_layers": [ratio]}  # fmt: skip


class JPEG(PillowCodec):
    """Baseline JPEG via Pillow/libjpeg-turbo: 4:2:0, optimised Huffman tables."""

    name = "jpeg"
    label = "JPEG (libjpeg-turbo, 4:2:0)"
    chroma = "4:2:0"
    quality_range = QualityRange(1, 95, higher_is_more_rate=True)
    format = "JPEG"

    def save_args(self, quality: int) -> dict:
        return {"quality": quality, "subsampling": "4:2:0", "optimize": True}
