"""Classic codecs on the image of one session: curves over a sweep of settings for the RD plot,
and one codec at the bpp of an MSINN result. Every coding is a job of the session's owner on
the classic lane, so it never holds up the model: on request (foreground), or for the codecs
of :data:`BACKGROUND` in idle time (background steps at low CPU priority), so that the RD plot
shows them coded on this very image. Each (codec, setting) is coded once per image."""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable, Iterable

from PIL import Image

from msinn import Measured
from msinn.baselines import BaselineError, at_bpp, get_codec

from .scheduler import Scheduler

# Settings per codec, low to high rate (about 0.1–3 bpp on photos); VVC last, the slowest.
SWEEPS: dict[str, tuple[int, ...]] = {
    "jpeg": (10, 25, 50, 75, 90),
    "webp": (5, 25, 50, 75, 90),
    "jpeg2000": (10, 25, 50, 100, 200),
    "jxl": (20, 45, 70, 85, 95),
    "hevc": (42, 37, 32, 27, 22),
    "av1": (50, 42, 34, 26, 18),
    "vvc": (42, 37, 32, 27, 22),
}
BACKGROUND = ("hevc", "vvc")  # coded on every image once its MSINN grid is done: the RD plot's references


class ClassicComparison:
    def __init__(self, image: Image.Image, owner: Hashable, lane: Scheduler):
        self.image, self.owner, self.lane = image, owner, lane
        self._points: dict[str, dict[int, Measured]] = {}  # codec key → setting → its point
        self.errors: dict[str, str] = {}  # codec key → the first line of why it skipped a setting
        self._lock = threading.Lock()
        self.version = 0  # bumped with every new point

    def sweep(self, names: Iterable[str] | None = None) -> list[tuple[str, int]]:
        """Every (codec, setting) of :data:`SWEEPS` (of ``names`` only, if given), in order."""
        return [(name, quality) for name, qualities in SWEEPS.items() for quality in qualities
                if names is None or name in names]  # fmt: skip

    def done(self, name: str, quality: int) -> bool:
        """Whether ``name`` at ``quality`` has its point, or the codec failed on this image."""
        with self._lock:
            return quality in self._points.get(name, {}) or name in self.errors

    def measure(self, name: str, quality: int) -> Measured | None:
        """``name`` at ``quality`` on this image (a job, unless coded already); its point joins
        :meth:`curves`. A codec that fails is noted in ``errors`` (None is returned)."""
        with self._lock:
            if (point := self._points.get(name, {}).get(quality)) is not None:
                return point
        return self.lane.run(self.owner, self._measure_now, name, quality)

    def _measure_now(self, name: str, quality: int) -> Measured | None:
        """:meth:`measure` in the calling thread (inside a job or background step)."""
        if self.done(name, quality):  # by another job meanwhile
            with self._lock:
                return self._points.get(name, {}).get(quality)
        try:
            result = get_codec(name).measure(self.image, quality)
        except BaselineError as e:
            with self._lock:
                self.errors[name] = (str(e).splitlines() or [""])[0]
            return None
        with self._lock:
            self._points.setdefault(name, {})[quality] = result
            self.version += 1
        return result

    def start_background(self, names: Iterable[str] = BACKGROUND) -> None:
        """Code ``names`` over their sweeps as background steps of this owner (idle time only)."""
        steps = (lambda name=name, quality=quality: self._measure_now(name, quality) for name, quality in self.sweep(names))
        self.lane.background(self.owner, steps)

    @property
    def busy(self) -> bool:
        """Whether background codings of this image are queued or running."""
        return self.lane.has_background(self.owner)

    def pending(self, names: Iterable[str] = BACKGROUND) -> list[str]:
        """Those of ``names`` still missing a setting (neither coded nor failed)."""
        return [name for name in names if any(not self.done(name, q) for q in SWEEPS[name])]

    def curves(self) -> list[dict]:
        """Each codec's curve so far: {key, name, bpp[], psnr[]} by bpp."""
        with self._lock:
            done = {name: sorted(rs.values(), key=lambda r: r.bpp) for name, rs in self._points.items()}
        return [
            {"key": name, "name": get_codec(name).label, "bpp": [r.bpp for r in rs], "psnr": [r.psnr for r in rs]}
            for name, rs in done.items()
        ]

    def matched(self, name: str, bpp: float, on_try: Callable[[int], None] = lambda q: None) -> Measured:
        """``name`` on this image at the setting whose real bpp is closest to ``bpp``
        (``baselines.at_bpp``; each setting tried is one job, reported to ``on_try``)."""
        codec = get_codec(name)

        def compress(image: Image.Image, quality: int) -> bytes:
            on_try(quality)
            return self.lane.run(self.owner, codec.compress, image, quality)

        def measure(image: Image.Image, quality: int, data: bytes) -> Measured:
            return self.lane.run(self.owner, codec.measure_file, image, quality, data)

        return at_bpp(codec, self.image, bpp, compress=compress, measure=measure)

    def clear(self) -> None:
        """Drop this image's queued codings and its points."""
        self.lane.cancel(self.owner)
        with self._lock:
            self._points.clear()
            self.errors.clear()
            self.version += 1
