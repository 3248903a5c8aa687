"""The user-facing codec: PIL image + rate ⇄ bytes of the ``.msn`` format.

    codec = msinn.load()                      # shipped weights (weights/msinn-lite.safetensors)
    data = codec.compress(image, rate=3.5)    # any PIL image → bytes
    image = codec.decompress(data)            # → RGB PIL image of the original size
    info = codec.analyse(image, rate=3.5)     # + latents, coded symbols, bits per element
    decoder = msinn.load_decoder()            # decoding only: no encoder's float32 copy

``rate`` is the continuous rate index in ``codec.rate_range`` = [0, anchors − 1]; bpp grows
with it. Images go through :func:`msinn.image.to_rgb`, are padded to a multiple of 32 and
cropped back after decoding. bpp is always that of the file over the unpadded image
(:func:`msinn.measurement.bits_per_pixel`).

Precision: the analysis transform and the ``effort`` search (encoder only) run in float32;
everything the decoder recomputes (gains, entropy models, LRP, the inverse INN) runs in
float64 on encoder and decoder alike, which is what lets a file decode identically on another
machine, thread count or device (``msinn/coding.py``, docs/FORMAT.md).

``effort`` (0, 1, 2) trades encode time for smaller files at the same quality: 0 codes the
analysis transform's latents, 1 and 2 first refine them for this image (``msinn/refine.py``).
The decoder and the format are the same at every effort.
"""

from __future__ import annotations

import copy
import functools
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import numpy as np
import torch
from PIL import Image
from torch import Tensor

from . import bitstream
from .bitstream import BitstreamError, Header
from .config import LATENT_NAMES
from .image import check_size, crop, load_image, pad, to_image, to_tensor
from .memory import host_max_pixels
from .metrics import bits_per_pixel
from .model import MSINN
from .refine import effort_settings, refine
from .weights import load_weights, weights_file_id

WEIGHTS_DIR = Path(__file__).resolve().parent.parent / "weights"
DEFAULT_MODEL = "msinn-lite"


@dataclass
class Prepared:
    """The rate-independent part of encoding one image: computed once, reused at every rate."""

    image: Image.Image  # the RGB input after the mode/EXIF rule
    x: Tensor | None  # (1, 3, H', W') padded to a multiple of 32; None when not kept (no effort search)
    y: list[Tensor]  # analysis latents [y1 … y5]
    analysis_s: float

    @property
    def size(self) -> tuple[int, int]:
        return self.image.size  # (width, height)


@dataclass
class Encoded:
    """One image coded at one rate, with what a viewer wants to show about it."""

    data: bytes
    image: Image.Image  # the reconstruction, bit-identical to what decompress(data) returns
    rate: float
    encode_s: float
    stream_bytes: dict[str, int]  # real bytes per latent, "y5" … "y1"
    bits: dict[str, np.ndarray] = field(default_factory=dict)  # (C, h, w) −log2 p per element
    symbols: dict[str, np.ndarray] = field(default_factory=dict)  # (C, h, w) coded residuals r̂

    @property
    def bpp(self) -> float:
        return bits_per_pixel(len(self.data), self.image.size)


