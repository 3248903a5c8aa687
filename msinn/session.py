"""One image in an interactive viewer: analysis done once, results cached per rate.

    session = ImageSession(codec, image)      # image rule, size limit, INN analysis
    session.start_grid()                      # background: encode at rates 0, 0.5, …, max
    session.nearest(4.3)                      # cached result closest to 4.3 (instant)
    session.encode(4.3, details=True)         # encode at exactly 4.3 (+ bits per element)
    session.exact(4.3)                        # … and decode the bytes, timed and checked
    session.find_rate_for_bpp(0.5)            # search on real file sizes
    session.rd_curve()                        # this image's rate–PSNR curve from the cache

Model calls from every session go through one gate: a foreground call (a user waiting)
runs before any waiting background call (grid, classic codecs), so background work only
fills idle time. No gradio here: the app keeps an ``ImageSession`` in ``gr.State``.
"""

from __future__ import annotations

import atexit
import threading
import time
import uuid
import weakref
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace

import numpy as np
from PIL import Image

from .baselines import BaselineError, BaselineResult, at_bpp, get_codec
from .codec import Codec, Encoded
from .image import to_rgb
from .metrics import ms_ssim, psnr

# The viewer's size limit (the codec itself takes up to 16384 px per side): larger
# uploads are downscaled so one encode stays around a second on two CPU cores.
VIEW_MAX_SIDE = 2048
VIEW_MAX_PIXELS = 2_000_000

GRID_STEP = 0.5  # rate spacing of the background grid
# Sessions whose caches are kept (about 30 MB each for a 768×512 image): starting a grid
# closes the oldest beyond this, so abandoned browser tabs do not pile up in memory.
MAX_LIVE_SESSIONS = 8

# Quality settings per classic codec for this image's curves, low to high rate (about
# 0.1–3 bpp on photos); VVC last, the slowest.
BASELINE_SWEEPS: dict[str, tuple[int, ...]] = {
    "jpeg": (10, 25, 50, 75, 90),
    "webp": (5, 25, 50, 75, 90),
    "jpeg2000": (10, 25, 50, 100, 200),
    "jxl": (20, 45, 70, 85, 95),
    "hevc": (42, 37, 32, 27, 22),
    "av1": (50, 42, 34, 26, 18),
    "vvc": (42, 37, 32, 27, 22),
}


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


class _Gate:
    """Serialises model calls; foreground callers go before waiting background ones, and
    background work also waits ``grace`` seconds after the last foreground call, so a
    user's next step (e.g. the decode after an encode) is not queued behind it."""

    def __init__(self, grace: float = 0.3):
        self._cond = threading.Condition()
        self._busy = False
        self._waiting = 0  # foreground callers waiting
        self._last_foreground = 0.0
        self.grace = grace

    def _background_may_run(self) -> bool:
        return not self._busy and self._waiting == 0 and time.monotonic() - self._last_foreground >= self.grace

    @contextmanager
    def hold(self, foreground: bool) -> Iterator[None]:
        with self._cond:
            if foreground:
                self._waiting += 1
                self._cond.wait_for(lambda: not self._busy)
                self._waiting -= 1
            else:
                while not self._background_may_run():
                    self._cond.wait(timeout=self.grace)
            self._busy = True
        try:
            yield
        finally:
            with self._cond:
                self._busy = False
                if foreground:
                    self._last_foreground = time.monotonic()
                self._cond.notify_all()

    def shut(self) -> None:
        """Wait for the model call in progress, then keep the gate closed for good."""
        with self._cond:
            self._cond.wait_for(lambda: not self._busy)
            self._busy = True


_GATE = _Gate()
_LIVE: deque[weakref.ref[ImageSession]] = deque()
_LIVE_LOCK = threading.Lock()
_EXITING = threading.Event()
_BACKGROUND: list[threading.Thread] = []


@atexit.register
def _stop_model_calls() -> None:
    """At interpreter exit, let background threads finish their current step, wait for a
    foreground call in progress and admit no more: a thread still inside torch when Python
    finalises aborts the process ("terminate called without an active exception")."""
    _EXITING.set()
    for thread in list(_BACKGROUND):
        thread.join()
    _GATE.shut()


@dataclass(frozen=True)
class Result:
    """One rate: the codec's output plus quality metrics and (once decoded) decode time."""

    encoded: Encoded
    psnr: float
    ms_ssim: float
    decode_s: float | None = None  # None until exact() decoded the bytes

    @property
    def rate(self) -> float:
        return self.encoded.rate

    @property
    def bpp(self) -> float:
        return self.encoded.bpp

    @property
    def data(self) -> bytes:
        return self.encoded.data

    @property
    def image(self) -> Image.Image:
        return self.encoded.image

    @property
    def encode_s(self) -> float:
        return self.encoded.encode_s

    @property
    def ratio(self) -> float:
        """Compression ratio against 24-bit RGB."""
        return 24 / self.bpp

    def stats(self) -> dict[str, float]:
        return {"bpp": self.bpp, "psnr": self.psnr, "ms_ssim": self.ms_ssim, "bytes": len(self.data)}


