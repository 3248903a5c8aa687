"""One image in an interactive viewer: analysed once, coded at any rate as jobs on the
server's lanes, results cached per rate, its files in the file store.

    session = ImageSession(codec, image, serving, owner="tab-1", files=store)
    session.start_grid()                   # background steps: rates 0, 11, 8, 4, … coarse to fine
    session.nearest(4.3)                   # the cached result closest to 4.3 (instant)
    session.encode(4.3, details=True)      # a job: code at exactly 4.3 (+ bits per element)
    session.decode(4.3)                    # a job: decode that file, timed, checked
    session.rate_for_bpp(0.5, step=0.05)   # the library's search; each try a cached job
    session.refine(4.3, effort=1)          # a long job on the refine lane, decoded, checked
    session.classic.measure("webp", 50)    # classic codecs on this image (msinn_app/classic.py)

It composes the pieces that own each concern: the rate cache (``results.py``), the classic
comparison (``classic.py``), the file store (``files.py``) and the lanes (``serving.py``).
Measurements are the library's one :func:`msinn.measure`, the rate search ``rate_for_bpp``
of the codec.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Hashable, Iterable
from dataclasses import replace
from pathlib import Path
from typing import Any, Protocol

import numpy as np
from PIL import Image

from msinn import Encoded, Measured, decode_checked, measure
from msinn.image import to_rgb
from msinn.refine import effort_settings

from .classic import ClassicComparison
from .files import FileStore
from .results import RateCache
from .scheduler import CancelledError
from .serving import Serving

# The viewer's size limit (the codec itself takes up to 16384 px per side): larger uploads
# are downscaled so that one coding job stays within about ten seconds on one core of a slow
# (AVX2-only) CPU.
VIEW_MAX_SIDE = 2048
VIEW_MAX_PIXELS = 2_000_000
LARGE_PIXELS = 1_000_000  # above this an image is large: a coarser grid, a note on its cost
GRID_STEP = 0.5  # rate spacing of the background grid up to LARGE_PIXELS; doubled above


def limit_size(image: Image.Image) -> tuple[Image.Image, str | None]:
    """Downscale (Lanczos) to fit VIEW_MAX_SIDE and VIEW_MAX_PIXELS; return it and a notice."""
    w, h = image.size
    scale = min(1.0, VIEW_MAX_SIDE / max(w, h), (VIEW_MAX_PIXELS / (w * h)) ** 0.5)
    if scale == 1.0:
        return image, None
    size = (max(1, int(w * scale)), max(1, int(h * scale)))
    notice = (
        f"Downscaled from {w}×{h} to {size[0]}×{size[1]}: this demo codes images up to "
        f"{VIEW_MAX_SIDE} px per side and {VIEW_MAX_PIXELS / 1e6:g} MP "
        f"(the library itself up to 16384 px per side)."
    )
    return image.resize(size, Image.Resampling.LANCZOS), notice


def grid_step(pixels: int) -> float:
    """Rate spacing of an image's background grid: GRID_STEP, doubled for a large image (its
    grid steps cost several times a Kodak image's; the viewer's 2 MP one has 12 steps of 1.0 on
    the 0–11 range instead of 23)."""
    return GRID_STEP * (2 if pixels > LARGE_PIXELS else 1)


def grid_rates(rate_range: tuple[float, float], step: float = GRID_STEP) -> list[float]:
    """Rates lo, lo + step, …, hi ordered coarse to fine (both ends, then ever finer
    strides), so a partly filled grid already spans the whole range."""
    lo, hi = rate_range
    rates = list(np.arange(lo, hi + 1e-9, step).round(6))
    if rates[-1] < hi - 1e-9:  # a step that does not divide the range still ends at hi
        rates.append(hi)
    n = len(rates) - 1
    order, stride = [0, n], 1 << max(n.bit_length() - 1, 0)
    while stride:
        order += [i for i in range(0, n, stride) if i not in order]
        stride //= 2
    return [float(rates[i]) for i in dict.fromkeys(order)]


class SessionCodec(Protocol):
    """What a session needs of a codec: ``msinn.Codec`` itself, or one whose model lives in
    another process (``msinn_app.host.ZeroGPUCodec``). ``prepare`` returns what ``encode`` and
    ``rate_for_bpp`` take as the image: the analysis, or the image itself where no analysis can
    be kept between calls."""

    name: str
    rate_range: tuple[float, float]

    def check_rate(self, rate: float) -> float: ...

    def prepare(self, image: Image.Image) -> Any: ...

    def encode(self, source: Any, rate: float, details: bool = False, effort: int = 0,
               progress: Callable[[int, int], None] | None = None) -> Encoded: ...  # fmt: skip

    def decompress(self, data: bytes) -> Image.Image: ...

    def rate_for_bpp(self, source: Any, target_bpp: float, encode: Callable[[float], Encoded],
                     known: list[Encoded], step: float) -> Encoded: ...  # fmt: skip


def result_name(result: Measured) -> str:
    """Names a result's files: ``rate4.30``, refined ``rate4.30-effort1``."""
    return f"rate{result.rate:.2f}" + (f"-effort{result.effort}" if result.effort else "")


