"""Decoder-side post-filter: a small residual UNet on the reconstructed image (spec §1.3).

x̂' = x̂ + 0.3·tail(UNet(head(x̂))); the tail starts at zero so the filter starts as identity.
With width w the UNet has stages w (full), 2w (½) and 4w (¼ resolution); needs H, W % 4 == 0.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from .conv import Conv2d


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

    def forward(self, x: Tensor) -> Tensor:
        out = self.body(x)
        weight = self.excite(out.mean(dim=(2, 3)))[:, :, None, None]
        return out * weight + self.skip(x)


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

    def forward(self, x: Tensor) -> Tensor:
        e1 = self.enc1(self.head(x))  # (B, w, H, W)
        e2 = self.enc2(self.pool(e1))  # (B, 2w, H/2, W/2)
        m = self.middle(self.enc3(self.pool(e2)))  # (B, 4w, H/4, W/4)
        d2 = self.dec2(torch.cat([self.up2(m), e2], dim=1))  # (B, 2w, H/2, W/2)
        d1 = self.dec1(torch.cat([self.up1(d2), e1], dim=1))  # (B, w/2, H, W)
        return x + 0.3 * self.tail(d1)
