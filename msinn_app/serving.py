"""What a server creates once and passes down: the scheduler lanes and the bound on live
image sessions. Nothing here runs at import; ``app.py`` builds one ``Serving`` for the
process and closes it at exit, tests build their own.

- ``model``: every model call. Two foreground workers (so a second visitor always finds one
  free of the first visitor's work) and one background worker at low CPU priority for the
  grids; torch runs one thread per call, so this fits a 2-vCPU host.
- ``classic``: the classic codecs (ffmpeg, Pillow), below the model's CPU priority, so they
  never hold up the model; one background worker lower still codes each image with VVC and
  HEVC once its grid is done.
- ``refine``: encoder searches at effort 1 and 2 (tens of seconds of one core per Kodak
  image, minutes at 2 MP, and up to a few GB): two workers, round robin across owners, below
  the background grid's priority, so they hold up neither the slider's exact results nor
  other visitors.
"""

from __future__ import annotations

import threading
import weakref
from collections import deque
from dataclasses import dataclass, field
from typing import Protocol

from .scheduler import Scheduler


class Closable(Protocol):
    def close(self) -> None: ...


class LiveSessions:
    """At most ``limit`` sessions keep their caches: adding one beyond that closes the oldest
    still alive, so abandoned browser tabs do not pile up in memory (a 768×512 image's cache
    is ~30 MB, a 2 MP one's ~150 MB)."""

    def __init__(self, limit: int):
        self.limit = limit
        self._live: deque[weakref.ref[Closable]] = deque()
        self._lock = threading.Lock()

    def add(self, session: Closable) -> None:
        with self._lock:
            self._live.append(weakref.ref(session))
            excess = []
            while len(self._live) > self.limit:
                if (oldest := self._live.popleft()()) is not None:
                    excess.append(oldest)
        for oldest in excess:
            oldest.close()


@dataclass
class Serving:
    model: Scheduler
    classic: Scheduler
    refine: Scheduler
    live: LiveSessions = field(default_factory=lambda: LiveSessions(8))

    @classmethod
    def create(cls, model_workers: int = 2, live_sessions: int = 8) -> Serving:
        return cls(
            model=Scheduler("model", workers=model_workers, background_nice=10),
            classic=Scheduler("classic", workers=2, background_workers=1, nice=5, background_nice=10),
            refine=Scheduler("refine", workers=2, background_workers=0, nice=15),
            live=LiveSessions(live_sessions),
        )

    def close(self) -> None:
        """Close every lane: no thread is inside torch afterwards; a running refinement stops
        at its next step."""
        for lane in (self.classic, self.model, self.refine):
            lane.close()
