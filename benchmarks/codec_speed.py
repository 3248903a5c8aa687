"""Encode/decode speed of MSINN against CompressAI's mbt2018-mean, measured in one run.

    python -m benchmarks.codec_speed [--image kodim01.png] [--repeat 3] [--models msinn-lite msinn-mid]

Times each shipped model at three rates and CompressAI's mbt2018-mean (random
weights; its speed does not depend on training, only on the quality's channel counts) on the
same image, and prints the ratios. Bar: lite encode and decode each ≤ 1.5× mbt2018-mean.
The ``paper`` configuration (random weights) is timed at one rate for reference.

Complexity beside the times, in kMAC/px: thousands of multiply–adds per image pixel of every
matrix product and convolution one encode or decode runs, counted by
``torch.utils.flop_counter`` (FLOPs / 2) as it runs; our float64 convolutions accumulate one
``addmm_`` per kernel tap (msinn/conv.py), counted as the product it is. Element-wise work
(activations, rounding, the range coder) is not counted, as in the field's tables.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import torch
from compressai.zoo import mbt2018_mean
from torch.utils.flop_counter import FlopCounterMode

import msinn
from msinn.codec import Codec
from msinn.config import get_config
from msinn.image import load_image, pad, to_tensor
from msinn.metrics import bits_per_pixel
from msinn.model import MSINN

KODAK = Path(__file__).resolve().parents[2] / "shared" / "data" / "kodak"


def timed(fn, repeat: int) -> tuple[float, object]:
    """Median wall time of ``repeat`` calls after one warm-up call."""
    out = fn()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), out


def kmac_per_pixel(fn, pixels: int) -> float:
    """Thousands of multiply–adds per pixel of the products ``fn()`` runs (see the module doc)."""
    in_place = {torch.ops.aten.addmm_: lambda _, a, b, **__: 2 * a[0] * a[1] * b[1]}
    with FlopCounterMode(display=False, custom_mapping=in_place) as counter:
        fn()
    return counter.get_total_flops() / 2 / pixels / 1e3


def time_msinn(codec: Codec, image, rate: float, repeat: int) -> tuple[float, float, float]:
    enc_s, data = timed(lambda: codec.compress(image, rate), repeat)
    dec_s, _ = timed(lambda: codec.decompress(data), repeat)
    return enc_s, dec_s, bits_per_pixel(len(data), image.size)


def complexity_msinn(codec: Codec, image, rate: float) -> tuple[float, float]:
    """(encode, decode) kMAC/px at ``rate``."""
    pixels = image.size[0] * image.size[1]
    data = codec.compress(image, rate)
    encode = kmac_per_pixel(lambda: codec.compress(image, rate), pixels)
    return encode, kmac_per_pixel(lambda: codec.decompress(data), pixels)


@torch.no_grad()
def time_mbt(quality: int, image, repeat: int) -> tuple[float, float, float, float]:
    """(encode s, decode s, encode kMAC/px, decode kMAC/px)."""
    net = mbt2018_mean(quality=quality, pretrained=False).eval()
    net.update(force=True)
    x = pad(to_tensor(image), 64)
    enc_s, out = timed(lambda: net.compress(x), repeat)
    dec_s, _ = timed(lambda: net.decompress(out["strings"], out["shape"]), repeat)
    pixels = image.size[0] * image.size[1]
    enc_k = kmac_per_pixel(lambda: net.compress(x), pixels)
    return enc_s, dec_s, enc_k, kmac_per_pixel(lambda: net.decompress(out["strings"], out["shape"]), pixels)


def random_codec(config: str, image) -> Codec:
    torch.manual_seed(0)
    model = MSINN(get_config(config))
    model.initialise(to_tensor(image)[:, :, :256, :256])
    return Codec(model, b"\0" * 8, f"{config}-random")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--image", type=Path, default=KODAK / "kodim01.png")
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--models", nargs="+", default=msinn.shipped_models(), help="weights names or paths (default: every shipped model)")
    args = p.parse_args()
    image = load_image(args.image)
    print(f"image {args.image.name} {image.size[0]}x{image.size[1]}, torch threads {torch.get_num_threads()}")

    refs = {q: time_mbt(q, image, args.repeat) for q in (1, 8)}
    for q, (e, d, ek, dk) in refs.items():
        print(f"mbt2018-mean q{q}: encode {e:.3f} s ({ek:.1f} kMAC/px)  decode {d:.3f} s ({dk:.1f} kMAC/px)")
    ref_enc, ref_dec = refs[1][:2]  # the faster (narrower) variant: the stricter bar

    print(f"\n{'model':<14}{'rate':>6}{'bpp':>8}{'enc s':>8}{'dec s':>8}{'enc/mbt':>9}{'dec/mbt':>9}")
    worst = {}
    for name in args.models:
        codec = msinn.load(name, device="cpu")
        lo, hi = codec.rate_range
        worst[codec.name] = 0.0
        for rate in (lo, (lo + hi) / 2, hi):
            e, d, bpp = time_msinn(codec, image, rate, args.repeat)
            worst[codec.name] = max(worst[codec.name], e / ref_enc, d / ref_dec)
            print(f"{codec.name:<14}{rate:>6.1f}{bpp:>8.3f}{e:>8.3f}{d:>8.3f}{e / ref_enc:>9.2f}{d / ref_dec:>9.2f}")
        enc_k, dec_k = complexity_msinn(codec, image, (lo + hi) / 2)
        print(f"{codec.name:<14}complexity: encode {enc_k:.1f} kMAC/px, decode {dec_k:.1f} kMAC/px")
    paper = random_codec("paper", image)
    e, d, bpp = time_msinn(paper, image, 3.5, 1)
    print(f"{'paper (rand.)':<14}{3.5:>6.1f}{bpp:>8.3f}{e:>8.3f}{d:>8.3f}{e / ref_enc:>9.2f}{d / ref_dec:>9.2f}")
    for name, ratio in worst.items():
        bar = f" ({'meets' if ratio <= 1.5 else 'misses'} lite's 1.5x bar)" if name == "msinn-lite" else ""
        print(f"{name} worst ratio vs mbt2018-mean q1: {ratio:.2f}x{bar}")


if __name__ == "__main__":
    main()
