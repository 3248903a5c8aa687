"""Classic image codecs on a user's image, behind one interface.

======== ====================================== ============ =========================
key      engine                                 chroma       quality (more rate when)
======== ====================================== ============ =========================
vvc      vvenc (ffmpeg libvvenc), ffmpeg's       4:2:0 10-bit QP 0..63 (lower)
         native VVC decoder, -qpa 0
hevc     x265 (ffmpeg libx265), -tune psnr      4:4:4 8-bit  QP 0..51 (lower)
av1      libaom (ffmpeg libaom-av1), still      4:4:4 8-bit  CRF 0..63 (lower)
         picture, cpu-used 4; libdav1d decodes
jxl      libjxl (ffmpeg), effort 7, XYB         4:4:4        cjxl quality 11..99
                                                             (higher)
webp     Pillow / libwebp, method 6             4:2:0        0..100 (higher)
jpeg2000 Pillow / OpenJPEG, 9/7 wavelet, MCT    4:4:4        rate in 1/100 bpp 1..2400
                                                             (higher)
jpeg     Pillow / libjpeg-turbo, optimised      4:2:0        1..95 (higher)
         Huffman tables
======== ====================================== ============ =========================

- Only coded data counts: raw elementary streams for the ffmpeg codecs (``.266``,
  ``.hevc``, AV1 OBUs, a bare JPEG XL codestream), a bare ``.j2k`` codestream, the whole
  file for WebP (RIFF) and JPEG (JFIF); bpp is ``msinn.measurement.bits_per_pixel`` of them.
- The ffmpeg codecs convert RGB to Y'CbCr with the BT.709 matrix at full range
  (Lanczos chroma resampling), signal it in the stream, and decode back to 8-bit RGB.
- The 4:2:0 codecs (vvc, webp, jpeg) lose PSNR-RGB at high rates against the 4:4:4
  reference curves (CompressAI's VTM, BPG and AV1 are 4:4:4): chroma detail is gone
  before coding starts. Expected, not a bug. This ffmpeg's libvvenc takes only
  4:2:0 10-bit input.
- vvenc needs even dimensions: odd sizes are padded by edge replication and cropped
  after decoding (the padding is coded; bpp still divides by the original size).
  ffmpeg's libvvenc wrapper allocates width*height bytes for the coded picture, so VVC
  fails above ~8 bpp (very low QPs on small or noisy images); its BaselineError says so.
- Data goes through ffmpeg's stdin and stdout: no temporary files. Times are wall-clock
  seconds and include ffmpeg's start-up.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace
from pathlib import Path

from PIL import Image

from .classic import BaselineError, BaselineResult, ClassicCodec, QualityRange
from .ffmpeg_codecs import VVC, VVENC_PRESETS, av1, hevc, jpegxl
from .measurement import Measured, results_table
from .metrics import bits_per_pixel
from .pillow_codecs import jpeg, jpeg2000, webp

__all__ = [
    "CODECS", "VVC", "VVENC_PRESETS", "BaselineError", "BaselineResult", "ClassicCodec", "QualityRange",
    "at_bpp", "evaluate_baseline", "get_codec",
]  # fmt: skip


CODECS: dict[str, Callable[..., ClassicCodec]] = {
    "vvc": VVC,
    "hevc": hevc,
    "av1": av1,
    "jxl": jpegxl,
    "webp": webp,
    "jpeg2000": jpeg2000,
    "jpeg": jpeg,
}


def get_codec(name: str, **kwargs) -> ClassicCodec:
    """Build the codec registered as ``name``; keyword arguments go to its class."""
    if name not in CODECS:
        raise ValueError(f"unknown codec {name!r}; valid keys: {', '.join(CODECS)}")
    return CODECS[name](**kwargs)


def at_bpp(
    codec: ClassicCodec,
    image: Image.Image,
    target_bpp: float,
    compress: Callable[[Image.Image, int], bytes] | None = None,
    measure: Callable[[Image.Image, int, bytes], Measured] | None = None,
) -> Measured:
    """Code ``image`` at the quality whose real bpp is closest to ``target_bpp``.

    Bisects the integer quality over actual coded sizes until the bracket around the
    target is two adjacent settings, then decodes and measures the closer one. The
    extreme settings are coded only if the bracket reaches them; a target outside what
    the codec can reach returns the nearest end with ``reached=False``.

    ``compress(rgb, quality) -> bytes`` codes one try (default ``codec.compress``) and
    ``measure(rgb, quality, data)`` decodes and measures the chosen file (default
    ``codec.measure_file``): a caller may pass wrappers, e.g. to run each as a job on its
    scheduler. The result's encode_s is the wall time of the ``compress`` call that made it.
    """
    if target_bpp <= 0:
        raise ValueError(f"target_bpp must be positive, got {target_bpp}")
    compress = compress or codec.compress
    measure = measure or codec.measure_file
    x = image.convert("RGB")
    lo, hi, up = codec.quality_range
    # Work on a rate index t in 0..n: t = 0 is the lowest-rate setting.
    n = hi - lo
    coded: dict[int, tuple[int, bytes, float]] = {}

    def bpp(t: int) -> float:
        if t not in coded:
            q = lo + t if up else hi - t
            start = time.perf_counter()
            data = compress(x, q)
            coded[t] = (q, data, time.perf_counter() - start)
        return bits_per_pixel(len(coded[t][1]), x.size)

    # Invariant: bpp(a) <= target unless a == 0; bpp(b) > target unless b == n.
    a, b = 0, n
    while b - a > 1:
        mid = (a + b) // 2
        if bpp(mid) <= target_bpp:
            a = mid
        else:
            b = mid
    reached = bpp(a) <= target_bpp <= bpp(b)
    if reached:  # noqa: SIM108 (two cases read better than a nested ternary)
        best = a if target_bpp - bpp(a) <= bpp(b) - target_bpp else b
    else:
        best = a if target_bpp < bpp(a) else b
    quality, data, encode_s = coded[best]
    return replace(measure(x, quality, data), encode_s=encode_s, reached=reached)


def evaluate_baseline(
    codec: ClassicCodec, image_paths: Iterable[str | Path], qualities: Sequence[int]
) -> dict[str, list[float]]:
    """Code every image at every quality; return CompressAI ``results`` lists.

    One entry per quality (in the order given) of ``bpp``, ``psnr-rgb``,
    ``ms-ssim-rgb``, ``encoding_time`` and ``decoding_time``, each the mean over images
    (PSNR averaged in dB, as CompressAI does). For ``metrics.write_results_json``.
    """
    images = []
    for p in image_paths:
        with Image.open(p) as im:
            images.append(im.convert("RGB"))
    if not images:
        raise ValueError("no images given")
    return results_table([[codec.measure(x, q) for q in qualities] for x in images])
