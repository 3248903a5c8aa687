"""The classic codecs ffmpeg runs (the ffmpeg inside imageio-ffmpeg): VVC (vvenc), HEVC
(x265), AV1 (libaom) and JPEG XL (libjxl), one frame piped in as rgb24 and out as a raw
stream. ``msinn/baselines.py`` describes what each codes and how it is measured."""

from __future__ import annotations

import subprocess
from collections.abc import Callable

import numpy as np
from PIL import Image

from .classic import BaselineError, ClassicCodec, QualityRange

FFMPEG_TIMEOUT_S = 600
VVENC_PRESETS = ("faster", "fast", "medium", "slow", "slower")

# RGB <-> Y'CbCr: BT.709 matrix, full range, accurate rounding, Lanczos chroma.
_SWS_FLAGS = "lanczos+accurate_rnd+full_chroma_int"
_TO_YUV = f"scale=out_color_matrix=bt709:out_range=full:flags={_SWS_FLAGS}"
_FROM_YUV = f"scale=in_color_matrix=bt709:in_range=full:flags={_SWS_FLAGS}"
_YUV_TAGS = ["-color_range", "pc", "-colorspace", "bt709", "-color_primaries", "bt709",
             "-color_trc", "iec61966-2-1"]  # fmt: skip


def ffmpeg_exe() -> str:
    """Path of the ffmpeg binary bundled with imageio-ffmpeg."""
    import imageio_ffmpeg  # only the classic codecs need ffmpeg: training and the codec run without it

    return imageio_ffmpeg.get_ffmpeg_exe()


class FFmpegCodec(ClassicCodec):
    """A codec run by ffmpeg on one frame, piped in as rgb24 and out as a raw stream: coded as
    ``pix_fmt`` with the encoder options ``codec_args(quality)``, muxed and demuxed as raw
    ``muxer``/``demuxer`` streams, padded to even dimensions when ``even_size``."""

    def __init__(self, name: str, label: str, chroma: str, quality_range: QualityRange, pix_fmt: str,
                 muxer: str, demuxer: str, codec_args: Callable[[int], list[str]], even_size: bool = False):  # fmt: skip
        self.name, self.label, self.chroma, self.quality_range = name, label, chroma, quality_range
        self.pix_fmt, self.muxer, self.demuxer, self.even_size = pix_fmt, muxer, demuxer, even_size
        self.codec_args = codec_args

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
    """H.266/VVC intra via vvenc, 4:2:0 10-bit: ``-preset P -qp Q -qpa 0`` (no perceptual QP
    adaptation, so a fixed QP optimises PSNR)."""

    def __init__(self, preset: str = "faster") -> None:
        if preset not in VVENC_PRESETS:
            raise ValueError(f"vvc: preset must be one of {VVENC_PRESETS}, got {preset!r}")
        self.preset = preset
        super().__init__("vvc", f"VVC (vvenc {preset}, 4:2:0 10-bit)", "4:2:0",
                         QualityRange(0, 63, higher_is_more_rate=False), "yuv420p10le", "vvc", "vvc",
                         lambda q: ["-c:v", "libvvenc", "-preset", preset, "-qp", str(q), "-qpa", "0"],
                         even_size=True)  # fmt: skip

    def compress(self, image: Image.Image, quality: int) -> bytes:
        try:
            return super().compress(image, quality)
        except BaselineError as e:
            raise BaselineError(
                f"{e}\n(ffmpeg's libvvenc wrapper holds at most width*height bytes per "
                f"picture, i.e. 8 bpp; QP {quality} may need more: use a higher QP)"
            ) from e


def hevc() -> FFmpegCodec:
    """H.265/HEVC intra via x265, 4:4:4 8-bit (as BPG): ``-tune psnr``, fixed QP."""
    return FFmpegCodec("hevc", "HEVC (x265 medium, 4:4:4)", "4:4:4", QualityRange(0, 51, higher_is_more_rate=False),
                       "yuv444p", "hevc", "hevc", lambda q: ["-c:v", "libx265", "-preset", "medium", "-tune", "psnr",
                       "-x265-params", f"qp={q}:keyint=1:log-level=error"])  # fmt: skip


def av1() -> FFmpegCodec:
    """AV1 still picture via libaom, 4:4:4 8-bit, constant quality (CRF), cpu-used 4.

    ``usage good`` is kept: on kodim23 it beat ``allintra`` by ~2 % BD-rate in PSNR.
    """
    return FFmpegCodec("av1", "AV1 (libaom cpu-used 4, 4:4:4)", "4:4:4", QualityRange(0, 63, higher_is_more_rate=False),
                       "yuv444p", "obu", "obu", lambda q: ["-c:v", "libaom-av1", "-still-picture", "1",
                       "-cpu-used", "4", "-crf", str(q), "-b:v", "0"])  # fmt: skip


def jxl_distance(quality: int) -> float:
    """Butteraugli distance for a cjxl quality (JxlEncoderDistanceFromQuality)."""
    if quality >= 30:
        return 0.1 + (100 - quality) * 0.09
    return 53 / 3000 * quality**2 - 23 / 20 * quality + 25


def jpegxl() -> FFmpegCodec:
    """JPEG XL via libjxl, effort 7: RGB coded in XYB, no chroma subsampling.

    ffmpeg's libjxl takes only ``-distance`` (at most 15); the quality is cjxl's ``-q`` mapped
    by ``jxl_distance``, so 11 (distance 14.5) is the lowest usable setting. libjxl tunes for
    perceptual quality, not PSNR.
    """
    return FFmpegCodec("jxl", "JPEG XL (libjxl effort 7)", "4:4:4", QualityRange(11, 99, higher_is_more_rate=True),
                       "rgb24", "image2pipe", "jpegxl_pipe",
                       lambda q: ["-c:v", "libjxl", "-effort", "7", "-distance", f"{jxl_distance(q):.4f}"])  # fmt: skip
