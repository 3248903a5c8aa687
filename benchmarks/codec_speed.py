"""Encode/decode speed of MSINN against CompressAI's mbt2018-mean, measured in one run.

    python -m benchmarks.codec_speed [--image kodim01.png] [--repeat 3] [--models msinn-lite msinn-mid]

Times each shipped model at three rates and CompressAI's mbt2018-mean (random
weights; its speed does not depend on training, only on the quality's channel counts) on the
same image, and prints the ratios. Bar: lite encode and decode each ≤ 1.5× mbt2018-mean.
The ``paper`` configuration (random weights) is timed at one rate for reference.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import torch
from compressai.zoo import mbt2018_mean

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


def time_msinn(codec: Codec, image, rate: float, repeat: int) -> tuple[float, float, float]:
    enc_s, data = timed(lambda: codec.compress(image, rate), repeat)
    dec_s, _ = timed(lambda: codec.decompress(data), repeat)
    return enc_s, dec_s, bits_per_pixel(len(data), image.size)


@torch.no_grad()
def time_mbt(quality: int, image, repeat: int) -> tuple[float, float]:
    net = mbt2018_mean(quality=quality, pretrained=False).eval()
    net.update(force=True)
    x = pad(to_tensor(image), 64)
    enc_s, out = timed(lambda: net.compress(x), repeat)
    dec_s, _ = timed(lambda: net.decompress(out["strings"], out["shape"]), repeat)
    return enc_s, dec_s


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
    for q, (e, d) in refs.items():
        print(f"mbt2018-mean q{q}: encode {e:.3f} s  decode {d:.3f} s")
    ref_enc, ref_dec = refs[1]  # the faster (narrower) variant: the stricter bar

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
    paper = random_codec("paper", image)
    e, d, bpp = time_msinn(paper, image, 3.5, 1)
    print(f"{'paper (rand.)':<14}{3.5:>6.1f}{bpp:>8.3f}{e:>8.3f}{d:>8.3f}{e / ref_enc:>9.2f}{d / ref_dec:>9.2f}")
    for name, ratio in worst.items():
        bar = f" ({'meets' if ratio <= 1.5 else 'misses'} lite's 1.5x bar)" if name == "msinn-lite" else ""
        print(f"{name} worst ratio vs mbt2018-mean q1: {ratio:.2f}x{bar}")


if __name__ == "__main__":
    main()