class Decoder:
    """A loaded model that reads ``.msn`` files. ``model`` is taken over and converted to
    float64, the precision of everything the decoder computes."""

    def __init__(self, model: MSINN, model_id: bytes, name: str, meta: dict | None = None):
        self.model = model.double().eval()
        self.model_id = model_id
        self.name = name
        self.meta = meta or {}
        self.device = next(model.parameters()).device

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r}, config={self.model.cfg.name!r}, id={self.model_id.hex()})"

    @property
    def rate_range(self) -> tuple[float, float]:
        return 0.0, float(self.model.anchors - 1)

    def check_rate(self, rate: float | str) -> float:
        """The library's rate parser: ``rate`` (a number, or text of one) validated and rounded
        to float32, the precision stored in the header. Its ValueError is one plain sentence
        a user interface can show as it is."""
        lo, hi = self.rate_range
        try:
            value = float(rate)
        except (TypeError, ValueError):
            value = float("nan")
        if not lo <= value <= hi:
            raise ValueError(f"The rate must be a number from {lo:g} to {hi:g}; got {rate!r}.")
        return float(np.float32(value))

    def read_header(self, data: bytes) -> Header:
        """Parse and validate a file for this codec (weights id, rate range)."""
        header, _ = self._unpack(data)
        return header

    def _unpack(self, data: bytes) -> tuple[Header, list[bytes]]:
        header, streams = bitstream.unpack(data)
        if header.model_id != self.model_id:
            writer = _shipped_ids().get(header.model_id)
            made_by = f"model {writer!r}" if writer else f"weights {header.model_id.hex()}, which are not in {WEIGHTS_DIR.name}/"
            raise BitstreamError(
                f"this file was made by {made_by}, not by the loaded {self.name!r}: "
                f"decode it with {f'{writer!r}' if writer else 'the weights that made it'}"
            )
        lo, hi = self.rate_range
        if not lo <= header.rate <= hi:
            raise BitstreamError(f"rate index {header.rate} outside this model's range [{lo:g}, {hi:g}]")
        return header, streams

    @torch.no_grad()
    def decompress(self, data: bytes, max_pixels: int | None = None) -> Image.Image:
        """Bytes of the .msn format → RGB PIL image of the original size.

        Raises :class:`BitstreamError` for any file that is invalid, made with other weights,
        larger than ``max_pixels``, or whose symbols do not decode exactly here. Decoding
        work grows with the pixels a header claims (docs/FORMAT.md), so ``max_pixels``
        defaults to what this host's memory holds (:func:`msinn.memory.host_max_pixels`);
        callers serving untrusted files lower it, like Pillow's limit."""
        header, streams = self._unpack(data)
        max_pixels = host_max_pixels() if max_pixels is None else max_pixels
        if header.height * header.width > max_pixels:
            raise BitstreamError(f"image of {header.width}x{header.height} exceeds the {max_pixels:,} pixel limit of this decoder")
        f = MSINN.downsampling_factor
        shape = (-(-header.height // f) * f // 16, -(-header.width // f) * f // 16)
        x_hat = self.model.decompress(streams, list(header.checksums), shape, header.rate)["x_hat"]
        return to_image(crop(x_hat, header.height, header.width))


class Codec(Decoder):
    """A :class:`Decoder` that also encodes: a float32 copy of the model does the encoder's
    analysis and effort search (everything the decoder recomputes stays float64)."""

    def __init__(self, model: MSINN, model_id: bytes, name: str, meta: dict | None = None):
        self.float_model = copy.deepcopy(model).float().eval()  # before the decoder makes ``model`` float64
        super().__init__(model, model_id, name, meta)

    @torch.no_grad()
    def prepare(self, image: Image.Image | str | Path, keep_input: bool = True) -> Prepared:
        """Apply the image rule and run the (rate-independent) analysis transform; the padded
        input is kept for the ``effort`` search unless ``keep_input`` is False (12 MP: 0.14 GB)."""
        rgb = load_image(image)
        check_size(*rgb.size)
        start = time.perf_counter()
        x = pad(to_tensor(rgb).to(self.device), MSINN.downsampling_factor)
        y = self.float_model.inn.analysis(x, self.float_model.tile)
        return Prepared(rgb, x if keep_input else None, y, time.perf_counter() - start)

    @torch.no_grad()
    def encode(
        self, image: Image.Image | str | Path | Prepared, rate: float, details: bool = False, effort: int = 0, progress=None
    ) -> Encoded:
        """Code at ``rate``; ``details`` adds per-element bits and symbols for each latent;
        ``effort`` > 0 refines the latents first (``progress(step, steps)`` is called as it goes)."""
        prep, out = self._compress(image, rate, details, reconstruct=True, effort=effort, progress=progress)
        width, height = prep.size
        enc = Encoded(
            data=out["data"],
            image=to_image(crop(out["x_hat"], height, width)),
            rate=out["rate"],
            encode_s=out["encode_s"],
            stream_bytes={n: len(s) for n, s in zip(LATENT_NAMES, out["strings"], strict=False)},
        )
        if details:
            enc.bits = {n: b[0].cpu().numpy() for n, b in zip(LATENT_NAMES, out["bits"], strict=False)}
            enc.symbols = {n: s[0].cpu().numpy() for n, s in zip(LATENT_NAMES, out["symbols"], strict=False)}
        return enc

    def compress(self, image: Image.Image | str | Path | Prepared, rate: float, effort: int = 0) -> bytes:
        """Any PIL image (or path) → bytes of the .msn format (no reconstruction computed)."""
        return self._compress(image, rate, details=False, reconstruct=False, effort=effort)[1]["data"]

    def _compress(
        self, image: Image.Image | str | Path | Prepared, rate: float, details: bool, reconstruct: bool, effort: int = 0, progress=None
    ) -> tuple[Prepared, dict]:
        """The model's compress output plus "data" (the file), "rate" and "encode_s"."""
        rate = self.check_rate(rate)
        steps, lr = effort_settings(effort)
        prep = image if isinstance(image, Prepared) else self.prepare(image, keep_input=steps > 0)
        start = time.perf_counter()
        ys = prep.y
        if steps:
            if prep.x is None:
                raise ValueError("an effort search needs the input: prepare the image with keep_input=True")
            with torch.enable_grad():
                ys = refine(self.float_model, prep.x, prep.y, rate, steps, prep.size[::-1], lr=lr, progress=progress)
        out = self.model.compress_latents(ys, rate, record_bits=details, reconstruct=reconstruct)
        width, height = prep.size
        header = Header(self.model_id, height, width, rate, tuple(out["checksums"]))
        out["data"] = bitstream.pack(header, out["strings"])
        out["rate"] = rate
        out["encode_s"] = time.perf_counter() - start + (0 if isinstance(image, Prepared) else prep.analysis_s)
        return prep, out

    def analyse(self, image: Image.Image | str | Path | Prepared, rate: float, effort: int = 0) -> Encoded:
        """Encode with per-element bits and coded symbols of every latent, for display."""
        return self.encode(image, rate, details=True, effort=effort)

    def rate_for_bpp(
        self,
        image: Image.Image | str | Path | Prepared,
        target_bpp: float,
        encode: Callable[[float], Encoded] | None = None,
        known: Iterable[Encoded] = (),
        step: float = 0.001,
        rel_tol: float = 0.005,
        max_steps: int = 12,
    ) -> Encoded:
        """The encoding of ``image`` whose real bpp is closest to ``target_bpp`` (bpp grows with
        the rate).

        Starts from the tightest bracket among the ``known`` encodings of this image (else it
        codes both ends of the rate range) and narrows it on real file sizes, each try at the
        rate where log-bpp interpolates to the target (kept inside the middle 80 % of the
        bracket), until a file is within ``rel_tol`` of the target or the bracket's ends are
        adjacent multiples of ``step``; every rate tried is such a multiple. A target beyond
        what the image reaches returns that end of the range (compare its ``bpp``).
        ``encode(rate)`` codes one try; by default ``self.encode`` on the prepared image (the
        app passes its cached, scheduled one).
        """
        if not target_bpp > 0:
            raise ValueError(f"target bpp must be a positive number, got {target_bpp!r}")
        if encode is None:
            prep = image if isinstance(image, Prepared) else self.prepare(image)

            def encode(rate: float) -> Encoded:
                return self.encode(prep, rate)

        lo, hi = self.rate_range
        known = list(known)
        a = max((e for e in known if e.bpp <= target_bpp), key=lambda e: e.rate, default=None) or encode(lo)
        above = [e for e in known if e.bpp > target_bpp and e.rate > a.rate]
        b = min(above, key=lambda e: e.rate, default=None) or encode(hi)
        for _ in range(max_steps):
            ka, kb = round(a.rate / step), round(b.rate / step)  # the bracket on the step grid
            if not a.bpp < target_bpp < b.bpp or kb - ka < 2:
                break  # the target is beyond an end of the range, or the bracket is closed
            t = float(np.clip(np.log(target_bpp / a.bpp) / np.log(b.bpp / a.bpp), 0.1, 0.9))
            k = min(max(round((a.rate + (b.rate - a.rate) * t) / step), ka + 1), kb - 1)
            e = encode(round(k * step, 9))
            a, b = (e, b) if e.bpp <= target_bpp else (a, e)
            if abs(e.bpp - target_bpp) <= rel_tol * target_bpp:
                break
        return min((a, b), key=lambda e: abs(e.bpp - target_bpp))


def default_device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def resolve_weights(name_or_path: str | Path | None) -> Path:
    """A path to a weights file, or a name of one in weights/ ("msinn-mid", or just "mid");
    default: the shipped default model."""
    name_or_path = name_or_path or DEFAULT_MODEL
    path = Path(name_or_path)
    if path.is_file():
        return path
    for candidate in (WEIGHTS_DIR / f"{path.name}.safetensors", WEIGHTS_DIR / f"msinn-{path.name}.safetensors"):
        if candidate.is_file():
            return candidate
    raise ValueError(f"no weights {str(name_or_path)!r}: give a .safetensors path or one of {shipped_models()}")


def shipped_models() -> list[str]:
    """Names of the weights in weights/, e.g. ["msinn-lite", "msinn-mid"]."""
    return sorted(p.stem for p in WEIGHTS_DIR.glob("*.safetensors"))


def _shipped_ids() -> dict[bytes, str]:
    """Weights id → name of every readable MSINN weights file in weights/ (ids computed once per file)."""
    ids = {}
    for name in shipped_models():
        path = WEIGHTS_DIR / f"{name}.safetensors"
        try:
            ids[_file_id(path, path.stat().st_mtime_ns)] = name
        except ValueError:
            continue  # not MSINN weights: it names no file
    return ids


@functools.lru_cache(maxsize=16)
def _file_id(path: Path, mtime_ns: int) -> bytes:
    return weights_file_id(path)


def model_for(data: bytes) -> str | None:
    """The name of the shipped weights that wrote this .msn file, or None (other weights)."""
    header, _ = bitstream.unpack(data)
    return _shipped_ids().get(header.model_id)


D = TypeVar("D", bound=Decoder)


def load(name_or_path: str | Path | None = None, device: str | torch.device | None = None) -> Codec:
    """Load a codec: the shipped default model, a name in weights/, or a .safetensors path.

    The device defaults to CUDA when present. Files decode to the same symbols on any device
    and CPU (docs/FORMAT.md states what is exact and where it was tested).
    """
    return _load(Codec, name_or_path, device)


def load_decoder(name_or_path: str | Path | None = None, device: str | torch.device | None = None) -> Decoder:
    """Load a model for decoding only (as :func:`load`, without the encoder's float32 copy)."""
    return _load(Decoder, name_or_path, device)


def _load(kind: type[D], name_or_path: str | Path | None, device: str | torch.device | None) -> D:
    path = resolve_weights(name_or_path)
    model, model_id, meta = load_weights(path, device or default_device())
    return kind(model, model_id, path.stem, meta)
