"""Do files decode to the same image on other thread counts, CPU kernels and devices?

    python -m benchmarks.cross_decode [IMAGES...] [--rates 0 5.5 11] [--encoder cpu:2]
                                      [--decoders cpu:1 cpu:2 cpu:3 cpu-default:2 cuda]
                                      [--folder DIR [--decode-only]]

Each image is encoded at each rate in one process (the ``--encoder`` setting), then every file
is decoded in a fresh process per ``--decoders`` setting. A setting is ``DEVICE:THREADS`` with
DEVICE one of ``cpu``, ``cpu-default`` (the kernels a CPU without AVX2 gets:
ATEN_CPU_CAPABILITY=default, ONEDNN_MAX_CPU_ISA=SSE41, MKL_ENABLE_INSTRUCTIONS=SSE4_2) or ``cuda``. Prints, per decoder, how
many files decoded to exactly the encoder's reconstruction, how many differed (max pixel
difference) and how many were refused with BitstreamError — never silently garbage.

Across machines: ``--folder DIR`` keeps the files (``NAME.msn`` and the encoder's reconstruction
``NAME.png``) in DIR; copy DIR to the other machine and run there with ``--folder DIR --decode-only``
(and the same ``--model``: files of other weights are refused).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

KODAK = Path(__file__).resolve().parents[2] / "shared" / "data" / "kodak"
DEFAULT_IMAGES = [KODAK / f"kodim{i:02d}.png" for i in (1, 4, 8, 14, 19, 23)]


def setting_env(setting: str) -> tuple[dict[str, str], str, int]:
    """'cpu-default:1' → (environment, torch device, threads)."""
    device, _, threads = setting.partition(":")
    env = dict(os.environ)
    if device == "cpu-default":
        env.update(ATEN_CPU_CAPABILITY="default", ONEDNN_MAX_CPU_ISA="SSE41", MKL_ENABLE_INSTRUCTIONS="SSE4_2")
    return env, "cuda" if device == "cuda" else "cpu", int(threads or 2)


def run_worker(role: str, setting: str, args: list[str]) -> list[dict]:
    env, device, threads = setting_env(setting)
    cmd = [sys.executable, "-m", "benchmarks.cross_decode", "--worker", role, device, str(threads), *args]
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, cwd=Path(__file__).parents[1])
    if out.returncode:
        sys.exit(f"{role} worker ({setting}) failed:\n{out.stderr[-2000:]}")
    return [json.loads(line) for line in out.stdout.splitlines() if line.startswith("{")]


def worker(role: str, device: str, threads: int, args: list[str]) -> None:
    import hashlib

    import numpy as np
    import torch
    from PIL import Image

    import msinn

    torch.set_num_threads(threads)
    folder = Path(args[1])
    if role == "encode":
        codec = msinn.load(args[0] or None, device=device)
        rates = [float(r) for r in args[2].split(",")]
        for image in args[3:]:
            prep = codec.prepare(image)
            for rate in rates:
                enc = codec.encode(prep, rate)
                name = f"{Path(image).stem}_t{rate:g}"
                (folder / f"{name}.msn").write_bytes(enc.data)
                enc.image.save(folder / f"{name}.png")  # lossless: the encoder's exact pixels
                print(json.dumps({"file": name, "bpp": enc.bpp}), flush=True)
        return
    decoder = msinn.load_decoder(args[0] or None, device=device)
    for msn in sorted(folder.glob("*.msn")):
        reference = np.asarray(Image.open(msn.with_suffix(".png")).convert("RGB"))
        try:
            out = np.asarray(decoder.decompress(msn.read_bytes()))
        except msinn.BitstreamError as e:
            print(json.dumps({"file": msn.stem, "refused": str(e)}), flush=True)
            continue
        diff = np.abs(out.astype(int) - reference.astype(int))
        print(json.dumps({"file": msn.stem, "max_diff": int(diff.max()), "pixels_differ": int((diff > 0).sum()),
                          "sha": hashlib.sha256(out.tobytes()).hexdigest()[:12]}), flush=True)


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        worker(sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5:])
        return
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("images", nargs="*", type=Path, default=DEFAULT_IMAGES)
    p.add_argument("--rates", nargs="+", type=float, default=[0.0, 5.5, 11.0])
    p.add_argument("--model", default="", help="weights (default: shipped)")
    p.add_argument("--encoder", default="cpu:2")
    p.add_argument("--decoders", nargs="+", default=["cpu:1", "cpu:2", "cpu:3", "cpu-default:2"])
    p.add_argument("--folder", type=Path, help="keep the files here (default: a temporary folder)")
    p.add_argument("--decode-only", action="store_true", help="decode the files already in --folder")
    args = p.parse_args()
    if args.decode_only and not (args.folder and any(args.folder.glob("*.msn"))):
        p.error("--decode-only needs a --folder that holds .msn files")
    if args.folder and not args.decode_only and args.folder.exists() and any(args.folder.iterdir()):
        p.error(f"{args.folder} is not empty: its files would be counted with the new ones")
    with tempfile.TemporaryDirectory() as tmp:
        folder = str(args.folder.resolve() if args.folder else tmp)  # the workers run from the repo root
        images = [str(i.resolve()) for i in args.images]
        if not args.decode_only:
            Path(folder).mkdir(parents=True, exist_ok=True)
            rates = ",".join(map(str, args.rates))
            encoded = run_worker("encode", args.encoder, [args.model, folder, rates, *images])
            print(f"encoded {len(encoded)} files with {args.encoder}")
        for setting in args.decoders:
            results = run_worker("decode", setting, [args.model, folder])
            exact = sum(r.get("max_diff") == 0 for r in results)
            differ = [r for r in results if r.get("max_diff", 0) > 0]
            refused = [r for r in results if "refused" in r]
            worst = max((r["max_diff"] for r in differ), default=0)
            print(f"decoded with {setting:14s}: {exact}/{len(results)} identical, {len(differ)} differ "
                  f"(max pixel difference {worst}), {len(refused)} refused")
            for r in refused[:3]:
                print(f"    {r['file']}: {r['refused']}")


if __name__ == "__main__":
    main()
