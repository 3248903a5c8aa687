"""Training with the paper's variable-rate recipe (spec §4), sized for a CPU.

Every sample of a batch gets its own random anchor a and λ = LAMBDAS[a];
loss = bpp + 255²·mean_b(λ_b·MSE_b), straight-through rounding for the reconstruction and
uniform noise for the rate, Adam with gradient clipping (gain tables at 10× the learning rate).

Single process (CPU uses channels_last + bf16 autocast when the CPU supports bf16)::

    python -m msinn train --config lite --out runs/lite --minutes 60
    python -m msinn train --config lite --out runs/lite --minutes 60 --resume runs/lite/checkpoint.pt

Several processes (DistributedDataParallel; gloo on CPU, nccl on GPUs)::

    torchrun --nproc_per_node 4 -m msinn train --config paper --out runs/paper --crop 256

The paper's wide-range model: train ``paper`` (8 anchors), then fine-tune at 12::

    python -m msinn train --resume runs/paper/checkpoint.pt --extend-anchors 12 --lr 1e-5 --out runs/paper12

Every flag: ``python -m msinn train --help`` (parsed in :mod:`msinn.cli`).
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import math
import os
import random
import time
from contextlib import nullcontext
from pathlib import Path

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import Tensor
from tqdm import tqdm

from .config import LATENT_NAMES, MSINNConfig, get_config
from .grow import grow, grown_config
from .image import IMAGE_SUFFIXES, load_image, to_tensor
from .model import MSINN
from .postfilter import PostFilter
from .weights import load_weights, save_weights

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data" / "train"
DEFAULT_TRAIN = [SHARED / "cid22" / "training", SHARED / "bsds500", SHARED / "clic2025"]
DEFAULT_VALID = SHARED / "cid22" / "validation"


# -- data -------------------------------------------------------------------------------


def image_files(folders: list[Path]) -> list[Path]:
    files = sorted(p for d in folders for p in Path(d).rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise ValueError(f"no images found in {[str(d) for d in folders]}")
    return files


class CropSampler:
    """Random crops from images held as uint8 (3, H, W) tensors on the training device.

    Each crop covers a window of crop/s pixels (s uniform in [min_scale, 1]) resized to
    ``crop`` with antialiasing: more variety, and it softens the JPEG artefacts of BSDS500.
    On a GPU the images live in its memory and cropping and resizing run there, so the host
    only draws a few random numbers per crop (on the H100 the CPU sampler left the GPU ~88 %
    idle). Crops of the same window size are resized together.
    """

    def __init__(self, files: list[Path], crop: int, seed: int, min_scale: float = 0.6, device: torch.device | str = "cpu"):
        self.images = [to_tensor(load_image(f), dtype=torch.uint8)[0].to(device) for f in files]
        self.crop, self.min_scale = crop, min_scale
        self.rng = random.Random(seed)

    def batch(self, size: int) -> Tensor:
        """(size, 3, crop, crop) float in [0, 1], on the images' device."""
        by_window: dict[int, list[Tensor]] = {}
        for _ in range(size):
            window, patch = self._window()
            by_window.setdefault(window, []).append(patch)
        out = []
        for window, patches in by_window.items():
            x = torch.stack(patches).float() / 255
            if window != self.crop:
                x = F.interpolate(x, size=(self.crop, self.crop), mode="bilinear", antialias=True, align_corners=False)
            out.append(x)
        return torch.cat(out).clamp(0, 1)

    def _window(self) -> tuple[int, Tensor]:
        """A random window (side, uint8 view (3, side, side)) of a random image."""
        img = self.images[self.rng.randrange(len(self.images))]
        _, h, w = img.shape
        window = min(int(self.crop / self.rng.uniform(self.min_scale, 1.0)), h, w)
        if window < self.crop:  # image smaller than the crop: upsample what there is
            window = min(h, w)
        top, left = self.rng.randrange(h - window + 1), self.rng.randrange(w - window + 1)
        return window, img[:, top : top + window, left : left + window]


