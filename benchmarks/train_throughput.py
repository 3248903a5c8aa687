"""Training throughput (crops per second) per config on the machine it runs on.

    python -m benchmarks.train_throughput [--configs lite mid paper] [--batch 8] [--crop 128] [--steps 20]
                                          [--train-dirs DIR ...]

Runs the trainer's own step (``msinn.train.train_step``: the device-side crop sampler,
autocast as in training, Adam) on randomly initialised models and reports crops/s after a
warm-up, with the sampler's share of the time measured alone. On CUDA it also samples the
GPU's utilisation while it runs (needs ``nvidia-smi``); the goal there is ≥ 70 % for ``paper``.
"""

from __future__ import annotations

import argparse
import subprocess
import threading
import time
from contextlib import nullcontext
from pathlib import Path

import torch

from msinn.config import get_config
from msinn.model import MSINN
from msinn.train import DEFAULT_TRAIN, CropSampler, build_optimizer, image_files, train_step


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


class GpuBusy:
    """Samples nvidia-smi's utilisation.gpu every 0.2 s in a thread; mean in percent."""

    def __init__(self) -> None:
        self.samples: list[int] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                out = subprocess.run(["nvidia-smi", "--query-gpu=utilization.gpu", "--format=csv,noheader,nounits"],
                                     capture_output=True, text=True, timeout=2)  # fmt: skip
                self.samples.append(int(out.stdout.split()[0]))
            except (OSError, ValueError, IndexError, subprocess.TimeoutExpired):
                return
            time.sleep(0.2)

    def __enter__(self) -> GpuBusy:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()

    @property
    def mean(self) -> float | None:
        return sum(self.samples) / len(self.samples) if self.samples else None


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--configs", nargs="+", default=["lite", "mid", "paper"])
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--crop", type=int, default=128)
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--images", type=int, default=40, help="training images to load")
    p.add_argument("--train-dirs", nargs="+", type=Path, default=DEFAULT_TRAIN)
    p.add_argument("--device", default=None)
    p.add_argument("--fp32", action="store_true")
    p.add_argument("--compile", action="store_true")
    args = p.parse_args()
    device = torch.device(args.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    files = image_files(args.train_dirs)[: args.images]
    sampler = CropSampler(files, args.crop, seed=0, device=device)
    print(f"device {device}, torch threads {torch.get_num_threads()}, batch {args.batch} of {args.crop}², "
          f"autocast {'off' if args.fp32 else 'on'}, {len(files)} images")  # fmt: skip
    for _ in range(3):
        sampler.batch(args.batch)
    sync(device)
    start = time.perf_counter()
    for _ in range(args.steps):
        sampler.batch(args.batch)
    sync(device)
    sample_s = (time.perf_counter() - start) / args.steps
    print(f"sampler alone: {args.batch / sample_s:,.0f} crops/s ({1000 * sample_s:.1f} ms per batch)")
    for name in args.configs:
        torch.manual_seed(0)
        model = MSINN(get_config(name)).to(device)
        model.initialise(sampler.batch(args.batch))
        model.train()
        if device.type == "cpu":
            model = model.to(memory_format=torch.channels_last)
        net = torch.compile(model) if args.compile else model
        optimizer = build_optimizer(model, 1e-5)
        lambdas = torch.tensor(model.cfg.lambdas, device=device)
        for _ in range(3):
            train_step(net, optimizer, sampler, lambdas, args.batch, not args.fp32, 1.0)
        sync(device)
        with GpuBusy() if device.type == "cuda" else nullcontext() as busy:
            start = time.perf_counter()
            for _ in range(args.steps):
                train_step(net, optimizer, sampler, lambdas, args.batch, not args.fp32, 1.0)
            sync(device)
            step_s = (time.perf_counter() - start) / args.steps
        gpu = f", GPU busy {busy.mean:.0f} %" if busy is not None and busy.mean is not None else ""
        print(f"{name:6s}: {args.batch / step_s:8.1f} crops/s ({step_s:.3f} s per step, sampler {100 * sample_s / step_s:.0f} %){gpu}")


if __name__ == "__main__":
    main()
