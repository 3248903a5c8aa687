"""Large images a tile at a time, with the result of the whole image.

Run whole, a 12 MP photo keeps every hidden activation of every layer in memory (float64 in
the decoder: about 0.3 GB per megapixel) and spills out of cache, so time per pixel grows
with the image. Every stage of the coding chain is local — a few 3x3 convolutions deep —
except the post-filter's squeeze-excitation means (``msinn/postfilter.py`` sums those over
tiles first). :func:`map_tiles` runs such a stage on overlapping windows: each tile's window
is widened by the stage's receptive radius (its halo, clipped at the image border, where the
convolutions' zero padding then applies as it does for the whole image), and only the tile's
own part of each output is kept. Window and kept part are the same function of the same
inputs as in the whole image: the values agree up to float64 rounding (a GEMM may add in
another order on a narrower tile, ~1e-17), far below what moves a symbol's table row, the
tolerance that already makes files portable between machines (msinn/coding.py). Tiling is
therefore not part of the format: files and pixels are those of whole-image coding
(tests/test_tiles.py), and the stages keep only their inputs and outputs whole, which are
latent-sized, not hidden-sized.

A stage with up to :data:`TILE` positions runs whole.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence

from torch import Tensor

from .memory import release_freed_memory

TILE = 1 << 17  # positions per tile of a stage's first input: small enough to stay in cache

Span = tuple[int, int]


def spans(length: int, parts: int, align: int) -> list[Span]:
    """``length`` (a multiple of ``align``) cut into ``parts`` nearly equal runs of whole ``align`` blocks."""
    blocks = length // align
    cuts = [round(i * blocks / parts) * align for i in range(parts + 1)]
    return [(a, b) for a, b in zip(cuts[:-1], cuts[1:], strict=True) if b > a]


def grid(height: int, width: int, tile: int, align: int = 1) -> list[tuple[Span, Span]]:
    """Tiles (rows, columns) of about ``tile`` positions covering a height×width stage."""
    if height * width <= tile:
        return [((0, height), (0, width))]
    side = math.sqrt(tile)
    rows, cols = spans(height, math.ceil(height / side), align), spans(width, math.ceil(width / side), align)
    return [(r, c) for r in rows for c in cols]


def _window(x: Tensor | None, rows: Span, cols: Span, ref: tuple[int, int]) -> Tensor | None:
    """The part of ``x`` over rows × cols of the reference grid (x may be 2^k times finer or coarser)."""
    if x is None:
        return None
    fy, fx = x.shape[-2] / ref[0], x.shape[-1] / ref[1]
    return x[..., round(rows[0] * fy) : round(rows[1] * fy), round(cols[0] * fx) : round(cols[1] * fx)]


def windows(height: int, width: int, halo: int, tile: int, align: int = 1) -> Iterator[tuple[Span, Span, Span, Span]]:
    """Each tile of :func:`grid` as (rows, cols, window rows, window cols): the window is the
    tile widened by ``halo`` (rounded up to ``align``) on every side, clipped to the stage."""
    halo = -(-halo // align) * align
    for (r0, r1), (c0, c1) in grid(height, width, tile, align):
        yield (
            (r0, r1),
            (c0, c1),
            (max(r0 - halo, 0), min(r1 + halo, height)),
            (max(c0 - halo, 0), min(c1 + halo, width)),
        )


def _kept(fn, inputs, halo, tile, align):
    """For each tile: (rows, cols, whether fn returns a tuple, the tile's part of each output)."""
    ref = tuple(inputs[0].shape[-2:])
    for rows, cols, wrows, wcols in windows(*ref, halo, tile, align):
        result = fn(*(_window(x, wrows, wcols, ref) for x in inputs))
        many = isinstance(result, tuple)
        keep = ((rows[0] - wrows[0], rows[1] - wrows[0]), (cols[0] - wcols[0], cols[1] - wcols[0]))
        size = (wrows[1] - wrows[0], wcols[1] - wcols[0])
        yield rows, cols, many, [_window(r, *keep, size) for r in (result if many else (result,))]


def map_tiles(
    fn: Callable[..., Tensor | tuple[Tensor, ...]],
    inputs: Sequence[Tensor | None],
    halo: int,
    tile: int | None,
    align: int = 1,
) -> Tensor | tuple[Tensor, ...]:
    """``fn(*inputs)`` computed tile by tile; the same result when ``halo`` ≥ fn's receptive
    radius in the first input's positions.

    inputs: tensors (B, C_i, H_i, W_i) over one image, the first the reference grid (H, W);
    others may be 2^k times finer or coarser (``align`` must then keep tile edges whole in
    each), None passes through. fn returns one tensor or a tuple, each (B, C_o, s·H, s·W) for
    a power of two s (a level of the INN squeezes or unsqueezes). ``tile=None``: whole.
    """
    ref = tuple(inputs[0].shape[-2:])
    if tile is None or ref[0] * ref[1] <= tile:
        return fn(*inputs)
    outs: list[Tensor] = []
    for rows, cols, returns_tuple, kept in _kept(fn, inputs, halo, tile, align):
        many = returns_tuple
        if not outs:  # each output's size from its first tile's scale
            outs = [k.new_empty(*k.shape[:-2], ref[0] * k.shape[-2] // (rows[1] - rows[0]),
                                ref[1] * k.shape[-1] // (cols[1] - cols[0])) for k in kept]  # fmt: skip
        for out, k in zip(outs, kept, strict=True):
            _window(out, rows, cols, ref).copy_(k)
    release_freed_memory()
    return tuple(outs) if many else outs[0]


def mean_tiles(
    fn: Callable[..., Tensor], inputs: Sequence[Tensor | None], halo: int, tile: int, align: int = 1
) -> Tensor:
    """Mean over positions of ``fn(*inputs)`` (B, C, H', W') → (B, C), computed tile by tile
    (the whole image's mean up to the order of additions)."""
    total, count = 0, 0
    for _, _, _, (kept,) in _kept(fn, inputs, halo, tile, align):
        total, count = total + kept.sum(dim=(-2, -1)), count + kept.shape[-2] * kept.shape[-1]
    release_freed_memory()
    return total / count
