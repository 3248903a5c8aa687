"""Decoder-side post-filter: a small residual UNet on the reconstructed image (spec §1.3).

x̂' = x̂ + 0.3·tail(UNet(head(x̂))); the tail starts at zero so the filter starts as identity.
With width w the UNet has stages w (full), 2w (½) and 4w (¼ resolution); needs H, W % 4 == 0.

Over tiles (large images, msinn/tiles.py) each stage runs tile by tile, and each block's
squeeze-excitation, the filter's only non-local step, takes the mean of its body's output
over the whole image from a first sweep that sums it tile by tile (the same mean up to the
order of additions: it moves no decoded symbol, the filter being the decoder's last step).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor, nn

from .conv import Conv2d
from .tiles import map_tiles, mean_tiles


class ResidualConvBlock(nn.Module):
    """[3x3 → LReLU → 3x3 → squeeze-excitation] + 1x1 skip; (B, c_in, H, W) → (B, c_out, H, W)."""

    def __init__(self, c_in: int, c_out: int):
        super().__init__()
        self.body = nn.Sequential(
            Conv2d(c_in, c_out, 3, padding=1),
            nn.LeakyReLU(0.01),
            Conv2d(c_out, c_out, 3, padding=1),
        )
        squeezed = max(c_out // 16, 1)
        self.excite = nn.Sequential(
            nn.Linear(c_out, squeezed, bias=False),
            nn.ReLU(),
            nn.Linear(squeezed, c_out, bias=False),
            nn.Sigmoid(),
        )
        self.skip = Conv2d(c_in, c_out, 1)

    def forward(self, x: Tensor, mean: Tensor | None = None) -> Tensor:
        """``mean`` (B, c_out): the body output's mean over the image, when x is a tile of it."""
        out = self.body(x)
        weight = self.excite(out.mean(dim=(2, 3)) if mean is None else mean)[:, :, None, None]
        return out * weight + self.skip(x)

    def image_mean(
        self, inputs: list[Tensor], tile: int, pre: Callable[[list[Tensor]], Tensor], halo: int, align: int = 1
    ) -> Tensor:
        """The mean over the image of body(pre(inputs)), summed tile by tile; ``halo``: the
        receptive radius of pre and body in the first input's positions."""
        return mean_tiles(lambda *t: self.body(pre(list(t))), inputs, halo, tile, align)


class ResidualBlock(nn.Module):
    """ReLU → 3x3 → ReLU → 3x3 with an identity skip."""

    def __init__(self, channels: int):
        super().__init__()
        self.body = nn.Sequential(
            nn.ReLU(), Conv2d(channels, channels, 3, padding=1),
            nn.ReLU(), Conv2d(channels, channels, 3, padding=1),
        )  # fmt: skip

    def forward(self, x: Tensor) -> Tensor:
        return x + self.body(x)


def _upsample(c_in: int, c_out: int) -> nn.Sequential:
    return nn.Sequential(Conv2d(c_in, 4 * c_out, 1), nn.PixelShuffle(2))