def validation_set(folder: Path, size: int) -> Tensor:
    """Centre crops (N, 3, size, size) of a held-out folder."""
    crops = []
    for f in image_files([folder]):
        x = to_tensor(load_image(f))
        _, _, h, w = x.shape
        s = min(size, h, w)
        top, left = (h - s) // 2, (w - s) // 2
        x = x[:, :, top : top + s, left : left + s]
        crops.append(x if s == size else F.interpolate(x, size=(size, size), mode="bilinear", antialias=True))
    return torch.cat(crops)


# -- pure pieces ------------------------------------------------------------------------


def append_csv(path: Path, row: dict) -> None:
    """Append a row, writing the header first when the file is new. An existing file keeps its
    columns (a run resumed by a newer trainer leaves out what the older one did not log)."""
    fields = list(row)
    if path.exists():
        with open(path, newline="") as f:
            fields = next(csv.reader(f), None) or fields
    with open(path, "a", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=fields, extrasaction="ignore")
        if f.tell() == 0:
            writer.writeheader()
        writer.writerow(row)


def learning_rate(step: int, base: float, milestones: list[int], gamma: float) -> float:
    """Step schedule: ``base`` times ``gamma`` for every milestone already passed."""
    return base * gamma ** sum(step >= m for m in milestones)


def rd_loss(out: dict, x: Tensor, lambdas: Tensor) -> dict[str, Tensor]:
    """loss = bpp + 255²·mean_b(λ_b·MSE_b); bpp from the likelihoods, per batch pixel."""
    b, _, h, w = x.shape
    bits = sum(torch.log2(lik).sum() for lik in out["likelihoods"].values())
    bpp = -bits / (b * h * w)
    mse = (out["x_hat"].float() - x).pow(2).mean(dim=(1, 2, 3))
    loss = bpp + 255**2 * (lambdas * mse).mean()
    return {"loss": loss, "bpp": bpp, "mse": mse.mean(), "psnr": -10 * torch.log10(mse).mean()}


def autocast_context(device: torch.device, enabled: bool):
    """bf16 autocast on CPUs that support it, fp16/bf16 AMP on CUDA; else nothing."""
    if not enabled:
        return nullcontext()
    if device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16)
    if torch.ops.mkldnn._is_mkldnn_bf16_supported():
        return torch.autocast("cpu", dtype=torch.bfloat16)
    return nullcontext()


# -- training loop ----------------------------------------------------------------------


def build_optimizer(model: MSINN, lr: float) -> torch.optim.Adam:
    """Adam over the trainable parameters (no state for frozen ones), the gain tables at 10× the
    learning rate (each group's ``lr_scale``)."""
    gain_params = [p for p in model.gains.parameters() if p.requires_grad]
    other = [p for n, p in model.named_parameters() if p.requires_grad and not n.startswith("gains.")]
    groups = [{"params": other, "lr_scale": 1.0}, {"params": gain_params, "lr_scale": 10.0}]
    return torch.optim.Adam([g for g in groups if g["params"]], lr=lr)


def add_post_filter(model: MSINN, width: int) -> None:
    """Give trained weights without one a post-filter of ``width``; it starts as the identity,
    so the codec is unchanged until it trains."""
    model.cfg = dataclasses.replace(model.cfg, post_filter=width)  # the config checks the width
    model.post_filter = PostFilter(width).to(model.gains.log_gain.device)


def train_only(model: MSINN, prefix: str) -> None:
    """Freeze every parameter outside ``prefix`` (e.g. "post_filter." to fit a post-filter to a
    trained codec: its latents, files and rates stay as they are)."""
    for name, p in model.named_parameters():
        p.requires_grad_(name.startswith(prefix))
    if not any(p.requires_grad for p in model.parameters()):
        raise ValueError(f"--train-only {prefix!r} matches no parameter")


def train_step(net, optimizer, sampler: CropSampler, lambdas: Tensor, batch: int, autocast: bool, clip: float) -> tuple[Tensor, dict, dict]:
    """One step on a fresh batch, each sample at its own random anchor; no host sync.
    Returns the batch x, the model output and the rd_loss terms (tensors)."""
    x = sampler.batch(batch)
    device = x.device
    if device.type == "cpu":
        x = x.contiguous(memory_format=torch.channels_last)
    anchor = torch.randint(0, len(lambdas), (x.shape[0],), device=device)
    with autocast_context(device, autocast):
        out = net(x, anchor.float())
    r = rd_loss(out, x, lambdas[anchor])
    optimizer.zero_grad(set_to_none=True)
    r["loss"].backward()
    torch.nn.utils.clip_grad_norm_([p for g in optimizer.param_groups for p in g["params"]], clip)
    optimizer.step()
    return x, out, r


