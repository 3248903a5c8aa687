"""2-D convolution whose float64 CPU path is fast enough for real coding.

Real coding runs the entropy model and the synthesis in float64 (see ``msinn/coding.py``:
that is what makes files decode identically on other machines). PyTorch has no oneDNN
kernel for float64 and its fallback (``_slow_conv2d``) works one image at a time on one
thread: 4–8× slower than the GEMM below on 2 cores at our channel counts. Here a k×k
convolution of a (C, H, W) image is k² matrix products accumulated into one output::

    pad x to (C, H+p+1, W+2p) and flatten it; with row stride S = W+2p, tap (dy, dx) is the
    contiguous window x_flat[:, dy·S+dx : dy·S+dx + H·S], so out (O, H·S) += w[:, :, dy, dx] @ window

(no im2col copy; the 2p extra columns of each output row are dropped at the end). Columns go
in blocks so that the accumulated output stays in cache. A masked kernel (the checkerboard
context's) names its non-zero taps, and only those are multiplied.

:func:`checkerboard_conv` is the same convolution between the two colours of a checkerboard
((i + j) % 2), for the entropy model's spatial context: its input is zero off one colour and
only one colour's outputs are used, so it works on the colours' sublattices (every other row
and column, :func:`colour_sublattices`) and does half the products.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

_BLOCK = 16384  # output columns per block: the (O, block) accumulator stays in L2


def conv2d(
    x: Tensor, weight: Tensor, bias: Tensor | None = None, padding: int = 0, taps: list[tuple[int, int]] | None = None
) -> Tensor:
    """``F.conv2d`` with stride 1; x (B, C, H, W), weight (O, C, k, k) → (B, O, H', W').
    ``taps``: the (dy, dx) where weight may be non-zero (a masked kernel); the float64 path
    skips the others, whose zero products would leave every sum unchanged."""
    k = weight.shape[-1]
    if x.dtype != torch.float64 or x.device.type != "cpu" or weight.shape[-2] != k or 2 * padding != k - 1:
        return F.conv2d(x, weight, bias, padding=padding)
    if taps is None:
        taps = [(dy, dx) for dy in range(k) for dx in range(k)]
    # Each tap's (O, C) matrix contiguous, so that the GEMMs do not copy it once per block.
    per_tap = weight.permute(2, 3, 0, 1).contiguous()
    matrices = [(per_tap[dy, dx], 0, dy, dx) for dy, dx in taps]
    if len(x) == 1:
        return _conv_same_f64([x[0]], matrices, k // 2, bias)
    return torch.cat([_conv_same_f64([image], matrices, k // 2, bias) for image in x])


def colour_sublattices(x: Tensor, colour: int) -> tuple[Tensor, Tensor]:
    """The positions of x (..., H, W), H and W even, where (i + j) % 2 == colour, as its two
    sublattices (the colour's positions in even rows, then in odd rows), each (..., H/2, W/2)."""
    return x[..., 0::2, colour::2], x[..., 1::2, 1 - colour::2]


def checkerboard_conv(
    x: tuple[Tensor, Tensor],
    colours: tuple[int, int],
    weight: Tensor,
    bias: Tensor | None,
    taps: list[tuple[int, int]],
) -> tuple[Tensor, Tensor]:
    """A 3x3 'same' convolution (weight (O, C, 3, 3), non-zero only at ``taps``) from the
    positions of one colour to those of another, ``colours`` = (in, out), on sublattices:
    x is the input colour's two (C, h, w) sublattices, the result the output colour's two
    (O, h, w). The values are those of ``conv2d`` on the whole (C, 2h, 2w) image zero off the
    input colour, at the output colour's positions (up to float64 rounding: products over
    other columns, as over tiles), with half its products.

    Output position (2a + r, 2b + s) reads input (2a + r + dy − 1, 2b + s + dx − 1) through
    tap (dy, dx): row parity (r + dy − 1) % 2, row a + (r + dy − 1) // 2 of that sublattice,
    and likewise for columns. Float64 on the CPU only (the decoder's path)."""
    c_in, c_out = colours
    per_tap = weight.permute(2, 3, 0, 1).contiguous()
    out = []
    for r in (0, 1):
        s = (c_out + r) % 2
        matrices = []
        for dy, dx in taps:
            ry, rx = r + dy - 1, s + dx - 1
            if (ry + rx) % 2 != c_in:
                raise ValueError(f"tap {(dy, dx)} does not read colour {c_in} for colour {c_out}")
            matrices.append((per_tap[dy, dx], ry % 2, ry // 2 + 1, rx // 2 + 1))
        out.append(_conv_same_f64(list(x), matrices, 1, bias)[0])
    return out[0], out[1]


def _conv_same_f64(
    sources: list[Tensor], matrices: list[tuple[Tensor, int, int, int]], p: int, bias: Tensor | None
) -> Tensor:
    """Images (C, H, W) of one size, padding p → (1, O, H, W) by one accumulated GEMM per
    tap: its (O, C) matrix, which source it reads, dy, dx."""
    c, h, w = sources[0].shape
    o = matrices[0][0].shape[0]
    stride = w + 2 * p
    flats = [_padded(x, p).reshape(c, -1) if p else x.reshape(c, -1) for x in sources]
    length = h * stride
    out = torch.empty(o, length, dtype=sources[0].dtype)
    # Start from the bias and accumulate every tap in place: an out= GEMM into a column block
    # would go through a temporary.
    if bias is None:
        out.zero_()
    else:
        out.copy_(bias[:, None].expand(o, length))
    for s in range(0, length, _BLOCK):
        n = min(_BLOCK, length - s)
        block = out[:, s : s + n]
        for wk, source, dy, dx in matrices:
            off = s + dy * stride + dx
            block.addmm_(wk, flats[source][:, off : off + n])
    return out.view(1, o, h, stride)[..., :w]


def _padded(x: Tensor, p: int) -> Tensor:
    """x (C, H, W) inside a zero border: p rows above, p + 1 below, p columns each side
    (``F.pad`` would write the interior twice: zeros first)."""
    c, h, w = x.shape
    out = x.new_empty(c, h + 2 * p + 1, w + 2 * p)
    for border in (out[:, :p], out[:, h + p :], out[:, p : h + p, :p], out[:, p : h + p, w + p :]):
        border.zero_()
    out[:, p : h + p, p : w + p] = x
    return out


class Conv2d(nn.Conv2d):
    """``nn.Conv2d`` (same parameters and state-dict keys) using :func:`conv2d` when it can:
    stride 1, no dilation or groups, 'same' padding."""

    def forward(self, x: Tensor) -> Tensor:
        if self.stride != (1, 1) or self.dilation != (1, 1) or self.groups != 1 or self.padding_mode != "zeros":
            return super().forward(x)
        return conv2d(x, self.weight, self.bias, self.padding[0])