class ImageSession:
    """The analysis of one image and its results; every model call a job of ``owner``."""

    def __init__(
        self,
        codec: SessionCodec,
        image: Image.Image,
        serving: Serving,
        owner: Hashable | None = None,
        files: FileStore | None = None,
    ):
        self.codec, self.serving, self.store = codec, serving, files
        self.id = uuid.uuid4().hex  # names this session's files
        self.owner = owner if owner is not None else self.id
        self.image, self.notice = limit_size(to_rgb(image))
        self.lane = serving.model
        self.pixels = self.image.size[0] * self.image.size[1]
        self.source = self.lane.run(self.owner, codec.prepare, self.image)
        self.cache = RateCache()
        self.classic = ClassicComparison(self.image, self.owner, serving.classic)
        self._refine_wanted: tuple[float, int] | None = None  # the latest refine request
        self._closed = threading.Event()

    @property
    def large(self) -> bool:
        """Above LARGE_PIXELS: a coarser grid, and the viewer says what it costs."""
        return self.pixels > LARGE_PIXELS

    @property
    def version(self) -> int:
        """Changes with every new result or classic point: tells viewers when to redraw."""
        return self.cache.version + self.classic.version

    def cached(self, rate: float) -> Measured | None:
        return self.cache.get(self.codec.check_rate(rate))

    def nearest(self, rate: float) -> Measured | None:
        return self.cache.nearest(rate)

    def refined(self, rate: float, effort: int) -> Measured | None:
        return self.cache.refined(self.codec.check_rate(rate), effort)

    def refined_by_effort(self) -> dict[int, list[Measured]]:
        """The refined results per effort, each list by rate."""
        by_effort: dict[int, list[Measured]] = {}
        for result in self.cache.refined_results():
            by_effort.setdefault(result.effort, []).append(result)
        return dict(sorted(by_effort.items()))

    # Coding (each model call one job) ----------------------------------------------------

    def _encode_now(self, rate: float, details: bool) -> Measured:
        """Code and measure at ``rate`` in the calling thread (inside a job)."""
        old = self.cached(rate)
        if old is not None and (old.encoded.bits or not details):
            return old  # made by another job while this one waited
        enc = self.codec.encode(self.source, rate, details=details)
        result = measure(self.codec, self.image, rate, encoded=enc, decode=False)
        return self.cache.store(replace(result, decode_s=old.decode_s) if old is not None else result)

    def encode(self, rate: float, details: bool = False, slot: Hashable | None = None) -> Measured:
        """The result at ``rate`` (cached, else one job); ``details`` adds bits and symbols per
        latent element. With ``slot``, a newer request of this owner in that slot replaces this
        one if it has not started (``CancelledError``)."""
        rate = self.codec.check_rate(rate)
        old = self.cached(rate)
        if old is not None and (old.encoded.bits or not details):
            return old
        return self.lane.run(self.owner, self._encode_now, rate, details, slot=slot)

    def _decode_now(self, result: Measured) -> Measured:
        decoded = decode_checked(result, self.codec.decompress)
        latest = self.cached(result.rate) or result  # keep details added meanwhile
        return self.cache.store(replace(latest, decode_s=decoded.decode_s))

    def decode(self, rate: float, slot: Hashable | None = None) -> Measured:
        """Decode the cached file at ``rate`` (one job): its decode time, and a check that it
        gives the encoder's image bit for bit. Codes it first if it is not cached."""
        result = self.encode(rate, slot=slot)
        if result.decode_s is not None:
            return result
        return self.lane.run(self.owner, self._decode_now, result, slot=slot)

    def exact(self, rate: float, slot: Hashable | None = None) -> Measured:
        """Encode with details and decode at ``rate``."""
        self.encode(rate, details=True, slot=slot)
        return self.decode(rate, slot=slot)

    def refine(self, rate: float, effort: int, progress: Callable[[int, int], None] | None = None) -> Measured:
        """The file at ``rate`` coded at encoder ``effort`` (1 or 2: the latents searched first,
        ``msinn/refine.py``), measured, decoded (timed) and checked bit for bit; cached apart
        from effort 0.

        One job on the refine lane after the effort-0 result at ``rate`` (the comparison,
        usually cached). ``progress(step, steps)`` is called as the search starts (step 0) and
        after each step. The latest refine request of this session wins: a running one stops at
        its next step, raising ``CancelledError``, once another rate or effort is asked for,
        the session closes (tab closed, new image) or the lane closes (process exit)."""
        rate = self.codec.check_rate(rate)
        if not effort_settings(effort)[0]:
            raise ValueError(f"refining needs an effort above 0, got {effort!r}")
        key = self._refine_wanted = (rate, effort)
        done = self.refined(rate, effort)
        if done is not None:
            return done
        self.encode(rate)
        return self.serving.refine.run(self.owner, self._refine_now, key, progress, slot="refine")

    def _refine_now(self, key: tuple[float, int], progress: Callable[[int, int], None] | None) -> Measured:
        """Refine in the calling thread (inside a job); see :meth:`refine`."""

        def step(done: int, steps: int) -> None:
            if self._closed.is_set() or self.serving.refine.closed or self._refine_wanted != key:
                raise CancelledError(f"refining rate {key[0]:g} at effort {key[1]} is no longer wanted")
            if progress is not None:
                progress(done, steps)

        rate, effort = key
        made = self.refined(rate, effort)
        if made is not None:
            return made  # made by another job while this one waited
        step(0, effort_settings(effort)[0])
        enc = self.codec.encode(self.source, rate, details=True, effort=effort, progress=step)
        return self.cache.store(measure(self.codec, self.image, rate, encoded=enc, effort=effort))

    def rate_for_bpp(
        self, target_bpp: float, step: float = 0.001, on_try: Callable[[float], None] | None = None
    ) -> Measured:
        """The result whose real bpp is closest to ``target_bpp`` (``rate_for_bpp`` of the
        codec, starting from what the cache holds; each try a cached job, reported to
        ``on_try``). A target beyond what the image reaches returns the nearest end."""

        def encode(rate: float):
            if on_try is not None:
                on_try(rate)
            return self.encode(rate).encoded

        known = [r.encoded for r in self.cache.results()]
        enc = self.codec.rate_for_bpp(self.source, target_bpp, encode=encode, known=known, step=step)
        return self.cached(enc.rate) or self.encode(enc.rate)

    # Files -------------------------------------------------------------------------------

    def files(self, result: Measured) -> tuple[Path, Path]:
        """The .msn file of ``result`` and the PNG of its reconstruction, named by its rate (and
        effort, if refined), in this session's folder of the file store (written once)."""
        if self.store is None:
            raise RuntimeError("this session has no file store")
        name = f"msinn-{result_name(result)}"
        msn = self.store.ensure(self.id, f"{name}.msn", lambda p: p.write_bytes(result.data))
        return msn, self.store.ensure_png(self.id, f"{name}.png", result.image)

    def input_png(self) -> Path:
        """The coded input (after the image rule and size limit) as a PNG file."""
        if self.store is None:
            raise RuntimeError("this session has no file store")
        return self.store.ensure_png(self.id, "input.png", self.image)

    # Background work ---------------------------------------------------------------------

    def _grid_steps(self, rates: Iterable[float]):
        """The grid's steps; once they are taken, the classic codecs' background sweeps start."""
        for rate in rates:
            if self._closed.is_set():
                return
            if self.cached(rate) is None:
                yield lambda rate=rate: self._grid_step(rate)
        if not self._closed.is_set():
            self.classic.start_background()

    def _grid_step(self, rate: float) -> None:
        result = self._encode_now(rate, details=False)
        if self.store is not None and not self._closed.is_set():
            try:
                self.files(result)  # so that showing it later costs no PNG encoding
            except FileNotFoundError:  # the session closed and its folder went meanwhile
                if not self._closed.is_set():
                    raise

    def start_grid(self, rates: Iterable[float] | None = None) -> None:
        """Code ``rates`` (default: ``grid_rates`` at this image's ``grid_step``) as background
        steps of this owner, then the classic codecs of ``classic.BACKGROUND`` on the classic
        lane; count this session among the server's live ones (the oldest beyond the bound
        closes)."""
        self.serving.live.add(self)
        rates = grid_rates(self.codec.rate_range, grid_step(self.pixels)) if rates is None else list(rates)
        self.lane.background(self.owner, self._grid_steps(rates))

    @property
    def busy(self) -> bool:
        """Whether this owner's background work (the grid, then classic codings) is still queued
        or running."""
        return not self._closed.is_set() and (self.lane.has_background(self.owner) or self.classic.busy)

    @property
    def closed(self) -> bool:
        return self._closed.is_set()

    def close(self) -> None:
        """Drop this owner's queued work and the results (the session still codes on request;
        the files stay until :meth:`delete_files`, a viewer may still show them). Only the
        first call cancels: by a later one the owner may be coding another image."""
        if self._closed.is_set():
            return
        self._closed.set()
        self.lane.cancel(self.owner)
        self.serving.refine.cancel(self.owner)
        self.cache.close()
        self.classic.clear()

    def delete_files(self) -> None:
        if self.store is not None:
            self.store.remove(self.id)
