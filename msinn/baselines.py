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
  file for WebP (RIFF) and JPEG (JFIF). ``bpp = 8 * bytes / (H * W)``.
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

import io
import subprocess
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import NamedTuple

import numpy as np
from PIL import Image

from msinn.metrics import ms_ssim, psnr

FFMPEG_TIMEOUT_S = 600
VVENC_PRESETS = ("faster", "fast", "medium", "slow", "slower")

# RGB <-> Y'CbCr: BT.709 matrix, full range, accurate rounding, Lanczos chroma.
_SWS_FLAGS = "lanczos+accurate_rnd+full_chroma_int"
_TO_YUV = f"scale=out_color_matrix=bt709:out_range=full:flags={_SWS_FLAGS}"
_FROM_YUV = f"scale=in_color_matrix=bt709:in_range=full:flags={_SWS_FLAGS}"
_YUV_TAGS = ["-color_range", "pc", "-colorspace", "bt709", "-color_primaries", "bt709",
             "-color_trc", "iec61966-2-1"]  # fmt: skip


class BaselineError(RuntimeError):
    """A classic codec failed: ffmpeg exited non-zero, timed out or could not start."""


class QualityRange(NamedTuple):
    """Integer settings ``lo..hi``; ``higher_is_more_rate`` tells the costly end."""

    lo: int
    hi: int
    higher_is_more_rate: bool


@dataclass
class BaselineResult:
    """One coded image: setting, size, quality, timings, bytes and decoded image."""

    codec: str
    quality: int
    bpp: float
    psnr: float
    ms_ssim: float
    encode_s: float
    decode_s: float
    data: bytes = field(repr=False)
    image: Image.Image = field(repr=False)
    reached: bool = True  # False when at_bpp's target lies outside the codec's range


def _bpp(data: bytes, image: Image.Image) -> float:
    """Bits per pixel of ``data`` for ``image``'s size."""
    return 8 * len(data) / (image.width * image.height)


def ffmpeg_exe() -> str:
    """Path of the ffmpeg binary bundled with imageio-ffmpeg."""
    import imageio_ffmpeg  # only the classic codecs need ffmpeg: training and the codec run without it

    return imageio_ffmpeg.get_ffmpeg_exe()


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

    def measure(self, image: Image.Image, quality: int) -> BaselineResult:
        """Code ``image`` at ``quality``; measure bpp, PSNR, MS-SSIM and both times."""
        self._check_quality(quality)
        x = image.convert("RGB")
        return self._finish(x, quality, *self._timed_compress(x, quality))

    def _timed_compress(self, x: Image.Image, quality: int) -> tuple[bytes, float]:
        """``compress`` and its wall-clock time in seconds."""
        t0 = time.perf_counter()
        data = self.compress(x, quality)
        return data, time.perf_counter() - t0

    def _finish(
        self, x: Image.Image, quality: int, data: bytes, encode_s: float
    ) -> BaselineResult:
        """Decode ``data`` (timed) and measure it against ``x``."""
        t0 = time.perf_counter()
        x_hat = self.decompress(data, x.size)
        decode_s = time.perf_counter() - t0
        return BaselineResult(
            codec=self.name,
            quality=quality,
            bpp=_bpp(data, x),
            psnr=psnr(x, x_hat),
            ms_ssim=ms_ssim(x, x_hat),
            encode_s=encode_s,
            decode_s=decode_s,
            data=data,
            image=x_hat,
        )


