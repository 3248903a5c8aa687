"""Measuring a coded image through real bytes, for MSINN and the classic codecs alike.

    m = measure(codec, image, rate)                       # compress, decompress, measure
    m = measure(codec, image, enc.rate, encoded=enc, decode=False)   # an Encoded, not decoded
    m = decode_checked(m, codec.decompress)               # decode it later: timed and checked

bpp is :func:`msinn.metrics.bits_per_pixel`, 8·len(file)/(W·H) of the unpadded image, the only bpp formula
in the library; PSNR and MS-SSIM are :mod:`msinn.metrics` on 8-bit RGB. A file with an
encoder's reconstruction (an MSINN ``Encoded``) must decode to it bit for bit.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
from PIL import Image

from .codec import Encoded
from .metrics import bits_per_pixel, ms_ssim, psnr

# CompressAI's ``results`` keys, in the order of :meth:`Measured.row`.
RESULT_KEYS = ("bpp", "psnr-rgb", "ms-ssim-rgb", "encoding_time", "decoding_time")



@dataclass(frozen=True)
class Measured:
    """One image coded at one setting: the file, the image it decodes to, and its numbers.

    ``setting`` is MSINN's rate index or a classic codec's quality. ``image`` is the decoded
    image, or the encoder's reconstruction (identical bit for bit) while ``decode_s`` is None.
    ``encoded``: MSINN's :class:`~msinn.codec.Encoded` when the result came from one (with the
    per-element bits a viewer draws). ``reached``: False when ``baselines.at_bpp``'s target lay
    outside the codec's range.
    """

    codec: str  # the codec's name: MSINN's weights ("msinn-lite") or a classic key ("jpeg")
    setting: float
    data: bytes = field(repr=False)
    image: Image.Image = field(repr=False)
    bpp: float
    psnr: float
    ms_ssim: float
    encode_s: float | None  # None where the caller made the file and timed it itself
    decode_s: float | None = None  # None until the file was decoded
    effort: int = 0
    encoded: Encoded | None = field(default=None, repr=False)
    reached: bool = True

    @property
    def rate(self) -> float:
        """MSINN's rate index (the setting)."""
        return self.setting

    @property
    def quality(self) -> int:
        """A classic codec's quality (the setting)."""
        return int(self.setting)

    def row(self) -> tuple[float, ...]:
        """(bpp, psnr, ms_ssim, encode_s, decode_s): the values of :data:`RESULT_KEYS`."""
        return self.bpp, self.psnr, self.ms_ssim, self.encode_s, self.decode_s


def _timed(call: Callable[..., Any], *args: Any, **kwargs: Any) -> tuple[Any, float]:
    start = time.perf_counter()
    out = call(*args, **kwargs)
    return out, time.perf_counter() - start


def measure(
    codec: Any,
    image: Image.Image,
    setting: float,
    encoded: Encoded | bytes | None = None,
    decode: bool = True,
    effort: int = 0,
    decompress: Callable[[bytes], Image.Image] | None = None,
) -> Measured:
    """Code ``image`` (RGB) at ``setting`` through real bytes and measure it.

    ``codec``: anything with ``name`` and ``compress(image, setting) -> bytes`` (MSINN's
    :class:`~msinn.codec.Codec`, a classic codec). Without ``encoded`` it makes the file
    (timed; MSINN at ``effort``). ``encoded`` is measured instead: an MSINN ``Encoded`` of
    ``image``, whose reconstruction is the decoder's bit for bit, so with ``decode=False``
    quality is measured on it and decode_s is None; or a file's bytes made elsewhere
    (encode_s None). ``decompress(data)`` (default ``codec.decompress``) decodes, timed; a
    file with a reconstruction must decode to it (RuntimeError otherwise). A file without
    one is always decoded: its quality is measured on what it decodes to.
    """
    decompress = decompress or codec.decompress
    reconstruction = encode_s = None
    if encoded is None:
        data, encode_s = _timed(codec.compress, image, setting, **({"effort": effort} if effort else {}))
    elif isinstance(encoded, bytes):
        data, encoded = encoded, None
    else:
        data, reconstruction, encode_s, setting = encoded.data, encoded.image, encoded.encode_s, encoded.rate
    if reconstruction is None:
        decoded, decode_s = _timed(decompress, data)
        return _measured(codec.name, setting, image, data, decoded, encode_s, decode_s, effort)
    result = _measured(codec.name, setting, image, data, reconstruction, encode_s, None, effort, encoded)
    return decode_checked(result, decompress) if decode else result


def _measured(
    codec: str,
    setting: float,
    image: Image.Image,
    data: bytes,
    out: Image.Image,
    encode_s: float | None,
    decode_s: float | None,
    effort: int,
    encoded: Encoded | None = None,
) -> Measured:
    """The numbers of ``out``, what ``data`` decodes to, against the original ``image``."""
    return Measured(codec, setting, data, out, bits_per_pixel(len(data), image.size), psnr(image, out),
                    ms_ssim(image, out), encode_s, decode_s, effort, encoded)  # fmt: skip


def decode_checked(result: Measured, decompress: Callable[[bytes], Image.Image]) -> Measured:
    """``result`` with its file decoded by ``decompress`` (timed, in ``decode_s``); RuntimeError
    unless the decoded image is ``result.image`` bit for bit."""
    decoded, decode_s = _timed(decompress, result.data)
    if decoded.size != result.image.size or decoded.tobytes() != result.image.tobytes():
        raise RuntimeError(f"the {result.codec} file at setting {result.setting:g} does not decode to the encoder's reconstruction")
    return replace(result, decode_s=decode_s)


def results_table(measured: Sequence[Sequence[Measured]]) -> dict[str, list[float]]:
    """CompressAI ``results`` lists from ``measured[image][setting]``: per key one value per
    setting, the mean over images (PSNR averaged in dB, as CompressAI does)."""
    rows = np.array([[m.row() for m in per_image] for per_image in measured], dtype=float)  # (images, settings, 5)
    return {key: rows[:, :, n].mean(axis=0).tolist() for n, key in enumerate(RESULT_KEYS)}
