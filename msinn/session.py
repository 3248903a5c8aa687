"""One image in an interactive viewer: analysed once, coded at any rate through the
process-wide fair scheduler, results cached per rate; and the files a viewer offers.

    session = ImageSession(codec, image, owner="tab-1")  # image rule, size limit, analysis
    session.start_grid()                   # background steps: rates 0, 11, 8, 4, … coarse to fine
    session.nearest(4.3)                   # the cached result closest to 4.3 (instant)
    session.encode(4.3, details=True)      # a job: code at exactly 4.3 (+ bits per element)
    session.decode(4.3)                    # a job: decode that file, timed, checked
    session.rate_for_bpp(0.5, step=0.05)   # the library's search; each try is a cached job
    session.rd_curve()                     # this image's rate–PSNR curve from the cache
    session.refine(4.3, effort=1)          # a long job: the encoder's search, decoded, checked

Every model call is a job of ``owner`` on ``MODEL_LANE`` (:mod:`msinn.scheduler`): round robin
across owners, at most one running job per owner, the grid in idle time at low priority. The
classic codecs run on ``CLASSIC_LANE``, so they never hold up the model; refinements (effort
1 and 2, tens of seconds each) on ``REFINE_LANE``, so they hold up neither the slider's exact
results nor other visitors. Refined results have their own cache: the rate cache, the grid and
the RD curve stay effort 0. Measurements come from the library's one
:func:`msinn.evaluate.measure`, the rate search from ``Codec.rate_for_bpp``. No gradio here:
``app.py`` keeps one session per browser tab.
"""

from __future__ import annotations

import atexit
import os
import shutil
import threading
import time
import uuid
import weakref
from collections import OrderedDict, deque
from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
from PIL import Image

from .baselines import BaselineResult, ClassicCodec, at_bpp, get_codec
from .codec import Codec, Encoded
from .evaluate import measure
from .image import to_rgb
from .refine import effort_settings
from .scheduler import CancelledError, Scheduler

# The viewer's size limit (the codec itself takes up to 16384 px per side): larger uploads
# are downscaled so that one coding job stays within a few seconds on one CPU core.
VIEW_MAX_SIDE = 2048
VIEW_MAX_PIXELS = 2_000_000

GRID_STEP = 0.5  # rate spacing of the background grid
# Sessions whose caches are kept (a 768×512 image: ~30 MB; 2 MP: ~150 MB): starting a grid
# closes the oldest beyond this, so abandoned browser tabs do not pile up in memory.
MAX_LIVE_SESSIONS = 8

# Model calls: two foreground workers (so a second visitor always finds one free of the first
# visitor's work) and one background worker at low CPU priority for the grids. Torch runs
# one thread per call (app.py), so this fits a 2-vCPU host; MSINN_WORKERS overrides.
MODEL_LANE = Scheduler("model", workers=int(os.environ.get("MSINN_WORKERS", "2")), background_nice=10)
# Classic codecs (ffmpeg, Pillow): their own workers, below the model's CPU priority.
CLASSIC_LANE = Scheduler("classic", workers=2, background_workers=0, nice=5)
# Refinements (msinn/refine.py): tens of seconds of one core per Kodak image, minutes at 2 MP,
# and memory (peak +0.7 GB at 768×512, +3.3 GB at 1728×1152). Their own lane: two workers (a
# second visitor always finds one free of the first one's refinement), round robin across
# owners, below the background grid's CPU priority. Beside a refinement at nice +10, an exact
# encode of kodim23 (1 thread) took 0.56 s against 0.50 s alone; at nice 0, 1.08 s (step-32,504
# weights, before the post-filter).
REFINE_LANE = Scheduler("refine", workers=2, background_workers=0, nice=15)
# At exit (last registered, first run) every lane is closed: no thread may be inside torch then;
# a running refinement stops at its next step.
atexit.register(CLASSIC_LANE.close)
atexit.register(MODEL_LANE.close)
atexit.register(REFINE_LANE.close)

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
    return [float(rates[i]) for i in dict.fromkeys(order)]


