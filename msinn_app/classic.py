"""Classic codecs on the image of one session: curves over a sweep of settings for the RD plot,
and one codec at the bpp of an MSINN result. Every coding is a job of the session's owner on
the classic lane, so it never holds up the model."""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable

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


class ClassicComparison:
    def __init__(self, image: Image.Image, owner: Hashable, lane: Scheduler):
        self.image, self.owner, self.lane = image, owner, lane
        self._points: dict[str, list[Measured]] = {}
        self.errors: dict[str, str] = {}  # codec key → the first line of why it skipped a setting
        self._lock = threading.Lock()
        self.version = 0  # bumped with every new point

    def sweep(self) -> list[tuple[str, int]]:
        """Every (codec, setting) of :data:`SWEEPS`, in order."""
        return [(name, quality) for name, qualities in SWEEPS.items() for quality in qualities]

    def settled(self) -> set[str]:
        """Codecs with a curve or an error already (a new sweep skips them)."""
        with self._lock:
            return set(self._points) | set(self.errors)

    def measure(self, name: str, quality: int) -> Measured | None:
        """``name`` at ``quality`` on this image (a job); its point joins :meth:`curves`. A codec
        that fails is noted in ``errors`` (None is returned)."""
        try:
            result = self.lane.run(self.owner, get_codec(name).measure, self.image, quality)
        except BaselineError as e:
            with self._lock:
                self.errors[name] = (str(e).splitlines() or [""])[0]
            return None
        with self._lock:
            self._points.setdefault(name, []).append(result)
            self.version += 1
        return result

    def curves(self) -> list[dict]:
        """Each codec's curve so far: {key, name, bpp[], psnr[]} by bpp."""
        with self._lock:
            done = {name: sorted(rs, key=lambda r: r.bpp) for name, rs in self._points.items()}
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
