"""The results of one image session, thread-safe: effort 0 by rate (the slider, grid and RD
curve), refined ones by (rate, effort) apart from them. Per-element bits and symbols (large:
the heatmaps and latents are drawn from them) are kept for the latest detailed entry of each
only. ``version`` counts changes, so a viewer knows when to redraw."""

from __future__ import annotations

import threading
from dataclasses import replace

from msinn import Measured


class RateCache:
    def __init__(self) -> None:
        self._exact: dict[float, Measured] = {}
        self._refined: dict[tuple[float, int], Measured] = {}
        self._lock = threading.Lock()
        self._closed = False
        self.version = 0

    def store(self, result: Measured) -> Measured:
        """Keep ``result`` (its rate already rounded to float32, as in the header); a closed
        cache keeps nothing."""
        cache, key = (self._refined, (result.rate, result.effort)) if result.effort else (self._exact, result.rate)
        with self._lock:
            if self._closed:
                return result
            if result.encoded.bits:
                for k, r in cache.items():
                    if r.encoded.bits and k != key:
                        cache[k] = replace(r, encoded=replace(r.encoded, bits={}, symbols={}))
            cache[key] = result
            self.version += 1
        return result

    def get(self, rate: float) -> Measured | None:
        with self._lock:
            return self._exact.get(rate)

    def nearest(self, rate: float) -> Measured | None:
        """The result whose rate is closest to ``rate`` (None while there is none)."""
        with self._lock:
            if not self._exact:
                return None
            return self._exact[min(self._exact, key=lambda k: abs(k - rate))]

    def results(self) -> list[Measured]:
        """Every effort-0 result, by rate."""
        with self._lock:
            return [self._exact[k] for k in sorted(self._exact)]

    def refined(self, rate: float, effort: int) -> Measured | None:
        with self._lock:
            return self._refined.get((rate, effort))

    def refined_results(self) -> list[Measured]:
        """Every refined result, by rate and effort."""
        with self._lock:
            return [self._refined[k] for k in sorted(self._refined)]

    def close(self) -> None:
        """Drop everything and keep nothing from now on."""
        with self._lock:
            self._closed = True
            self._exact.clear()
            self._refined.clear()
            self.version += 1
