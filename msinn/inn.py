"""The multi-scale invertible network (analysis = forward, synthesis = exact inverse).

MSINN-VRLIC (Tu et al., IEEE TMM 2025) §1: a 4-level Glow-style INN. Each level squeezes
(space-to-depth) and applies invertible units [ActNorm → 1x1 conv → affine coupling]; after
levels 0–2 the first half of the channels is split off as a latent, the second half goes on::

    x (3,H,W) ─sq─ L0 ─┬─ y1 (6,H/2)
                       └─ h1 ─sq─ L1 ─┬─ y2 (12,H/4)
                                      └─ h2 ─sq─ L2 ─┬─ y3 (24,H/8)
                                                     └─ h3 ─sq─ L3 ─┬─ y4 (48,H/16)
                                                                    └─ y5 (48,H/16)

Synthesis runs the same blocks backwards; ``level_inverse`` exposes one level of it because
the decoder's partial synthesis is also the cross-scale context of the entropy model.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from .config import MSINNConfig
from .conv import Conv2d, conv2d
from .tiles import map_tiles


def squeeze(x: Tensor) -> Tensor:
    """Space-to-depth by 2: (B, C, H, W) → (B, 4C, H/2, W/2).

    Channel order is sub-pixel-position major, as in the official code: output channel
    ``(dy*2 + dx)*C + c`` holds ``x[c, 2i+dy, 2j+dx]``. The first half of the channels is
    then the top row of each 2x2 block, so a coupling predicts one row from the other.
    """
    b, c, h, w = x.shape
    if h % 2 or w % 2:
        raise ValueError(f"squeeze needs even height and width, got {h}x{w}")
    x = x.view(b, c, h // 2, 2, w // 2, 2).permute(0, 3, 5, 1, 2, 4)
    return x.reshape(b, 4 * c, h // 2, w // 2)


def unsqueeze(x: Tensor) -> Tensor:
    """Depth-to-space by 2, the inverse of :func:`squeeze`: (B, 4C, H, W) → (B, C, 2H, 2W)."""
    b, c4, h, w = x.shape
    c = c4 // 4
    x = x.view(b, 2, 2, c, h, w).permute(0, 3, 4, 1, 5, 2)
    return x.reshape(b, c, 2 * h, 2 * w)


class ActNorm(nn.Module):
    """Per-channel affine ``(x + b) * exp(s)`` with data-dependent initialisation.

    On the first training batch b removes each channel's mean and s divides by the std
    pooled over all channels: one factor per layer keeps an orthonormal (Haar) start
    orthonormal up to scale, where per-channel stds would blow the detail bands up.
    The ``initialised`` buffer is saved with the weights; eval before init is an error.
    """

    def __init__(self, channels: int):
        super().__init__()
        self.bias = nn.Parameter(torch.zeros(1, channels, 1, 1))
        self.logs = nn.Parameter(torch.zeros(1, channels, 1, 1))
        self.register_buffer("initialised", torch.tensor(0, dtype=torch.uint8))

    @torch.no_grad()
    def _initialise(self, x: Tensor) -> None:
        x = x.float()
        mean = x.mean(dim=(0, 2, 3), keepdim=True)
        std = (x - mean).pow(2).mean().sqrt()
        self.bias.copy_(-mean)
        self.logs.fill_(-math.log(float(std) + 1e-6))
        self.initialised.fill_(1)

    def forward(self, x: Tensor) -> Tensor:
        if not self.initialised:
            if not self.training:
                raise RuntimeError("ActNorm is not initialised: run a training batch first")
            self._initialise(x)
        return (x + self.bias) * self.logs.exp()

    def inverse(self, y: Tensor) -> Tensor:
        return y * (-self.logs).exp() - self.bias


class InvertibleConv1x1(nn.Module):
    """Invertible 1x1 convolution with a full C×C matrix (no LU); inverse in float64.

    Without autograd the inverse is cached until the weight changes (its version counter
    moves on every in-place update), so coding does not invert it on every call."""

    def __init__(self, channels: int):
        super().__init__()
        w = torch.linalg.qr(torch.randn(channels, channels))[0]
        self.weight = nn.Parameter(w)
        self._inverse: tuple[tuple, Tensor] | None = None

    def forward(self, x: Tensor) -> Tensor:
        return conv2d(x, self.weight[:, :, None, None].to(x.dtype))

    def _inverse_weight(self) -> Tensor:
        if torch.is_grad_enabled():
            return torch.linalg.inv(self.weight.double()).to(self.weight.dtype)
        key = (self.weight._version, self.weight.dtype, self.weight.device, self.weight.data_ptr())
        if self._inverse is None or self._inverse[0] != key:
            self._inverse = key, torch.linalg.inv(self.weight.double()).to(self.weight.dtype)
        return self._inverse[1]

    def inverse(self, y: Tensor) -> Tensor:
        return conv2d(y, self._inverse_weight()[:, :, None, None].to(y.dtype))


class CouplingSubnet(nn.Module):
    """Residual block [3x3 → LReLU → 3x3 → LReLU] + 1x1 skip, then a zero-initialised 1x1.

    (B, c_in, H, W) → (B, c_out, H, W); the zero init makes every coupling start as identity.
    """

    def __init__(self, c_in: int, hidden: int, c_out: int):
        super().__init__()
        self.body = nn.Sequential(
            Conv2d(c_in, hidden, 3, padding=1),
            nn.LeakyReLU(0.01),
            Conv2d(hidden, hidden, 3, padding=1),
            nn.LeakyReLU(0.01),
        )
        self.skip = Conv2d(c_in, hidden, 1)
        self.out = Conv2d(hidden, c_out, 1)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)

    def forward(self, x: Tensor) -> Tensor:
        return self.out(self.body(x) + self.skip(x))


class AffineCoupling(nn.Module):
    """Glow coupling: ``x_b' = (x_b + t) * exp(2·sigmoid(s) − 1)`` with (s, t) = F(x_a).

    x_a (first half) passes unchanged; the scale is bounded to (e^-1, e^1) by the sigmoid.
    """

    def __init__(self, channels: int, hidden: int):
        super().__init__()
        self.subnet = CouplingSubnet(channels // 2, hidden, channels)

    def _scale_shift(self, xa: Tensor) -> tuple[Tensor, Tensor]:
        s, t = self.subnet(xa).chunk(2, dim=1)
        return torch.exp(2 * torch.sigmoid(s) - 1), t

    def forward(self, x: Tensor) -> Tensor:
        xa, xb = x.chunk(2, dim=1)
        scale, t = self._scale_shift(xa)
        return torch.cat([xa, (xb + t) * scale], dim=1)

    def inverse(self, y: Tensor) -> Tensor:
        ya, yb = y.chunk(2, dim=1)
        scale, t = self._scale_shift(ya)
        return torch.cat([ya, yb / scale - t], dim=1)


class InvertibleUnit(nn.Module):
    """ActNorm → invertible 1x1 conv → affine coupling; (B, C, H, W) → same shape."""

    def __init__(self, channels: int, hidden: int):
        super().__init__()
        self.actnorm = ActNorm(channels)
        self.conv = InvertibleConv1x1(channels)
        self.coupling = AffineCoupling(channels, hidden)

    def forward(self, x: Tensor) -> Tensor:
        return self.coupling(self.conv(self.actnorm(x)))

    def inverse(self, y: Tensor) -> Tensor:
        return self.actnorm.inverse(self.conv.inverse(self.coupling.inverse(y)))


def _haar_matrix(channels: int, colour: bool) -> Tensor:
    """Orthonormal 2x2 Haar transform on squeezed channels, bands ordered (LH, HL, HH, LL).

    Input is position-major (k*C + c), output band-major (b*C + c). With the split into
    halves, LH and HL are kept as the latent and HH, LL go down to the next level, so the
    low-pass image always descends to y5. ``colour`` adds an orthonormal luma/chroma
    transform (level 0 only).
    """
    haar = 0.5 * torch.tensor(
        [[1.0, -1.0, 1.0, -1.0], [1.0, 1.0, -1.0, -1.0], [1.0, -1.0, -1.0, 1.0], [1.0, 1.0, 1.0, 1.0]]
    )
    if colour:
        mix = torch.tensor([[1.0, 1.0, 1.0], [1.0, 0.0, -1.0], [1.0, -2.0, 1.0]])
        mix = mix / mix.norm(dim=1, keepdim=True)
    else:
        mix = torch.eye(channels)
    return torch.kron(haar, mix)


class MultiScaleINN(nn.Module):
    """The 4-level INN: ``analysis`` x → [y1, y2, y3, y4, y5] and its exact inverse."""

    def __init__(self, cfg: MSINNConfig):
        super().__init__()
        self.levels = nn.ModuleList()
        channels = 3
        for level, (depth, hidden) in enumerate(zip(cfg.depths, cfg.inn_hidden, strict=False)):
            channels *= 4  # squeeze
            units = nn.ModuleList(InvertibleUnit(channels, hidden) for _ in range(depth))
            if cfg.init == "haar":
                _init_haar(units, colour=level == 0)
            self.levels.append(units)
            channels //= 2  # split

    def radius(self, level: int) -> int:
        """Receptive radius of one level, in its squeezed positions: 2 per coupling (two 3x3)."""
        return 2 * len(self.levels[level])

    def _level(self, level: int, h: Tensor) -> tuple[Tensor, Tensor]:
        h = squeeze(h)
        for unit in self.levels[level]:
            h = unit(h)
        y, h = h.chunk(2, dim=1)
        return y, h

    def analysis(self, x: Tensor, tile: int | None = None) -> list[Tensor]:
        """(B, 3, H, W) → [y1 (B,6,H/2,W/2), y2 (12,H/4), y3 (24,H/8), y4 (48,H/16), y5 (48,H/16)];
        ``tile``: run each level over tiles of that many squeezed positions (msinn/tiles.py)."""
        ys = []
        h = x
        for level in range(len(self.levels)):
            level_tile = None if tile is None else 4 * tile  # in the level's input positions
            y, h = map_tiles(lambda t, level=level: self._level(level, t), [h], 2 * self.radius(level), level_tile, align=2)
            ys.append(y)
        ys.append(h)
        return ys

    def level_inverse(self, level: int, y: Tensor, h: Tensor, tile: int | None = None) -> Tensor:
        """Invert one level: latent y and passed-down part h → the level's input (unsqueezed)."""

        def inverse(y: Tensor, h: Tensor) -> Tensor:
            z = torch.cat([y, h], dim=1)
            for unit in reversed(self.levels[level]):
                z = unit.inverse(z)
            return unsqueeze(z)

        return map_tiles(inverse, [y, h], self.radius(level), tile)

    def synthesis(self, ys: list[Tensor]) -> Tensor:
        """[y1, ..., y5] → x, the exact inverse of :meth:`analysis`."""
        h = ys[4]
        for level in reversed(range(4)):
            h = self.level_inverse(level, ys[level], h)
        return h


@torch.no_grad()
def _init_haar(units: nn.ModuleList, colour: bool) -> None:
    """Start a level as a wavelet: earlier 1x1 convs alternate identity / swap-halves (so the
    couplings alternate which half they update, like lifting steps) and the last one is the
    Haar matrix times the inverse of their product, so the level's linear part is Haar."""
    c = units[0].conv.weight.shape[0]
    eye = torch.eye(c)
    swap = torch.cat([eye[c // 2 :], eye[: c // 2]])
    product = eye
    for i, unit in enumerate(units[:-1]):
        w = swap if i % 2 else eye
        unit.conv.weight.copy_(w)
        product = w @ product
    haar = _haar_matrix(c // 4, colour)
    units[-1].conv.weight.copy_(haar @ product.T)