class FFmpegCodec(ClassicCodec):
    """A codec run by ffmpeg on one frame, piped in as rgb24 and out as a raw stream.

    Subclasses set ``pix_fmt`` (the coded format), ``muxer``/``demuxer`` (raw stream
    formats), ``even_size`` (pad to even dimensions) and implement ``codec_args``.
    """

    pix_fmt: str
    muxer: str
    demuxer: str
    even_size: bool = False

    @abstractmethod
    def codec_args(self, quality: int) -> list[str]:
        """ffmpeg output options selecting and configuring the encoder."""

    def _run(self, args: list[str], stdin: bytes) -> bytes:
        """Run ffmpeg; return its stdout, or raise BaselineError with its stderr."""
        cmd = [ffmpeg_exe(), "-hide_banner", "-loglevel", "error", *args]
        try:
            proc = subprocess.run(
                cmd, input=stdin, capture_output=True, timeout=FFMPEG_TIMEOUT_S
            )
        except (OSError, subprocess.TimeoutExpired) as e:
            raise BaselineError(
                f"{self.name}: could not run ffmpeg ({cmd[0]}): {e}"
            ) from e
        if proc.returncode != 0 or not proc.stdout:
            tail = "\n".join(
                proc.stderr.decode(errors="replace").strip().splitlines()[-5:]
            )
            raise BaselineError(
                f"{self.name}: ffmpeg exited with code {proc.returncode}"
                f"{'' if proc.stdout else ' and no output'}:\n{tail}"
            )
        return proc.stdout

    def _coded_size(self, width: int, height: int) -> tuple[int, int]:
        """Frame size actually coded (rounded up to even when ``even_size``)."""
        if self.even_size:
            return width + width % 2, height + height % 2
        return width, height

    def _yuv_args(self, *args: str) -> list[str]:
        """``args`` (colour conversion options) for Y'CbCr formats, else nothing."""
        return list(args) if self.pix_fmt.startswith("yuv") else []

    def compress(self, image: Image.Image, quality: int) -> bytes:
        x = np.asarray(image)
        w, h = self._coded_size(image.width, image.height)
        x = np.pad(x, ((0, h - x.shape[0]), (0, w - x.shape[1]), (0, 0)), mode="edge")
        return self._run(
            ["-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{w}x{h}", "-i", "pipe:0",
             "-frames:v", "1", *self._yuv_args("-vf", _TO_YUV, *_YUV_TAGS),
             "-pix_fmt", self.pix_fmt,
             *self.codec_args(quality), "-f", self.muxer, "pipe:1"],
            x.tobytes(),
        )  # fmt: skip

    def decompress(self, data: bytes, size: tuple[int, int]) -> Image.Image:
        w, h = self._coded_size(*size)
        raw = self._run(
            ["-f", self.demuxer, "-i", "pipe:0", "-frames:v", "1",
             *self._yuv_args("-vf", _FROM_YUV), "-pix_fmt", "rgb24",
             "-f", "rawvideo", "pipe:1"],
            data,
        )  # fmt: skip
        if len(raw) != w * h * 3:
            raise BaselineError(
                f"{self.name}: decoded {len(raw)} bytes, expected {w}x{h}x3"
            )
        x_hat = np.frombuffer(raw, np.uint8).reshape(h, w, 3)[: size[1], : size[0]]
        return Image.fromarray(np.ascontiguousarray(x_hat), "RGB")


class VVC(FFmpegCodec):
    """H.266/VVC intra via vvenc, 4:2:0 10-bit: ``-preset P -qp Q -qpa 0``."""

    name = "vvc"
    chroma = "4:2:0"
    quality_range = QualityRange(0, 63, higher_is_more_rate=False)
    pix_fmt = "yuv420p10le"
    muxer = demuxer = "vvc"
    even_size = True

    def __init__(self, preset: str = "faster") -> None:
        if preset not in VVENC_PRESETS:
            raise ValueError(
                f"vvc: preset must be one of {VVENC_PRESETS}, got {preset!r}"
            )
        self.preset = preset
        self.label = f"VVC (vvenc {preset}, 4:2:0 10-bit)"

    def codec_args(self, quality: int) -> list[str]:
        # -qpa 0: no perceptual QP adaptation, so a fixed QP optimises PSNR.
        return ["-c:v", "libvvenc", "-preset", self.preset,
                "-qp", str(quality), "-qpa", "0"]  # fmt: skip

    def compress(self, image: Image.Image, quality: int) -> bytes:
        try:
            return super().compress(image, quality)
        except BaselineError as e:
            raise BaselineError(
                f"{e}\n(ffmpeg's libvvenc wrapper holds at most width*height bytes per "
                f"picture, i.e. 8 bpp; QP {quality} may need more: use a higher QP)"
            ) from e


class HEVC(FFmpegCodec):
    """H.265/HEVC intra via x265, 4:4:4 8-bit (as BPG): ``-tune psnr``, fixed QP."""

    name = "hevc"
    label = "HEVC (x265 medium, 4:4:4)"
    chroma = "4:4:4"
    quality_range = QualityRange(0, 51, higher_is_more_rate=False)
    pix_fmt = "yuv444p"
    muxer = demuxer = "hevc"

    def codec_args(self, quality: int) -> list[str]:
        return ["-c:v", "libx265", "-preset", "medium", "-tune", "psnr",
                "-x265-params", f"qp={quality}:keyint=1:log-level=error"]  # fmt: skip