def grid_rates(rate_range: tuple[float, float], step: float = GRID_STEP) -> list[float]:
    """Rates lo, lo + step, …, hi ordered coarse to fine (both ends, then ever finer
    strides), so a partly filled grid already spans the whole range."""
    lo, hi = rate_range
    rates = list(np.arange(lo, hi + step / 2, step).round(6))
    n = len(rates) - 1
    order, stride = [0, n], 1 << max(n.bit_length() - 1, 0)
    while stride:
        order += [i for i in range(0, n, stride) if i not in order]
        stride //= 2
    return [float(rates[i]) for i in order]


class ImageSession:
    """The rate-independent analysis of one image and a thread-safe cache rate → Result."""

    def __init__(self, codec: Codec, image: Image.Image):
        self.codec = codec
        self.id = uuid.uuid4().hex  # e.g. to name files that belong to this session
        rgb, self.notice = limit_size(to_rgb(image))
        with _GATE.hold(foreground=True):
            self.prep = codec.prepare(rgb)
        self._cache: dict[float, Result] = {}
        self._baselines: dict[str, list[BaselineResult]] = {}
        self.baseline_errors: dict[str, str] = {}
        self._lock = threading.Lock()
        self._closed = threading.Event()
        self._threads: dict[str, threading.Thread] = {}
        self.version = 0  # bumped on every new result: tells viewers when to redraw

    @property
    def image(self) -> Image.Image:
        """The input as coded: RGB by the image rule, within the size limit."""
        return self.prep.image

    # Cache -------------------------------------------------------------------------------

    def _store(self, result: Result) -> Result:
        """Cache ``result``; per-element bits are kept for the latest detailed entry only."""
        key = result.rate  # already rounded to float32 by the codec, like the header
        with self._lock:
            if result.encoded.bits:
                for k, r in self._cache.items():
                    if r.encoded.bits and k != key:
                        self._cache[k] = replace(r, encoded=replace(r.encoded, bits={}, symbols={}))
            self._cache[key] = result
            self.version += 1
        return result

    def cached(self, rate: float) -> Result | None:
        with self._lock:
            return self._cache.get(self.codec.check_rate(rate))

    def nearest(self, rate: float) -> Result | None:
        """The cached result whose rate is closest to ``rate`` (None while the cache is empty)."""
        with self._lock:
            if not self._cache:
                return None
            return self._cache[min(self._cache, key=lambda k: abs(k - rate))]

    def results(self) -> list[Result]:
        """All cached results, by rate."""
        with self._lock:
            return [self._cache[k] for k in sorted(self._cache)]

    def rd_curve(self, name: str = "MSINN (this image)") -> dict:
        """This image's curve from the cache: {name, rate[], bpp[], psnr[], ms_ssim[]}."""
        results = self.results()
        return {
            "name": name,
            "rate": [r.rate for r in results],
            "bpp": [r.bpp for r in results],
            "psnr": [r.psnr for r in results],
            "ms_ssim": [r.ms_ssim for r in results],
        }

    # Coding ------------------------------------------------------------------------------

    def encode(self, rate: float, details: bool = False, foreground: bool = True) -> Result:
        """Encode at ``rate`` (cached); ``details`` adds bits and symbols per latent element."""
        old = self.cached(rate)
        if old is not None and (old.encoded.bits or not details):
            return old
        with _GATE.hold(foreground):
            enc = self.codec.encode(self.prep, rate, details=details)
        result = Result(enc, psnr(self.image, enc.image), ms_ssim(self.image, enc.image))
        return self._store(replace(result, decode_s=old.decode_s) if old else result)

    def exact(self, rate: float) -> Result:
        """Encode (with details) and decode the bytes at ``rate``: the decode is timed, and
        its image must equal the encoder's reconstruction bit for bit."""
        result = self.encode(rate, details=True)
        if result.decode_s is not None:
            return result
        with _GATE.hold(foreground=True):
            start = time.perf_counter()
            decoded = self.codec.decompress(result.data)
            decode_s = time.perf_counter() - start
        if decoded.tobytes() != result.image.tobytes():
            raise RuntimeError(f"decoding the file at rate {rate:g} did not reproduce the encoder's image")
        return self._store(replace(result, decode_s=decode_s))

    def find_rate_for_bpp(self, target_bpp: float, rel_tol: float = 0.005, max_steps: int = 12) -> Result:
        """The rate whose real bpp is closest to ``target_bpp`` (add details with
        ``encode(result.rate, details=True)``).

        Starts from the tightest bracket the cache holds and narrows it on real file sizes
        (bpp grows with rate), each step at the rate where log-bpp interpolates to the
        target, kept inside the middle 80 % of the bracket, until a file is within
        ``rel_tol`` of the target or the bracket is 0.01 wide. Rates tried are multiples
        of 0.001, for a readable slider.
        """
        if not target_bpp > 0:
            raise ValueError(f"target bpp must be a positive number, got {target_bpp!r}")
        lo, hi = self.codec.rate_range
        known = self.results()
        a = max((r for r in known if r.bpp <= target_bpp), key=lambda r: r.rate, default=None) or self.encode(lo)
        above = [r for r in known if r.bpp > target_bpp and r.rate > a.rate]
        b = min(above, key=lambda r: r.rate, default=None) or self.encode(hi)
        for _ in range(max_steps):
            if not a.bpp < target_bpp < b.bpp or b.rate - a.rate <= 0.01:
                break  # the target is outside [bpp(lo), bpp(hi)], or the bracket is closed
            t = np.log(target_bpp / a.bpp) / np.log(b.bpp / a.bpp)
            r = self.encode(round(a.rate + (b.rate - a.rate) * float(np.clip(t, 0.1, 0.9)), 3))
            a, b = (r, b) if r.bpp <= target_bpp else (a, r)
            if abs(r.bpp - target_bpp) <= rel_tol * target_bpp:
                break
        return min((a, b), key=lambda r: abs(r.bpp - target_bpp))

    # Background work ---------------------------------------------------------------------

    def _start(self, name: str, target: Callable[..., None], *args) -> threading.Thread:
        """Run ``target`` in a daemon thread, once per ``name``."""
        with self._lock:
            if name not in self._threads:
                self._threads[name] = threading.Thread(target=target, args=args, daemon=True)
                self._threads[name].start()
                with _LIVE_LOCK:
                    _BACKGROUND[:] = [t for t in _BACKGROUND if t.is_alive()] + [self._threads[name]]
            return self._threads[name]

    @property
    def _stopped(self) -> bool:
        return self._closed.is_set() or _EXITING.is_set()

    @property
    def busy(self) -> bool:
        """Whether background work (grid or classic codecs) is still running."""
        return any(t.is_alive() for t in self._threads.values())

    @property
    def comparing(self) -> bool:
        """Whether the classic codecs are still being run on this image."""
        return "baselines" in self._threads and self._threads["baselines"].is_alive()

    def fill_grid(self, rates: Iterable[float] | None = None) -> None:
        """Encode at every rate of ``rates`` (default: ``grid_rates``) as background work;
        stops early once the session is closed."""
        for rate in grid_rates(self.codec.rate_range) if rates is None else rates:
            if self._stopped:
                return
            self.encode(rate, foreground=False)

    def start_grid(self, rates: Iterable[float] | None = None) -> threading.Thread:
        """Run :meth:`fill_grid` in a daemon thread (once), and count this session among
        the live ones: the oldest beyond MAX_LIVE_SESSIONS is closed."""
        with _LIVE_LOCK:
            _LIVE.append(weakref.ref(self))
            while len(_LIVE) > MAX_LIVE_SESSIONS:
                if (oldest := _LIVE.popleft()()) is not None:
                    oldest.close()
        return self._start("grid", self.fill_grid, rates)

    def compare_baselines(self, sweeps: dict[str, tuple[int, ...]] = BASELINE_SWEEPS) -> None:
        """Code the image with each classic codec at its sweep's settings (background work).
        A codec that fails is skipped; its message goes to ``baseline_errors``."""
        for name, qualities in sweeps.items():
            codec = get_codec(name)
            for quality in qualities:
                if self._stopped:
                    return
                try:
                    with _GATE.hold(foreground=False):
                        result = codec.measure(self.image, quality)
                except BaselineError as e:
                    self.baseline_errors[name] = str(e).splitlines()[0]
                    continue
                with self._lock:
                    self._baselines.setdefault(name, []).append(result)
                    self.version += 1

    def start_baselines(self, sweeps: dict[str, tuple[int, ...]] = BASELINE_SWEEPS) -> threading.Thread:
        """Run :meth:`compare_baselines` in a daemon thread (once)."""
        return self._start("baselines", self.compare_baselines, sweeps)

    def baseline_curves(self) -> list[dict]:
        """Classic codecs' curves on this image so far: {name, bpp[], psnr[]} sorted by bpp."""
        with self._lock:
            done = {name: sorted(rs, key=lambda r: r.bpp) for name, rs in self._baselines.items()}
        return [
            {"name": get_codec(name).label, "bpp": [r.bpp for r in rs], "psnr": [r.psnr for r in rs]}
            for name, rs in done.items()
        ]

    def matched(self, codec_name: str, bpp: float) -> BaselineResult:
        """A classic codec on this image at the setting whose real bpp is closest to ``bpp``."""
        codec = get_codec(codec_name)
        with _GATE.hold(foreground=True):
            return at_bpp(codec, self.image, bpp)

    def close(self) -> None:
        """Stop background work after its current step and drop the cache (the session
        still codes on request)."""
        self._closed.set()
        with self._lock:
            self._cache.clear()
            self._baselines.clear()
            self.version += 1
