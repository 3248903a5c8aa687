"""MSINN against the classic codecs on one image, each at the same target bpp.

MSINN's rate index and every codec's quality setting are found by bisection on real file
sizes; a codec that cannot come within ±15 % of the target is flagged. The command line is
``python -m msinn compare`` (:mod:`msinn.cli`).
"""

from __future__ import annotations

from PIL import Image

from .baselines import at_bpp, get_codec
from .measurement import Measured, measure

TOLERANCE = 0.15


def msinn_at_bpp(image: Image.Image, target_bpp: float, model: str | None = None) -> Measured:
    """MSINN (weights ``model``, default the shipped ones) on ``image`` at the rate whose real
    bpp is closest to ``target_bpp``, measured on a fresh file."""
    from .codec import load

    codec = load(model)
    rate = codec.rate_for_bpp(image, target_bpp).rate
    return measure(codec, image, rate)


def compare(image: Image.Image, target_bpp: float, codecs: list[str], model: str | None = None) -> list[dict]:
    """One row per codec: codec, setting, bpp, psnr, ms_ssim, encode_s, decode_s, within_tolerance."""
    measured = [("msinn", msinn_at_bpp(image, target_bpp, model))]
    measured += [(name, at_bpp(get_codec(name), image, target_bpp)) for name in codecs]
    return [
        {"codec": name, "setting": m.setting, "bpp": m.bpp, "psnr": m.psnr, "ms_ssim": m.ms_ssim, "encode_s": m.encode_s,
         "decode_s": m.decode_s, "within_tolerance": abs(m.bpp - target_bpp) <= TOLERANCE * target_bpp}
        for name, m in measured
    ]  # fmt: skip
