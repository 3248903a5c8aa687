"""2-D convolution whose float64 CPU path is fast enough for real coding.

Real coding runs the entropy model and the synthesis in float64 (see ``msinn/coding.py``:
that is what makes files decode identically on other machines). PyTorch has no oneDNN
kernel for float64 and its fallback (``_slow_conv2d``) works one image at a time on one
thread: 4–8× slower than the GEMM below on 2 cores at our channel counts. Here a k×k
convolution of a (C, H, W) image is k² matrix products accumulated into one output::

    pad x to (C, H+p+1, W+2p) and flatten it; with row stride S = W+2p, tap (dy, dx) is the
    contiguous window x_flat[:, dy·S+dx : dy·S+dx + H·S], so out (O, H·S) += w[:, :, dy, dx] @ window

(no im2col copy; the 2p extra columns of each output row are dropped at the end). Columns go
in blocks so that the accumulated output stays in cache.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

_BLOCK = 16384  # output columns per block: the (O, block) accumulator stays in L2


def conv2d(x: Tensor, weight: Tensor, bias: Tensor | None = None, padding: int = 0) -> Tensor:
    """``F.conv2d`` with stride 1; x (B, C, H, W), weight (O, C, k, k) → (B, O, H', W')."""
    k = weight.shape[-1]
    if x.dtype != torch.float64 or x.device.type != "cpu" or weight.shape[-2] != k or 2 * padding != k - 1:
        return F.conv2d(x, weight, bias, padding=padding)
    return torch.cat([_conv_same_f64(image, weight, bias) for image in x]) if len(x) > 1 else _conv_same_f64(x[0], weight, bias)


def _conv_same_f64(x: Tensor, weight: Tensor, bias: Tensor | None) -> Tensor:
    """One image x (C, H, W), 'same' padding → (1, O, H, W) by k² accumulated GEMMs."""
    c, h, w = x.shape
    o, k, p = weight.shape[0], weight.shape[-1], weight.shape[-1] // 2
    stride = w + 2 * p
    flat = F.pad(x, (p, p, p, p + 1)).reshape(c, -1) if p else x.reshape(c, -1)
    taps = [(weight[:, :, dy, dx], dy * stride + dx) for dy in range(k) for dx in range(k)]
    length = h * stride
    out = torch.empty(o, length, dtype=x.dtype)
    start_bias = (bias if bias is not None else torch.zeros(o, dtype=x.dtype))[:, None]
    for s in range(0, length, _BLOCK):
        n = min(_BLOCK, length - s)
        block = out[:, s : s + n]
        (w0, off0), *rest = taps
        torch.addmm(start_bias, w0, flat[:, s + off0 : s + off0 + n], out=block)
        for wk, off in rest:
            block.addmm_(wk, flat[:, s + off : s + off + n])
    return out.view(1, o, h, stride)[..., :w]


class Conv2d(nn.Conv2d):
    """``nn.Conv2d`` (same parameters and state-dict keys) using :func:`conv2d` when it can:
    stride 1, no dilation or groups, 'same' padding."""

    def forward(self, x: Tensor) -> Tensor:
        if self.stride != (1, 1) or self.dilation != (1, 1) or self.groups != 1 or self.padding_mode != "zeros":
            return super().forward(x)
        return conv2d(x, self.weight, self.bias, self.padding[0])