class AV1(FFmpegCodec):
    """AV1 still picture via libaom, 4:4:4 8-bit, constant quality (CRF), cpu-used 4.

    ``usage good`` is kept: on kodim23 it beat ``allintra`` by ~2 % BD-rate in PSNR.
    """

    name = "av1"
    label = "AV1 (libaom cpu-used 4, 4:4:4)"
    chroma = "4:4:4"
    quality_range = QualityRange(0, 63, higher_is_more_rate=False)
    pix_fmt = "yuv444p"
    muxer = demuxer = "obu"

    def codec_args(self, quality: int) -> list[str]:
        return ["-c:v", "libaom-av1", "-still-picture", "1", "-cpu-used", "4",
                "-crf", str(quality), "-b:v", "0"]  # fmt: skip


def jxl_distance(quality: int) -> float:
    """Butteraugli distance for a cjxl quality (JxlEncoderDistanceFromQuality)."""
    if quality >= 30:
        return 0.1 + (100 - quality) * 0.09
    return 53 / 3000 * quality**2 - 23 / 20 * quality + 25


class JPEGXL(FFmpegCodec):
    """JPEG XL via libjxl, effort 7: RGB coded in XYB, no chroma subsampling.

    ffmpeg's libjxl takes only ``-distance`` (at most 15); the quality is cjxl's ``-q``
    mapped by ``jxl_distance``, so 11 (distance 14.5) is the lowest usable setting.
    libjxl tunes for perceptual quality, not PSNR.
    """

    name = "jxl"
    label = "JPEG XL (libjxl effort 7)"
    chroma = "4:4:4"
    quality_range = QualityRange(11, 99, higher_is_more_rate=True)
    pix_fmt = "rgb24"
    muxer = "image2pipe"
    demuxer = "jpegxl_pipe"

    def codec_args(self, quality: int) -> list[str]:
        return ["-c:v", "libjxl", "-effort", "7",
                "-distance", f"{jxl_distance(quality):.4f}"]  # fmt: skip


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


CODECS: dict[str, Callable[..., ClassicCodec]] = {
    "vvc": VVC,
    "hevc": HEVC,
    "av1": AV1,
    "jxl": JPEGXL,
    "webp": WebP,
    "jpeg2000": JPEG2000,
    "jpeg": JPEG,
}


def get_codec(name: str, **kwargs) -> ClassicCodec:
    """Build the codec registered as ``name``; keyword arguments go to its class."""
    if name not in CODECS:
        raise ValueError(f"unknown codec {name!r}; valid keys: {', '.join(CODECS)}")
    return CODECS[name](**kwargs)


def at_bpp(
    codec: ClassicCodec, image: Image.Image, target_bpp: float
) -> BaselineResult:
    """Code ``image`` at the quality whose real bpp is closest to ``target_bpp``.

    Bisects the integer quality over actual coded sizes until the bracket around the
    target is two adjacent settings, then decodes and measures the closer one. The
    extreme settings are coded only if the bracket reaches them; a target outside what
    the codec can reach returns the nearest end with ``reached=False``.
    """
    if target_bpp <= 0:
        raise ValueError(f"target_bpp must be positive, got {target_bpp}")
    x = image.convert("RGB")
    lo, hi, up = codec.quality_range
    # Work on a rate index t in 0..n: t = 0 is the lowest-rate setting.
    n = hi - lo
    coded: dict[int, tuple[int, bytes, float]] = {}

    def bpp(t: int) -> float:
        if t not in coded:
            q = lo + t if up else hi - t
            coded[t] = (q, *codec._timed_compress(x, q))
        return _bpp(coded[t][1], x)

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
    return replace(codec._finish(x, *coded[best]), reached=reached)


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
    keys = ("bpp", "psnr-rgb", "ms-ssim-rgb", "encoding_time", "decoding_time")
    results: dict[str, list[float]] = {k: [] for k in keys}
    for q in qualities:
        rs = [codec.measure(x, q) for x in images]
        rows = [(r.bpp, r.psnr, r.ms_ssim, r.encode_s, r.decode_s) for r in rs]
        for k, v in zip(keys, np.mean(rows, axis=0), strict=True):
            results[k].append(float(v))
    return results