class PostFilter(nn.Module):
    def __init__(self, width: int):
        super().__init__()
        w = width
        self.head = Conv2d(3, w // 2, 3, padding=1)
        self.enc1 = ResidualConvBlock(w // 2, w)
        self.enc2 = ResidualConvBlock(w, 2 * w)
        self.enc3 = ResidualConvBlock(2 * w, 4 * w)
        self.middle = nn.Sequential(*(ResidualBlock(4 * w) for _ in range(4)))
        self.pool = nn.MaxPool2d(2)
        self.up2 = _upsample(4 * w, 2 * w)
        self.dec2 = ResidualConvBlock(4 * w, 2 * w)
        self.up1 = _upsample(2 * w, w)
        self.dec1 = ResidualConvBlock(2 * w, w // 2)
        self.tail = Conv2d(w // 2, 3, 3, padding=1)
        nn.init.zeros_(self.tail.weight)
        nn.init.zeros_(self.tail.bias)

    def forward(self, x: Tensor, tile: int | None = None, finish: Callable[[Tensor], Tensor] | None = None) -> Tensor:
        """x (B, 3, H, W) → the filtered image; ``tile``: over tiles of 4·tile pixels. (Its maps
        are a few channels wide, and over tiles it runs each block twice for its mean, which
        costs more than it saves below half a megapixel at the codec's 2^17.) ``finish``: a
        pointwise map applied to each tile of the output (the decoder's 8-bit pixels: at 12 MP
        0.04 GB instead of 0.29 GB of float64)."""
        finish = finish or (lambda t: t)
        if tile is not None and x.shape[-2] * x.shape[-1] > 4 * tile:
            return self._tiled(x, 4 * tile, finish)
        e1 = self.enc1(self.head(x))  # (B, w, H, W)
        e2 = self.enc2(self.pool(e1))  # (B, 2w, H/2, W/2)
        m = self.middle(self.enc3(self.pool(e2)))  # (B, 4w, H/4, W/4)
        d2 = self.dec2(torch.cat([self.up2(m), e2], dim=1))  # (B, 2w, H/2, W/2)
        d1 = self.dec1(torch.cat([self.up1(d2), e1], dim=1))  # (B, w/2, H, W)
        return finish(x + 0.3 * self.tail(d1))

    def _tiled(self, x: Tensor, tile: int, finish: Callable[[Tensor], Tensor]) -> Tensor:
        """:meth:`forward` over tiles. Only x and the quarter-resolution m and half-resolution
        d2 are ever whole, and e2 until dec2's mean is taken: e1, e3 and d1 are recomputed tile
        by tile in each sweep that reads them, and e2 in the sweep that makes d2 (at 12 MP in
        float64 e1 alone would be 0.38 GB and e2 0.19 GB). That costs a few more passes of the
        cheap full-resolution head and enc1 (w/2 and w channels) and one of enc2."""

        def e1_of(t: Tensor) -> Tensor:  # receptive radius 3 (head, then enc1's two 3x3)
            return self.enc1(self.head(t), mean1)

        def e2_of(t: Tensor) -> Tensor:  # radius 3 + 4 (enc2's two 3x3 at half resolution)
            return self.enc2(self.pool(e1_of(t)), mean2)

        def d1_input(t: list[Tensor]) -> Tensor:
            return torch.cat([self.up1(t[1]), e1_of(t[0])], dim=1)

        mean1 = self.enc1.image_mean([x], tile, lambda t: self.head(t[0]), halo=3)
        mean2 = self.enc2.image_mean([x], tile, lambda t: self.pool(e1_of(t[0])), halo=3 + 4, align=2)
        e2 = map_tiles(e2_of, [x], 3 + 4, tile, align=2)
        mean3 = self.enc3.image_mean([e2], tile, lambda t: self.pool(t[0]), halo=4, align=2)
        # radius 2 per block in e3's positions, 4 in e2's
        m = map_tiles(lambda e: self.middle(self.enc3(self.pool(e), mean3)), [e2], 4 + 4 * len(self.middle), tile, align=2)
        mean4 = self.dec2.image_mean([e2, m], tile, lambda t: torch.cat([self.up2(t[1]), t[0]], dim=1), halo=2, align=2)
        del e2
        d2 = map_tiles(lambda x, m: self.dec2(torch.cat([self.up2(m), e2_of(x)], dim=1), mean4), [x, m], 7 + 4, tile, align=4)
        del m
        mean5 = self.dec1.image_mean([x, d2], tile, d1_input, halo=3 + 2, align=2)
        return map_tiles(
            lambda x, d: finish(x + 0.3 * self.tail(self.dec1(d1_input([x, d]), mean5))), [x, d2], 3 + 3, tile, align=2
        )
