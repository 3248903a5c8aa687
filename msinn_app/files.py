"""The files a viewer offers (reconstructions, zoom crops, latents, downloads), one folder per
image session under one root, all together capped with oldest-first eviction.

The store is the only thing that deletes them. The app serves its root as gradio static
files (``gr.set_static_paths``), outside gradio's upload folder, so gradio neither copies
them into its cache nor deletes them on its own schedule.
"""

from __future__ import annotations

import shutil
import threading
import uuid
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path

from PIL import Image


class FileStore:
    """Files written once (atomically: a reader never sees half a file) and rewritten if
    evicted meanwhile; ``remove(owner)`` deletes an owner's folder when its tab closes."""

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

    def ensure_png(self, owner: str, name: str, image: Image.Image) -> Path:
        """``image`` as the PNG file ``name`` of ``owner`` (see :meth:`ensure`)."""
        return self.ensure(owner, name, lambda path: save_png(image, path))

    def remove(self, owner: str) -> None:
        """Delete ``owner``'s folder and everything in it."""
        folder = self.folder(owner)
        with self._lock:
            for path in [p for p in self._files if p.parent == folder]:
                del self._files[path]
        shutil.rmtree(folder, ignore_errors=True)

    def clear(self) -> None:
        """Delete every file and the root (the server is stopping)."""
        with self._lock:
            self._files.clear()
        shutil.rmtree(self.root, ignore_errors=True)


def save_png(image: Image.Image, path: Path) -> None:
    """PNG at zlib level 1: files are sent as they are, speed matters more than size."""
    image.save(path, format="PNG", compress_level=1)