@torch.no_grad()
def validate(model: MSINN, x_val: Tensor, device: torch.device) -> dict[str, float]:
    """Estimated bpp and PSNR (eval mode: rounding, fp32) at 4 anchors spread over the range."""
    model.eval()
    anchors = sorted({round(a * (model.anchors - 1) / 3) for a in range(4)})
    stats = {}
    for a in anchors:
        bpp = psnr = 0.0
        for x in x_val.split(8):
            x = x.to(device)
            out = model(x, torch.full((x.shape[0],), float(a), device=device))
            r = rd_loss(out, x, torch.zeros(x.shape[0], device=device))
            bpp += float(r["bpp"]) * x.shape[0]
            psnr += float(-10 * torch.log10((out["x_hat"].clamp(0, 1) - x).pow(2).mean(dim=(1, 2, 3))).sum())
        stats[f"val_bpp_{a}"] = bpp / len(x_val)
        stats[f"val_psnr_{a}"] = psnr / len(x_val)
    model.train()
    return stats


def log_validation(model: MSINN, x_val: Tensor, device: torch.device, step: int, out_dir: Path) -> None:
    valid = validate(model, x_val, device)
    tqdm.write(f"step {step}: " + " ".join(f"{k}={v:.3f}" for k, v in valid.items()))
    append_csv(out_dir / "valid.csv", {"step": step, **valid})


def save_checkpoint(path: Path, model: MSINN, optimizer: torch.optim.Optimizer, step: int, args: argparse.Namespace) -> None:
    """Atomically write everything --resume needs, and export the weights beside it."""
    tmp = path.with_suffix(".tmp")
    torch.save({"model": model.state_dict(), "optimizer": optimizer.state_dict(), "step": step,
                "config": model.cfg.to_dict(), "args": _plain(vars(args))}, tmp)  # fmt: skip
    os.replace(tmp, path)
    save_weights(model, path.with_suffix(".safetensors"), step=step)


def _plain(args: dict) -> dict:
    """Arguments as plain values (no paths or functions) so checkpoints load anywhere."""
    def conv(v):
        return [conv(x) for x in v] if isinstance(v, list) else str(v) if isinstance(v, Path) else v

    return {k: conv(v) for k, v in args.items() if not callable(v)}


def build_model(args: argparse.Namespace, sampler: CropSampler, device: torch.device) -> tuple[MSINN, dict | None, int]:
    """New model (data-dependent init) or one resumed from a checkpoint / weights file."""
    if args.resume and str(args.resume).endswith(".safetensors"):
        model, _, meta = load_weights(args.resume)
        return model.to(device), None, int(meta.get("step", 0))
    if args.resume:
        ckpt = torch.load(args.resume, map_location="cpu", weights_only=False)
        model = MSINN(MSINNConfig.from_dict(ckpt["config"]))
        # Checkpoints written before the likelihood model left the model hold its constant buffers.
        model.load_state_dict({k: v for k, v in ckpt["model"].items() if not k.startswith("gaussian_conditional.")})
        return model.to(device), ckpt["optimizer"], ckpt["step"]
    model = MSINN(get_config(args.config))
    model.to(device).initialise(sampler.batch(16).to(device))
    return model, None, 0


