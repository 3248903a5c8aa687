"""Pack what a lent GPU machine needs beside the repository into ``.gpu/`` (git-ignored):
a seeded training subset, the CID22 validation crops and the wheels its image lacks.

    python scripts/gpu_pack.py [--budget-mib 34] [--seed 0]

The device tool carries at most 64 MiB with the working tree (≈ 9 MiB, 19 MiB with the mid
weights), so the training data is a subset: each source (CID22 training, BSDS500, CLIC 2025) gets an
equal share of ``--budget-mib``, filled with whole files in a seeded shuffle (CLIC at half size,
see ``SCALE``). PNGs are re-encoded
as lossless WebP (same pixels, about half the bytes); JPEGs and WebPs travel as they are.
Validation: the centre 256² crop of each CID22 validation image (what ``train --valid-crop 256``
takes), lossless. Then run there: ``bash scripts/gpu_session.sh MINUTES`` (see that file).
"""

from __future__ import annotations

import argparse
import random
import shutil
import subprocess
import sys
from pathlib import Path

from PIL import Image

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data" / "train"
SOURCES = {"cid22": DATA / "cid22" / "training", "bsds500": DATA / "bsds500", "clic2025": DATA / "clic2025"}
# CLIC's 2–3 MP photos travel at half size (long side 1024, nearer Kodak's 768): four times as
# many of them fit, where at full size its share held only 4.
SCALE = {"clic2025": 0.5}
VALID = DATA / "cid22" / "validation"
# Missing from the GPU machine's image (device/KINDS.md); its Python is 3.12.
WHEELS = ("compressai==1.2.8", "constriction==0.5.0", "pytorch-msssim==1.0.0")
SUFFIXES = {".png", ".jpg", ".jpeg", ".webp"}


def copy_lossless(src: Path, dst_dir: Path, scale: float = 1.0) -> Path:
    """PNG → lossless WebP (pixels identical, checked); other formats copied as they are;
    with ``scale`` < 1 resized first (antialiased) and stored losslessly."""
    if src.suffix.lower() != ".png" and scale == 1:
        return Path(shutil.copy2(src, dst_dir / src.name))
    dst = dst_dir / f"{src.stem}.webp"
    image = Image.open(src).convert("RGB")
    if scale != 1:
        image = image.resize((round(image.width * scale), round(image.height * scale)), Image.LANCZOS)
    image.save(dst, "WEBP", lossless=True, method=4)
    if Image.open(dst).convert("RGB").tobytes() != image.tobytes():
        raise RuntimeError(f"{dst} is not lossless")
    return dst


def pack_training(out: Path, budget: int, seed: int) -> None:
    for name, folder in SOURCES.items():
        files = sorted(p for p in folder.rglob("*") if p.suffix.lower() in SUFFIXES)
        random.Random(f"{seed}:{name}").shuffle(files)
        dst_dir = out / "train" / name
        dst_dir.mkdir(parents=True)
        used, kept = 0, 0
        for f in files:
            dst = copy_lossless(f, dst_dir, SCALE.get(name, 1.0))
            if used + dst.stat().st_size > budget // len(SOURCES):
                dst.unlink()
                continue  # a smaller file may still fit
            used, kept = used + dst.stat().st_size, kept + 1
        print(f"{name}: {kept} of {len(files)} files, {used / 2**20:.1f} MiB")


def pack_validation(out: Path, size: int = 256) -> None:
    dst_dir = out / "valid"
    dst_dir.mkdir(parents=True)
    files = sorted(p for p in VALID.iterdir() if p.suffix.lower() in SUFFIXES)
    for f in files:
        image = Image.open(f).convert("RGB")
        w, h = image.size
        s = min(size, w, h)
        left, top = (w - s) // 2, (h - s) // 2
        image.crop((left, top, left + s, top + s)).save(dst_dir / f"{f.stem}.webp", "WEBP", lossless=True)
    print(f"validation: {len(files)} centre crops of {size}²")


def download_wheels(out: Path) -> None:
    # pip matches manylinux tags exactly: compressai's cp312 wheel is 2_34, constriction's 2_17.
    platforms = [f"--platform={p}" for p in ("manylinux_2_34_x86_64", "manylinux_2_17_x86_64", "any")]
    cmd = [sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--only-binary=:all:", "--python-version", "3.12",
           "--implementation", "cp", *platforms, "-d", str(out / "wheels"), *WHEELS]  # fmt: skip
    subprocess.run(cmd, check=True)
    print("wheels:", ", ".join(sorted(p.name for p in (out / "wheels").iterdir())))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", type=Path, default=REPO / ".gpu")
    p.add_argument("--budget-mib", type=float, default=34.0, help="training data, all sources together")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
    if args.out.exists():
        shutil.rmtree(args.out)
    pack_training(args.out, int(args.budget_mib * 2**20), args.seed)
    pack_validation(args.out)
    download_wheels(args.out)
    total = sum(f.stat().st_size for f in args.out.rglob("*") if f.is_file())
    print(f"{args.out}: {total / 2**20:.1f} MiB")


if __name__ == "__main__":
    main()