@dataclass(frozen=True)
class Result:
    """One rate: the codec's output, its quality (``measure``) and, once decoded, decode time;
    ``effort`` > 0 for a refined encoding (:meth:`ImageSession.refine`)."""

    encoded: Encoded
    psnr: float
    ms_ssim: float
    decode_s: float | None = None  # None until decode() decoded the file
    effort: int = 0

    @property
    def rate(self) -> float:
        return self.encoded.rate

    @property
    def name(self) -> str:
        """Names this result's files: ``rate4.30``, refined ``rate4.30-effort1``."""
        return f"rate{self.rate:.2f}" + (f"-effort{self.effort}" if self.effort else "")

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
        return {"rate": self.rate, "bpp": self.bpp, "psnr": self.psnr, "ms_ssim": self.ms_ssim, "bytes": len(self.data)}


class FileStore:
    """The files a viewer offers (reconstructions, downloads): one folder per owner under
    ``root``, all folders together capped at ``max_bytes`` with oldest-first eviction.

    Files are written once (atomically: a reader never sees half a file) and rewritten if
    evicted meanwhile; ``remove(owner)`` deletes an owner's folder when its tab closes.
    """

    def __init__(self, root: Path, max_bytes: int):
        self.root, self.max_bytes = Path(root), max_bytes
        self._files: OrderedDict[Path, int] = OrderedDict()  # path → size, oldest first
        self._lock = threading.Lock()

    @property
    def total_bytes(self) -> int:
        with self._lock:
            return sum(self._files.values())

    def folder(self, owner: str) -> Path:
        return self.root / owner

    def ensure(self, owner: str, name: str, write: Callable[[Path], None]) -> Path:
        """The file ``name`` of ``owner``, created with ``write(path)`` unless it exists."""
        path = self.folder(owner) / name
        if path.exists():
            return path
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(f".{uuid.uuid4().hex}.{name}")
        write(partial)
        partial.replace(path)
        with self._lock:
            self._files[path] = path.stat().st_size
            self._files.move_to_end(path)
            evict = []
            total = sum(self._files.values())
            for old in list(self._files):
                if total <= self.max_bytes:
                    break
                if old != path:
                    total -= self._files.pop(old)
                    evict.append(old)
        for old in evict:
            old.unlink(missing_ok=True)
        return path

    def remove(self, owner: str) -> None:
        """Delete ``owner``'s folder and everything in it."""
        folder = self.folder(owner)
        with self._lock:
            for path in [p for p in self._files if p.parent == folder]:
                del self._files[path]
        shutil.rmtree(folder, ignore_errors=True)


class _ScheduledClassic:
    """A classic codec whose encodes and decodes run as jobs of ``owner`` on ``lane`` and
    report each setting tried (``at_bpp`` calls ``_timed_compress`` once per step)."""

    def __init__(self, codec: ClassicCodec, lane: Scheduler, owner: Hashable, report: Callable[[int], None]):
        self._codec, self._lane, self._owner, self._report = codec, lane, owner, report

    def __getattr__(self, name: str):
        return getattr(self._codec, name)

    def _timed_compress(self, x: Image.Image, quality: int) -> tuple[bytes, float]:
        self._report(quality)
        return self._lane.run(self._owner, self._codec._timed_compress, x, quality)

    def _finish(self, *args) -> BaselineResult:
        return self._lane.run(self._owner, self._codec._finish, *args)


_LIVE: deque[weakref.ref[ImageSession]] = deque()
_LIVE_LOCK = threading.Lock()


