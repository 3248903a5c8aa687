"""What coding costs in memory, and the largest image this host can decode.

Coding runs tile by tile (msinn/tiles.py), so the hidden activations take a bounded amount
(a few hundred MB at most, whatever the image) and what grows with the image is the
latent-sized state kept whole between stages. :data:`BYTES_PER_PIXEL` is that growth,
measured as peak RSS of a fresh process with ``python -m benchmarks.large_image`` (4000×3000
against a Kodak image; docs/FORMAT.md has the figures and the machine). The decoder's default
``max_pixels`` (:func:`host_max_pixels`) is what this host's memory holds at that rate,
capped at the format's limit.
"""

from __future__ import annotations

import ctypes
import os
from pathlib import Path

from .image import MAX_PIXELS

BYTES_PER_PIXEL = 64  # decode peak RSS growth per pixel: lite 53, mid 58 (docs/FORMAT.md)
try:  # glibc only; elsewhere release_freed_memory does nothing
    _MALLOC_TRIM = ctypes.CDLL("libc.so.6").malloc_trim
except (OSError, AttributeError):
    _MALLOC_TRIM = None
_CGROUP_LIMITS = (Path("/sys/fs/cgroup/memory.max"), Path("/sys/fs/cgroup/memory/memory.limit_in_bytes"))


def host_memory() -> int:
    """Bytes this process may use: physical memory, or the container's limit if lower."""
    total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    for path in _CGROUP_LIMITS:
        try:
            value = path.read_text().strip()
        except OSError:
            continue
        if value.isdigit():
            total = min(total, int(value))
    return total


def resident_memory() -> int:
    """Bytes this process has in memory now (Linux; 0 where unknown)."""
    try:
        return int(Path("/proc/self/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0


def host_max_pixels(bytes_per_pixel: int = BYTES_PER_PIXEL) -> int:
    """The most pixels a decode can hold in what this host has left (≥ 1 MP, ≤ the format's 64 MP)."""
    free = host_memory() - resident_memory()
    return max(min(free // bytes_per_pixel, MAX_PIXELS), 1 << 20)


def release_freed_memory() -> None:
    """Give the pages of freed heap blocks back to the OS (glibc's ``malloc_trim``).

    glibc returns large blocks (over 32 MB) at once but keeps smaller freed ones in its heaps,
    where the next allocation of another size may not fit them: after a tiled stage its
    tile-sized buffers stayed resident, 0.6 GB of a 12 MP decode's peak (mallinfo2). Costs a
    few milliseconds, and the next stage faults the pages in again, so only work on images
    large enough to run over tiles calls it: each tiled stage (msinn/tiles.py) and each coding
    pass of a tiled latent (msinn/entropy.py)."""
    if _MALLOC_TRIM is not None:
        _MALLOC_TRIM(0)
