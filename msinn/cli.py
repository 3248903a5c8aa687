"""Command line of the MSINN codec.

    python -m msinn compress IN.png OUT.msn --rate T [--model NAME_OR_PATH]
    python -m msinn decompress IN.msn OUT.png [--model NAME_OR_PATH]
    python -m msinn info IN.msn
    python -m msinn train ...      (see msinn/train.py)
    python -m msinn evaluate DIR --out results.json [--rates ...] [--plot rd.png]
    python -m msinn evaluate DIR --codec vvc --qualities 22 27 32 37 42 47 --out vvc.json
    python -m msinn compare IMAGE --bpp B [--codecs vvc,hevc,...] [--json]

Bad input exits with status 2 and one line on stderr. The work is the library's
(:mod:`msinn.codec`, :mod:`msinn.train`, :mod:`msinn.evaluate`, :mod:`msinn.compare`); this
module parses arguments, prints and writes files.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def cmd_compress(args: argparse.Namespace) -> None:
    from .codec import load

    codec = load(args.model, args.device)
    enc = codec.encode(args.input, args.rate, effort=args.effort)
    Path(args.output).write_bytes(enc.data)
    w, h = enc.image.size
    print(f"{args.output}: {w}x{h}, rate {enc.rate:g}, {len(enc.data)} bytes, {enc.bpp:.4f} bpp")


def cmd_decompress(args: argparse.Namespace) -> None:
    from .codec import load_decoder, model_for

    data = _read(args.input)
    decoder = load_decoder(args.model or model_for(data), args.device)  # by default the shipped model that wrote it
    image = decoder.decompress(data, max_pixels=args.max_pixels)
    image.save(args.output, format="PNG")
    print(f"{args.output}: {image.size[0]}x{image.size[1]}")


def cmd_info(args: argparse.Namespace) -> None:
    from .bitstream import unpack
    from .metrics import bits_per_pixel

    data = _read(args.input)
    header, streams = unpack(data)  # the header alone: no model needed
    info = {
        "width": header.width,
        "height": header.height,
        "rate": header.rate,
        "model_id": header.model_id.hex(),
        "bytes": len(data),
        "bpp": bits_per_pixel(len(data), (header.width, header.height)),
        "stream_bytes": dict(zip(("y5", "y4", "y3", "y2", "y1"), map(len, streams), strict=False)),
    }
    print(json.dumps(info, indent=2))


def cmd_train(args: argparse.Namespace) -> None:
    from .train import train

    train(args)


def cmd_evaluate(args: argparse.Namespace) -> None:
    from .evaluate import bd_table, evaluate_classic, evaluate_msinn, image_paths, monotonic_report, rd_figure
    from .measurement import RESULT_KEYS
    from .metrics import write_json

    paths = image_paths(args.folder)
    if args.codec == "msinn":
        from .codec import load

        doc = evaluate_msinn(load(args.model, args.device), paths, args.rates, args.effort)
        print(monotonic_report(doc["results"]["rate"], doc["per_image"]))
    else:
        from .baselines import get_codec

        baseline = get_codec(args.codec, **({"preset": args.preset} if args.codec == "vvc" and args.preset else {}))
        if not args.qualities:
            raise ValueError(f"--qualities is required for {args.codec}")
        doc = evaluate_classic(baseline, paths, args.qualities)
    write_json(args.out, doc)
    results = doc["results"]
    for r in zip(*(results[k] for k in RESULT_KEYS), strict=False):
        print("  bpp {:.4f}  PSNR {:.2f} dB  MS-SSIM {:.4f}  enc {:.3f} s  dec {:.3f} s".format(*r))
    print("BD-rate vs Kodak references (negative = fewer bits than the reference):")
    for key, value in bd_table(results).items():
        print(f"  {key:<12} {value:+7.2f} %")
    if args.plot:
        rd_figure([doc], f"Rate–distortion on {Path(args.folder).name}").savefig(args.plot, dpi=150, bbox_inches="tight")


def cmd_compare(args: argparse.Namespace) -> None:
    from .baselines import CODECS
    from .compare import compare
    from .image import load_image

    codecs = [c.strip() for c in args.codecs.split(",") if c.strip()]
    for name in codecs:
        if name not in CODECS:
            raise ValueError(f"unknown codec {name!r}; valid: {', '.join(CODECS)}")
    if args.bpp <= 0:
        raise ValueError(f"--bpp must be positive, got {args.bpp}")
    rows = compare(load_image(args.image), args.bpp, codecs, args.model)
    if args.json:
        print(json.dumps(rows, indent=2))
        return
    print(f"{'codec':<10}{'setting':>9}{'bpp':>8}{'PSNR':>8}{'MS-SSIM':>9}{'enc s':>8}{'dec s':>8}")
    for r in rows:
        flag = "" if r["within_tolerance"] else f"  (nearest it reaches; target {args.bpp})"
        print(f"{r['codec']:<10}{r['setting']:>9.4g}{r['bpp']:>8.3f}{r['psnr']:>8.2f}{r['ms_ssim']:>9.4f}"
              f"{r['encode_s']:>8.3f}{r['decode_s']:>8.3f}{flag}")  # fmt: skip


def _read(path: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as e:
        raise ValueError(f"cannot read {path}: {e.strerror}") from e


def add_model_arguments(p: argparse.ArgumentParser, default: str = "the default model") -> None:
    """--model and --device, for every command that loads the codec."""
    p.add_argument("--model", default=None, help=f"weights name in weights/ (lite, mid) or a .safetensors path; default: {default}")
    p.add_argument("--device", default=None, help="cpu, cuda or cuda:N (default: cuda when present); files decode the same on either")


def add_train_arguments(p: argparse.ArgumentParser) -> None:
    from .train import DEFAULT_TRAIN, DEFAULT_VALID

    p.add_argument("--config", default="lite", help="model size of a new model: paper, mid, lite or tiny")
    p.add_argument("--out", required=True, help="folder for checkpoint.pt, checkpoint.safetensors and log.csv")
    p.add_argument("--train-dirs", nargs="+", type=Path, default=DEFAULT_TRAIN)
    p.add_argument("--valid-dir", default=str(DEFAULT_VALID), help="held-out folder ('' to skip validation)")
    p.add_argument("--crop", type=int, default=128)
    p.add_argument("--valid-crop", type=int, default=256)
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--steps", type=int, default=None, help="stop after this many more steps")
    p.add_argument("--minutes", type=float, default=None, help="stop after this much wall time")
    p.add_argument("--lr", type=float, default=1e-4)
    p.add_argument("--milestones", type=int, nargs="*", default=[], help="steps where lr is multiplied by --gamma")
    p.add_argument("--gamma", type=float, default=0.1)
    p.add_argument("--clip", type=float, default=1.0, help="gradient clipping max-norm")
    p.add_argument("--checkpoint-minutes", type=float, default=5.0)
    p.add_argument("--log-every", type=int, default=50)
    p.add_argument("--valid-every", type=int, default=2000, help="validate every N steps (multiple of --log-every), and once at the end")
    p.add_argument("--resume", type=Path, default=None, help="checkpoint.pt (full state) or .safetensors (weights only)")
    p.add_argument("--device", default=None, help="cpu or cuda (default: cuda when available)")
    p.add_argument("--fp32", action="store_true", help="disable bf16/AMP autocast")
    p.add_argument("--compile", action="store_true", help="torch.compile the model (worth it on a GPU for long runs)")
    p.add_argument("--extend-anchors", type=int, default=None, help="grow the gain tables to N anchors (copies of the last row)")
    p.add_argument("--lambda-scale", type=float, default=None, help="override the config's λ ladder scale")
    p.add_argument("--add-post-filter", type=int, default=None, metavar="WIDTH",
                   help="add a post-filter of this width to resumed weights that have none (starts as the identity)")
    p.add_argument("--grow-to", default=None, metavar="CONFIG",
                   help="widen the resumed weights into this wider config (e.g. mid), coding exactly as before at the start")
    p.add_argument("--train-only", default=None, metavar="PREFIX",
                   help="train only parameters whose names start with PREFIX, e.g. post_filter.")
    p.add_argument("--seed", type=int, default=0)


def add_evaluate_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("folder", help="folder of images")
    p.add_argument("--out", required=True, help="results JSON (CompressAI schema)")
    p.add_argument("--codec", default="msinn", help="msinn (default) or a classic codec: vvc, hevc, av1, jxl, webp, jpeg2000, jpeg")
    p.add_argument("--model", default=None, help="MSINN weights name or path (default: shipped)")
    p.add_argument("--device", default=None, help="cpu, cuda or cuda:N for MSINN (default: cuda when present)")
    p.add_argument("--effort", type=int, default=0, choices=(0, 1, 2), help="MSINN encoder effort (msinn/refine.py)")
    p.add_argument("--rates", type=float, nargs="*", help="MSINN rate indices (default: every anchor)")
    p.add_argument("--qualities", type=int, nargs="*", help="quality settings of a classic codec")
    p.add_argument("--preset", default=None, help="vvenc preset for --codec vvc (default: the codec's)")
    p.add_argument("--plot", default=None, help="write an RD plot (PNG) with the reference curves")


def add_compare_arguments(p: argparse.ArgumentParser) -> None:
    from .baselines import CODECS

    p.add_argument("image")
    p.add_argument("--bpp", type=float, required=True, help="target bits per pixel")
    p.add_argument("--codecs", default=",".join(CODECS), help=f"comma-separated, from {','.join(CODECS)}")
    p.add_argument("--model", default=None, help="MSINN weights name or path (default: shipped)")
    p.add_argument("--json", action="store_true", help="print a JSON list of objects")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m msinn", description="MSINN learned image codec")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("compress", help="image → .msn file")
    p.add_argument("input")
    p.add_argument("output")
    p.add_argument("--rate", type=float, required=True, help="rate index in the model's range (0 = lowest rate)")
    p.add_argument("--effort", type=int, default=0, choices=(0, 1, 2), help="encoder search: 0 none, 1 fast (~25 s for 768x512 on 2 cores), 2 thorough (~2.5x longer); decoding is the same")
    add_model_arguments(p)
    p.set_defaults(func=cmd_compress)
    p = sub.add_parser("decompress", help=".msn file → PNG")
    p.add_argument("input")
    p.add_argument("output")
    add_model_arguments(p, default="the shipped model that wrote the file")
    p.add_argument("--max-pixels", type=int, help="refuse files claiming more pixels (default: what this host's memory holds, at most 2^26)")
    p.set_defaults(func=cmd_decompress)
    p = sub.add_parser("info", help="print a .msn header as JSON")
    p.add_argument("input")
    p.set_defaults(func=cmd_info)
    for name, help_text, add, func in (
        ("train", "train a model (see msinn/train.py)", add_train_arguments, cmd_train),
        ("evaluate", "rate–distortion of a folder with real bitstreams", add_evaluate_arguments, cmd_evaluate),
        ("compare", "MSINN and classic codecs on one image at the same bpp", add_compare_arguments, cmd_compare),
    ):
        p = sub.add_parser(name, help=help_text)
        add(p)
        p.set_defaults(func=func)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        args.func(args)
    except (ValueError, OSError) as e:  # BitstreamError is a ValueError
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0