class ImageSession:
    """The analysis of one image and a thread-safe cache rate → Result; every model call a job
    of ``owner`` on ``lane``.

    ``reuse_analysis=False`` keeps no analysis between calls (each encode analyses the image
    again): for hosts where the model lives in another process, e.g. ZeroGPU. ``files``:
    where :meth:`files` writes the reconstruction PNG and the .msn of a result.
    """

    def __init__(
        self,
        codec: Codec,
        image: Image.Image,
        owner: Hashable | None = None,
        files: FileStore | None = None,
        lane: Scheduler = MODEL_LANE,
        reuse_analysis: bool = True,
        refine_lane: Scheduler = REFINE_LANE,
    ):
        self.codec, self.lane, self.refine_lane, self.store = codec, lane, refine_lane, files
        self.id = uuid.uuid4().hex  # names this session's files
        self.owner = owner if owner is not None else self.id
        self.image, self.notice = limit_size(to_rgb(image))
        self.source = lane.run(self.owner, codec.prepare, self.image) if reuse_analysis else self.image
        self._cache: dict[float, Result] = {}
        self._refined: dict[tuple[float, int], Result] = {}  # (rate, effort) → refined result
        self._refine_wanted: tuple[float, int] | None = None  # the latest refine request
        self._baselines: dict[str, list[BaselineResult]] = {}
        self.baseline_errors: dict[str, str] = {}
        self._lock = threading.Lock()
        self._closed = threading.Event()
        self.version = 0  # bumped on every new result: tells viewers when to redraw

    # Cache -------------------------------------------------------------------------------

    def _store(self, result: Result) -> Result:
        """Cache ``result`` (unless the session was closed): effort 0 by rate, refined ones by
        (rate, effort); per-element bits are kept for the latest detailed entry of each only."""
        cache, key = (self._refined, (result.rate, result.effort)) if result.effort else (self._cache, result.rate)
        with self._lock:
            if self._closed.is_set():
                return result
            if result.encoded.bits:
                for k, r in cache.items():
                    if r.encoded.bits and k != key:
                        cache[k] = replace(r, encoded=replace(r.encoded, bits={}, symbols={}))
            cache[key] = result  # rate already rounded to float32, as in the header
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

    def refined(self, rate: float, effort: int) -> Result | None:
        """The cached refined result at ``rate`` and ``effort`` (None if not made yet)."""
        with self._lock:
            return self._refined.get((self.codec.check_rate(rate), effort))

    def refined_curves(self) -> list[dict]:
        """Refined points per effort, for the RD plot: {name, effort, bpp[], psnr[]} by rate."""
        with self._lock:
            results = [self._refined[k] for k in sorted(self._refined)]
        return [
            {
                "name": f"MSINN refined, effort {effort} (this image)",
                "effort": effort,
                "bpp": [r.bpp for r in results if r.effort == effort],
                "psnr": [r.psnr for r in results if r.effort == effort],
            }
            for effort in sorted({r.effort for r in results})
        ]

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

    # Coding (each model call one job) ----------------------------------------------------

    def _encode_now(self, rate: float, details: bool) -> Result:
        """Code and measure at ``rate`` in the calling thread (inside a job)."""
        old = self.cached(rate)
        if old is not None and (old.encoded.bits or not details):
            return old  # made by another job while this one waited
        enc = self.codec.encode(self.source, rate, details=details)
        quality = measure(self.codec, self.image, enc.rate, encoded=enc, decode=False)
        result = Result(enc, quality["psnr"], quality["ms_ssim"], old.decode_s if old else None)
        return self._store(result)

    def encode(self, rate: float, details: bool = False, slot: Hashable | None = None) -> Result:
        """The result at ``rate`` (cached, else one job); ``details`` adds bits and symbols per
        latent element. With ``slot``, a newer request of this owner in that slot replaces this
        one if it has not started (``CancelledError``)."""
        rate = self.codec.check_rate(rate)
        old = self.cached(rate)
        if old is not None and (old.encoded.bits or not details):
            return old
        return self.lane.run(self.owner, self._encode_now, rate, details, slot=slot)

    def refine(self, rate: float, effort: int, progress: Callable[[int, int], None] | None = None) -> Result:
        """The file at ``rate`` coded at encoder ``effort`` (1 or 2: the latents searched first,
        ``msinn/refine.py``), measured, decoded (timed) and checked bit for bit against the
        encoder's image; cached per (rate, effort), apart from the effort-0 cache.

        One job on ``refine_lane`` after the effort-0 result at ``rate`` (the comparison, usually
        cached). ``progress(step, steps)`` is called as the search starts (step 0) and after each
        step. The latest refine request of this session wins: a running one stops at its next
        step, raising ``CancelledError``, once another rate or effort is asked for, the session
        closes (tab closed, new image) or the lane closes (process exit)."""
        rate = self.codec.check_rate(rate)
        if not effort_settings(effort)[0]:
            raise ValueError(f"refining needs an effort above 0, got {effort!r}")
        key = self._refine_wanted = (rate, effort)
        done = self.refined(rate, effort)
        if done is not None:
            return done
        self.encode(rate)
        return self.refine_lane.run(self.owner, self._refine_now, key, progress, slot="refine")

    def _refine_now(self, key: tuple[float, int], progress: Callable[[int, int], None] | None) -> Result:
        """Refine in the calling thread (inside a job); see :meth:`refine`."""

        def step(done: int, steps: int) -> None:
            if self._closed.is_set() or self.refine_lane.closed or self._refine_wanted != key:
                raise CancelledError(f"refining rate {key[0]:g} at effort {key[1]} is no longer wanted")
            if progress is not None:
                progress(done, steps)

        rate, effort = key
        made = self.refined(rate, effort)
        if made is not None:
            return made  # made by another job while this one waited
        step(0, effort_settings(effort)[0])
        enc = self.codec.encode(self.source, rate, details=True, effort=effort, progress=step)
        quality = measure(self.codec, self.image, enc.rate, encoded=enc)  # decodes and checks
        return self._store(Result(enc, quality["psnr"], quality["ms_ssim"], quality["decode_s"], effort))

    def _decode_now(self, result: Result) -> Result:
        start = time.perf_counter()
        decoded = self.codec.decompress(result.data)
        decode_s = time.perf_counter() - start
        if decoded.tobytes() != result.image.tobytes():
            raise RuntimeError(f"decoding the file at rate {result.rate:g} did not reproduce the encoder's image")
        latest = self.cached(result.rate) or result  # keep details added meanwhile
        return self._store(replace(latest, decode_s=decode_s))

    def decode(self, rate: float, slot: Hashable | None = None) -> Result:
        """Decode the cached file at ``rate`` (one job): its decode time, and a check that it
        gives the encoder's image bit for bit. Codes it first if it is not cached."""
        result = self.encode(rate, slot=slot)
        if result.decode_s is not None:
            return result
        return self.lane.run(self.owner, self._decode_now, result, slot=slot)

    def exact(self, rate: float, slot: Hashable | None = None) -> Result:
        """Encode with details and decode at ``rate``."""
        self.encode(rate, details=True, slot=slot)
        return self.decode(rate, slot=slot)

    def rate_for_bpp(
        self, target_bpp: float, step: float = 0.001, on_try: Callable[[float], None] | None = None
    ) -> Result:
        """The result whose real bpp is closest to ``target_bpp`` (``Codec.rate_for_bpp``,
        starting from what the cache holds; each try a cached job, reported to ``on_try``).
        A target beyond what the image reaches returns the nearest end of the rate range."""

        def encode(rate: float) -> Encoded:
            if on_try is not None:
                on_try(rate)
            return self.encode(rate).encoded

        known = [r.encoded for r in self.results()]
        enc = self.codec.rate_for_bpp(self.source, target_bpp, encode=encode, known=known, step=step)
        return self.cached(enc.rate) or self.encode(enc.rate)

    def reachable(self) -> tuple[float, float] | None:
        """(bpp at the lowest rate, bpp at the highest) once both are cached."""
        lo, hi = (self.cached(r) for r in self.codec.rate_range)
        return (lo.bpp, hi.bpp) if lo and hi else None

    # Files -------------------------------------------------------------------------------

    def files(self, result: Result) -> tuple[Path, Path]:
        """The .msn file of ``result`` and the PNG of its reconstruction, named by its rate (and
        effort, if refined), in this session's folder of the file store (written once)."""
        if self.store is None:
            raise RuntimeError("this session has no file store")
        name = f"msinn-{result.name}"
        msn = self.store.ensure(self.id, f"{name}.msn", lambda p: p.write_bytes(result.data))
        png = self.store.ensure(self.id, f"{name}.png", lambda p: save_png(result.image, p))
        return msn, png

    def input_png(self) -> Path:
        """The coded input (after the image rule and size limit) as a PNG file."""
        if self.store is None:
            raise RuntimeError("this session has no file store")
        return self.store.ensure(self.id, "input.png", lambda p: save_png(self.image, p))

    # Background work ---------------------------------------------------------------------

    def _grid_steps(self, rates: Iterable[float]):
        for rate in rates:
            if self._closed.is_set():
                return
            if self.cached(rate) is None:
                yield lambda rate=rate: self._grid_step(rate)

    def _grid_step(self, rate: float) -> None:
        result = self._encode_now(rate, details=False)
        if self.store is not None and not self._closed.is_set():
            try:
                self.files(result)  # so that showing it later costs no PNG encoding
            except FileNotFoundError:  # the session closed and its folder went meanwhile
                if not self._closed.is_set():
                    raise

    def start_grid(self, rates: Iterable[float] | None = None) -> None:
        """Code ``rates`` (default: ``grid_rates``) as background steps of this owner, and
        count this session among the live ones: the oldest beyond MAX_LIVE_SESSIONS is closed."""
        with _LIVE_LOCK:
            _LIVE.append(weakref.ref(self))
            while len(_LIVE) > MAX_LIVE_SESSIONS:
                if (oldest := _LIVE.popleft()()) is not None:
                    oldest.close()
        rates = grid_rates(self.codec.rate_range) if rates is None else list(rates)
        self.lane.background(self.owner, self._grid_steps(rates))

    @property
    def busy(self) -> bool:
        """Whether this owner's background work (the grid) is still queued or running."""
        return not self._closed.is_set() and self.lane.has_background(self.owner)

    @property
    def closed(self) -> bool:
        return self._closed.is_set()

    # Classic codecs (CLASSIC_LANE) ---------------------------------------------------------

    def measure_classic(self, name: str, quality: int, lane: Scheduler = CLASSIC_LANE) -> BaselineResult:
        """One classic codec at one setting on this image (a job); its point joins
        :meth:`baseline_curves`."""
        result = lane.run(self.owner, get_codec(name).measure, self.image, quality)
        with self._lock:
            self._baselines.setdefault(name, []).append(result)
            self.version += 1
        return result

    def baseline_curves(self) -> list[dict]:
        """Classic codecs' curves on this image so far: {key, name, bpp[], psnr[]} by bpp."""
        with self._lock:
            done = {name: sorted(rs, key=lambda r: r.bpp) for name, rs in self._baselines.items()}
        return [
            {"key": name, "name": get_codec(name).label, "bpp": [r.bpp for r in rs], "psnr": [r.psnr for r in rs]}
            for name, rs in done.items()
        ]

    def matched(
        self,
        codec_name: str,
        bpp: float,
        on_try: Callable[[int], None] = lambda q: None,
        lane: Scheduler = CLASSIC_LANE,
    ) -> BaselineResult:
        """A classic codec on this image at the setting whose real bpp is closest to ``bpp``
        (``baselines.at_bpp``; each setting tried one job, reported to ``on_try``)."""
        return at_bpp(_ScheduledClassic(get_codec(codec_name), lane, self.owner, on_try), self.image, bpp)

    def close(self) -> None:
        """Drop this owner's queued work and the cache (the session still codes on request).
        Only the first call cancels: by a later one the owner may be coding another image."""
        if self._closed.is_set():
            return
        self._closed.set()
        self.lane.cancel(self.owner)
        self.refine_lane.cancel(self.owner)
        CLASSIC_LANE.cancel(self.owner)
        with self._lock:
            self._cache.clear()
            self._refined.clear()
            self._baselines.clear()
            self.version += 1


def save_png(image: Image.Image, path: Path) -> None:
    """PNG at zlib level 1: files are sent as they are, speed matters more than size."""
    image.save(path, format="PNG", compress_level=1)