def train(args: argparse.Namespace) -> Path:
    if args.grow_to and not args.resume:
        raise ValueError("--grow-to widens trained weights: give them with --resume")
    distributed = int(os.environ.get("WORLD_SIZE", "1")) > 1
    rank = 0
    if distributed:
        dist.init_process_group("nccl" if torch.cuda.is_available() and args.device != "cpu" else "gloo")
        rank = dist.get_rank()
    device = torch.device(args.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    if device.type == "cuda" and distributed:
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)))
        torch.cuda.set_device(device)
    torch.manual_seed(args.seed + rank)
    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)

    sampler = CropSampler(image_files(args.train_dirs), args.crop, seed=args.seed + 1000 * rank + int(time.time()), device=device)
    x_val = validation_set(Path(args.valid_dir), args.valid_crop) if rank == 0 and args.valid_dir else None
    model, opt_state, step = build_model(args, sampler, device)
    target = grown_config(model.cfg, get_config(args.grow_to)) if args.grow_to else model.cfg
    if target != model.cfg:  # e.g. lite → mid: codes as the resumed weights until it trains
        model = grow(model, target, seed=args.seed).to(device)
        opt_state = None  # new shapes: start Adam afresh (and at a low --lr)
    if args.lambda_scale is not None:  # e.g. to move a resumed model's λ ladder
        model.cfg = dataclasses.replace(model.cfg, lambda_scale=args.lambda_scale)
    if args.extend_anchors and args.extend_anchors != model.anchors:  # e.g. paper 8 → 12
        model.gains.extend(args.extend_anchors)
        model.cfg = dataclasses.replace(model.cfg, anchors=args.extend_anchors)
        opt_state = None  # the gain tables changed shape: start Adam afresh
    if args.add_post_filter and model.post_filter is None:
        add_post_filter(model, args.add_post_filter)
        opt_state = None  # new parameters: start Adam afresh
    elif args.add_post_filter and args.add_post_filter != model.cfg.post_filter:
        raise ValueError(f"--add-post-filter {args.add_post_filter}: these weights already have a post-filter of width {model.cfg.post_filter}")
    if args.train_only:
        train_only(model, args.train_only)
    if device.type == "cpu":
        model = model.to(memory_format=torch.channels_last)
    model.train()
    optimizer = build_optimizer(model, args.lr)
    if opt_state is not None:
        try:
            optimizer.load_state_dict(opt_state)
        except ValueError:  # the checkpoint trained other parameters (--train-only on one run, not the other)
            tqdm.write("the checkpoint's optimiser state is for other trainable parameters: Adam starts afresh")
    net = torch.nn.parallel.DistributedDataParallel(model) if distributed else model
    if args.compile:
        net = torch.compile(net)
    lambdas = torch.tensor(model.cfg.lambdas, device=device)

    ckpt_path = out_dir / "checkpoint.pt"
    start = last_ckpt = last_log = time.time()
    last_log_step = step
    end_step = step + args.steps if args.steps else math.inf
    validated = None
    bar = tqdm(disable=True if rank else None, initial=step, total=None if math.isinf(end_step) else end_step, dynamic_ncols=True)
    while step < end_step and (args.minutes is None or time.time() - start < 60 * args.minutes):
        lr = learning_rate(step, args.lr, args.milestones, args.gamma)
        for group in optimizer.param_groups:
            group["lr"] = lr * group["lr_scale"]
        x, out, r = train_step(net, optimizer, sampler, lambdas, args.batch, not args.fp32, args.clip)
        step += 1
        bar.update(1)
        if rank == 0 and step % args.log_every == 0:  # the only host syncs of a step
            bar.set_postfix(loss=f"{r['loss'].item():.3f}", bpp=f"{r['bpp'].item():.3f}", psnr=f"{r['psnr'].item():.2f}")
            pixels = x.shape[0] * x.shape[2] * x.shape[3]
            now = time.time()
            crops_s = (step - last_log_step) * x.shape[0] / (now - last_log)  # throughput since the last row
            last_log, last_log_step = now, step
            row = {"step": step, "time_s": round(now - start, 1), "lr": lr, "crops_s": round(crops_s, 1)}
            row.update({k: r[k].item() for k in ("loss", "bpp", "psnr")})
            row.update({f"bpp_{n}": float(-torch.log2(out["likelihoods"][n].detach().float()).sum()) / pixels for n in LATENT_NAMES})
            append_csv(out_dir / "log.csv", row)
            if x_val is not None and step % args.valid_every == 0:
                log_validation(model, x_val, device, step, out_dir)
                validated = step
        if rank == 0 and time.time() - last_ckpt > 60 * args.checkpoint_minutes:
            save_checkpoint(ckpt_path, model, optimizer, step, args)
            last_ckpt = time.time()
    bar.close()
    if rank == 0:
        save_checkpoint(ckpt_path, model, optimizer, step, args)
        if x_val is not None and validated != step:  # the weights a run leaves always have a figure
            log_validation(model, x_val, device, step, out_dir)
    if distributed:
        dist.destroy_process_group()
    return ckpt_path
