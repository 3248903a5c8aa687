"""One browser tab's state, as a small state machine with named transitions.

For the rate the controls asked for last (``requested``), the view is in one of:

- **empty**: no image (``session`` is None);
- **preview**: ``shown`` is a cached result, maybe of another rate; its details are not drawn;
- **delivering**: a handler is making the exact result at ``delivering`` (at most one per rate);
- **exact**: ``shown`` is the exact result at ``exact`` with its details (latents, heatmaps,
  RD plot, zoom).

Handlers change it only through the methods below; a result is shown only while the tab still
:meth:`wants` it (a newer rate or image makes an older delivery end quietly).
"""

from __future__ import annotations

import threading
import uuid

from msinn import Measured

from .session import ImageSession


class Tab:
    def __init__(self) -> None:
        self.id = uuid.uuid4().hex  # the tab's owner key on the lanes
        self.session: ImageSession | None = None
        self.requested: float | None = None
        self.shown: Measured | None = None
        self.exact: float | None = None
        self.delivering: float | None = None
        self.plotted = -1  # session.version the RD plot shows
        self.comparing = False  # the classic codecs are running for this tab
        self.center = (0.5, 0.5)  # zoom centre, relative
        self._lock = threading.Lock()

    def open(self, session: ImageSession, rate: float) -> None:
        """A new image, to be shown at ``rate``."""
        self.close()
        self.session, self.requested, self.plotted = session, rate, -1

    def ask(self, rate: float) -> None:
        """The controls moved to ``rate``: any delivery of another rate is no longer wanted."""
        self.requested = rate

    def ask_again(self, rate: float) -> None:
        """The controls moved to ``rate`` and its exact result is to be delivered even if shown
        (the target-bpp search: its note is new)."""
        self.requested, self.exact = rate, None

    def wants(self, rate: float, session: ImageSession) -> bool:
        return self.requested == rate and self.session is session

    def claim(self, rate: float) -> ImageSession | None:
        """Start delivering ``rate``: the session to code it with, or None if there is no image
        or that rate is being or has been delivered already."""
        with self._lock:
            if self.session is None or rate in (self.delivering, self.exact):
                return None
            self.delivering = rate
            return self.session

    def release(self, rate: float) -> None:
        """The delivery of ``rate`` ended (shown, overtaken or failed)."""
        with self._lock:
            if self.delivering == rate:
                self.delivering = None

    def show(self, result: Measured) -> None:
        """``result`` is on display without its details (a preview, or the exact file before
        it is decoded)."""
        self.shown, self.exact = result, None

    def complete(self, rate: float, result: Measured, version: int) -> None:
        """``result``, the exact result at the controls' ``rate``, is on display with its
        details, the RD plot drawn at ``version``."""
        self.shown, self.exact, self.plotted = result, rate, version

    def replot(self, version: int) -> bool:
        """Whether the RD plot should be drawn again for ``version`` (an exact view only)."""
        if self.exact is None or version == self.plotted:
            return False
        self.plotted = version
        return True

    def start_comparing(self) -> bool:
        """Whether the classic codecs may start for this tab (not while they run already)."""
        with self._lock:
            if self.comparing:
                return False
            self.comparing = True
            return True

    def stop_comparing(self) -> None:
        self.comparing = False

    def close(self) -> None:
        """Stop this tab's work and delete its files."""
        session, self.session, self.shown, self.exact = self.session, None, None, None
        if session is not None:
            session.close()
            session.delete_files()


class TabRegistry:
    """The open tabs by gradio session hash, to stop a tab's work and delete its files when
    it goes away."""

    def __init__(self) -> None:
        self.tabs: dict[str, Tab] = {}

    def register(self, tab: Tab, session_hash: str | None) -> None:
        if session_hash:
            self.tabs[session_hash] = tab

    def closed(self, session_hash: str | None) -> None:
        """The tab of ``session_hash`` went away (gradio's unload event)."""
        tab = self.tabs.pop(session_hash, None) if session_hash else None
        if tab is not None:
            tab.close()

    def forget(self, tab: Tab | None) -> None:
        """gr.State's clean-up (an hour after a tab closed, if the unload event was missed)."""
        if isinstance(tab, Tab):
            tab.close()
            for key in [k for k, v in self.tabs.items() if v is tab]:
                self.tabs.pop(key, None)
