"""Per-scale entropy model: cross-scale context, checkerboard spatial context, a Gaussian
mean–scale distribution on gain-scaled residuals, and latent residual prediction (LRP).

MSINN-VRLIC §2. Each latent y_k is coded in two passes over a checkerboard::

    pass 1 (anchors ■)      pass 2 (non-anchors □, seeing the decoded anchors)
      ■ □ ■ □                 . ■ . ■
      □ ■ □ ■                 ■ . ■ .
      ■ □ ■ □                 . ■ . ■

The parity flips from one latent to the next (anchors at (i+j) odd for y5, y3, y1 and even
for y4, y2). Gaussian parameters come from a pointwise network fed with (a) the cross-scale
context, a CNN over ĥ_k = the decoder's own partial synthesis of the coarser latents (a
learned constant for y5), and (b) the spatial context, masked convolutions over the decoded
anchors, zero at anchor positions. Because the parameter network is pointwise, anchors get
the same parameters in both passes.

Quantisation acts on residuals: r = (y − μ)·g, r̂ = round(r), ŷ = r̂·g_inv + μ; the
likelihood of r̂ is a zero-mean Gaussian of scale σ·g_s over the unit bin.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

import torch
from torch import Tensor, nn

from .config import MSINNConfig
from .conv import Conv2d, checkerboard_conv, colour_sublattices, conv2d
from .coding import TABLES
from .memory import release_freed_memory
from .tiles import map_tiles

if TYPE_CHECKING:
    from compressai.entropy_models import GaussianConditional

ANCHOR_PARITY = (1, 0, 1, 0, 1)  # per slice (y5, y4, y3, y2, y1): anchors where (i+j)%2 == p


def round_ste(x: Tensor) -> Tensor:
    """Round forward, identity gradient backward."""
    return (torch.round(x) - x).detach() + x


def checkerboard(height: int, width: int, parity: int, device: torch.device) -> Tensor:
    """(H, W) bool, True at anchor positions ((i + j) % 2 == parity)."""
    i = torch.arange(height, device=device)[:, None]
    j = torch.arange(width, device=device)[None, :]
    return (i + j) % 2 == parity


class MaskedConv2d(Conv2d):
    """3x3 conv whose kernel keeps only some taps: "A" the 4 edge neighbours (moves
    information from one checkerboard colour to the other), "B" the centre and the 4
    diagonals (mixes positions of one colour only)."""

    MASKS = {
        "A": [[0, 1, 0], [1, 0, 1], [0, 1, 0]],
        "B": [[1, 0, 1], [0, 1, 0], [1, 0, 1]],
    }

    def __init__(self, c_in: int, c_out: int, kind: str):
        super().__init__(c_in, c_out, 3, padding=1)
        self.register_buffer("mask", torch.tensor(self.MASKS[kind], dtype=torch.float32))
        # The taps the float64 path multiplies: the mask's non-zero ones (the buffer is the
        # same constant in every checkpoint).
        self.taps = [(dy, dx) for dy, row in enumerate(self.MASKS[kind]) for dx, keep in enumerate(row) if keep]

    def forward(self, x: Tensor) -> Tensor:
        return conv2d(x, self.weight * self.mask, self.bias, padding=1, taps=self.taps)


def conv_stack(c_in: int, hidden: int, c_out: int, layers: int, masked: bool = False) -> nn.Sequential:
    """``layers`` 3x3 convs c_in → hidden → … → c_out with GELU between; masked: A then B."""
    widths = [c_in] + [hidden] * (layers - 1) + [c_out]
    mods: list[nn.Module] = []
    for n, (a, b) in enumerate(zip(widths[:-1], widths[1:], strict=False)):
        mods.append(MaskedConv2d(a, b, "A" if n == 0 else "B") if masked else Conv2d(a, b, 3, padding=1))
        if n < layers - 1:
            mods.append(nn.GELU())
    return nn.Sequential(*mods)


def radius(stack: nn.Sequential) -> int:
    """Receptive radius of a conv stack: one per 3x3 conv."""
    return sum(m.kernel_size[0] // 2 for m in stack if isinstance(m, nn.Conv2d))


@functools.cache
def training_likelihoods(device: torch.device) -> GaussianConditional:
    """CompressAI's Gaussian conditional (its likelihoods and their bounds) on ``device``, for
    the training and estimation path, made on first use: importing compressai takes ~3.6 s and
    ~0.3 GB (it imports torchvision and torch_geometric), and real coding needs none of it (its
    tables are msinn/coding.py's). Its buffers are float32 constants, promoted to the input's
    dtype by the ops that use them."""
    from compressai.entropy_models import GaussianConditional

    return GaussianConditional(None).to(device)


def bin_likelihood(gaussian: GaussianConditional, r: Tensor, scale: Tensor) -> Tensor:
    """P(r) of residuals r over unit bins under N(0, scale), with CompressAI's bounds (scale ≥
    0.11, P ≥ 1e-9): the model training's likelihoods use, differentiable in r and scale."""
    scale = gaussian.lower_bound_scale(scale)
    r = r.abs()
    return gaussian.likelihood_lower_bound(torch.special.ndtr((0.5 - r) / scale) - torch.special.ndtr((-0.5 - r) / scale))


class SymbolCoder(Protocol):
    """The one place where encoder and decoder differ: where the symbols come from."""

    def __call__(self, mask: Tensor, rows: Tensor, means: Tensor, gain: Tensor) -> Tensor:
        """Return r̂ (B, C, N): the integer residuals at the N positions of ``mask`` (H, W), in
        row-major order. ``rows`` (B, C, N) int16: the table row of each residual's Gaussian
        scale σ·g_s (:meth:`msinn.coding.Tables.rows`); ``means`` (B, C, N): μ there."""
        ...


class LatentEntropyModel(nn.Module):
    """Entropy model of one latent with C channels (slice ``index`` in coding order)."""

    def __init__(self, cfg: MSINNConfig, index: int, channels: int):
        super().__init__()
        c, hidden = channels, cfg.ctx_hidden[index]
        self.parity = ANCHOR_PARITY[index]
        if index == 0:  # y5: no coarser scale; a learned per-channel constant instead
            self.prior = nn.Parameter(torch.ones(1, c, 1, 1))
        else:
            self.cross_scale = conv_stack(c, hidden, 2 * c, cfg.ctx_layers)
        self.spatial = conv_stack(c, hidden, 2 * c, cfg.spatial_layers, masked=True)
        self.entropy_parameters = nn.Sequential(
            Conv2d(4 * c, 10 * c // 3, 1),
            nn.GELU(),
            Conv2d(10 * c // 3, 8 * c // 3, 1),
            nn.GELU(),
            Conv2d(8 * c // 3, 2 * c, 1),
        )
        with torch.no_grad():  # start σ near the latents' spread instead of at the bound
            self.entropy_parameters[-1].bias[:c].fill_(1.0)
        self.lrp = None
        if cfg.lrp:
            c_in = c if index == 0 else 2 * c
            self.lrp = conv_stack(c_in, cfg.lrp_hidden[index], c, cfg.lrp_layers)
            nn.init.zeros_(self.lrp[-1].weight)
            nn.init.zeros_(self.lrp[-1].bias)

    def _context(self, support: Tensor | None, like: Tensor) -> Tensor:
        """Cross-scale context (B, 2C, H, W) from the partial synthesis ĥ (B, C, H, W)."""
        if support is None:
            b, c, h, w = like.shape
            return torch.cat([self.prior, torch.zeros_like(self.prior)], dim=1).expand(b, 2 * c, h, w)
        return self.cross_scale(support)

    def _params(self, ctx: Tensor, spatial: Tensor) -> tuple[Tensor, Tensor]:
        scales, means = self.entropy_parameters(torch.cat([ctx, spatial], dim=1)).chunk(2, dim=1)
        return scales, means

    def _params_of(self, ctx: Tensor, spatial: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """:meth:`_params` of positions picked out of their grid: ctx (B, 2C, N), the spatial
        context there (None: zeros) → scales, means (B, C, N). A coding pass needs only its own
        positions' parameters, and the network is pointwise: the same values at half the cost
        (up to float64 rounding: a GEMM over fewer columns may add in another order, as over a
        tile, msinn/tiles.py)."""
        spatial = torch.zeros_like(ctx) if spatial is None else spatial
        return self.entropy_parameters(torch.cat([ctx, spatial], dim=1)[..., None])[..., 0].chunk(2, dim=1)

    def spatial_at(self, y_anchor: Tensor, mask: Tensor) -> Tensor:
        """The spatial context at the positions of ``mask`` (H, W), a checkerboard colour:
        (B, 2C, N) in row-major order, from y_anchor (B, C, H, W), zero off the other colour.

        Layer A reads only the other colour and layers B only their own, so at even H and W
        the float64 CPU path runs every layer on the mask colour's sublattices alone
        (:func:`msinn.conv.checkerboard_conv`): half the products and activations of
        ``self.spatial``, whose outputs off the mask go unused."""
        b, _, h, w = y_anchor.shape
        if y_anchor.dtype != torch.float64 or y_anchor.device.type != "cpu" or h % 2 or w % 2:
            return self.spatial(y_anchor)[:, :, mask]
        colour = 0 if mask[0, 0] else 1
        picked = []
        for image in y_anchor:
            x, colours = colour_sublattices(image, 1 - colour), (1 - colour, colour)
            for layer in self.spatial:
                if isinstance(layer, MaskedConv2d):
                    x = checkerboard_conv(x, colours, layer.weight * layer.mask, layer.bias, layer.taps)
                    colours = (colour, colour)
                else:
                    x = (layer(x[0]), layer(x[1]))
            picked.append(torch.stack(x, dim=2).reshape(x[0].shape[0], -1))  # rows interleaved: row-major order
        return torch.stack(picked)

    def _refine(self, y_hat: Tensor, support: Tensor | None, inv_gain: Tensor) -> Tensor:
        """LRP: move ŷ by at most half a quantisation step, predicted from (ŷ, ĥ)."""
        if self.lrp is None:
            return y_hat
        inp = y_hat if support is None else torch.cat([y_hat, support], dim=1)
        return y_hat + 0.5 * torch.tanh(self.lrp(inp)) * inv_gain

    def forward(
        self,
        y: Tensor,
        support: Tensor | None,
        gains: tuple[Tensor, Tensor, Tensor],
        gaussian: GaussianConditional,
        quantise: Callable[[Tensor], Tensor] | None = None,
    ) -> tuple[Tensor, Tensor]:
        """Training/estimation path. y: (B, C, H, W); gains: three (B, C, 1, 1).

        Returns ŷ and the likelihoods of the residuals, both (B, C, H, W). By default ŷ uses
        straight-through rounding and the likelihoods noise (training mode) or rounding
        (eval mode). With ``quantise`` (the encoder's soft rounding, msinn/refine.py) one
        quantised residual per element serves reconstruction, context and rate alike.
        """
        gain, inv_gain, scale_gain = gains
        ctx = self._context(support, y)
        anchor = checkerboard(y.shape[2], y.shape[3], self.parity, y.device)
        _, means_anchor = self._params(ctx, torch.zeros_like(ctx))
        r_anchor = (quantise or round_ste)((y - means_anchor) * gain)
        y_anchor = (r_anchor * inv_gain + means_anchor) * anchor
        scales, means = self._params(ctx, self.spatial(y_anchor) * ~anchor)
        r = (y - means) * gain
        if quantise is None:
            _, likelihood = gaussian(r, scales * scale_gain, training=self.training)
            r_hat = round_ste(r)
        else:  # anchors keep the sample their context was built from
            r_hat = torch.where(anchor, r_anchor, quantise(r))
            likelihood = bin_likelihood(gaussian, r_hat, scales * scale_gain)
        y_hat = r_hat * inv_gain + means
        return self._refine(y_hat, support, inv_gain), likelihood

    @torch.no_grad()
    def code(
        self,
        support: Tensor | None | list[Tensor | None],
        shape: tuple[int, int, int, int],
        gains: tuple[Tensor, Tensor, Tensor],
        coder: SymbolCoder,
        tile: int | None = None,
        output: bool = True,
    ) -> Tensor | None:
        """Real coding, shared by encoder and decoder: returns ŷ (B, C, H, W) = ``shape``, H
        and W even (the codec pads images to a multiple of 32). ``output=False`` (the encoder's
        finest latent when no reconstruction is wanted): returns None, without the LRP, and
        ``support`` given as a one-element list is taken over and freed after the first pass
        (12 MP: ĥ of y1 is 0.14 GB of the encoder's peak).

        The encoder's and the decoder's ŷ are computed by these same lines, so they agree
        bit for bit as long as the arithmetic is deterministic. ``tile``: each pass runs over
        tiles of that many positions (the same values, msinn/tiles.py); the symbols of a pass
        are still coded together, in the order of the whole latent. What a pass keeps whole
        is held at its own colour's positions only, (B, ·, H, W/2) in row-major order: the
        table rows, the means and, from pass 1 for pass 2, the cross-scale context (at 12 MP
        in float64 the whole context of y1 alone would be 0.29 GB).
        """
        gain, inv_gain, scale_gain = gains
        if isinstance(support, list):
            support = support.pop()
        b, c, h, w = shape
        if h % 2 or w % 2:
            raise ValueError(f"a latent to code has even sides, not {h}x{w}")
        anchor = checkerboard(h, w, self.parity, gain.device)[None, None]

        def half(t: Tensor, mask: Tensor) -> Tensor:  # (B, K, h, w) → (B, K, h, w/2) at mask (h, w)
            return t[:, :, mask].view(*t.shape[:2], t.shape[2], t.shape[3] // 2)

        def rows_and_means(scales: Tensor, means: Tensor, mask: Tensor) -> tuple[Tensor, Tensor]:
            size = (*scales.shape[:2], mask.shape[0], mask.shape[1] // 2)
            return TABLES.rows(scales * scale_gain[..., 0]).view(size), means.view(size)

        def anchor_pass(m: Tensor, s: Tensor | None) -> tuple[Tensor, Tensor, Tensor]:
            mask = m[0, 0]
            ctx = self._context(s, m.expand(b, c, *mask.shape))
            return *rows_and_means(*self._params_of(ctx[:, :, mask]), mask), half(ctx, ~mask)

        def non_anchor_pass(m: Tensor, y_anchor: Tensor, ctx: Tensor) -> tuple[Tensor, Tensor]:
            mask = m[0, 0]
            return rows_and_means(*self._params_of(ctx.flatten(2), self.spatial_at(y_anchor, mask)), mask)

        tiled = tile is not None and h * w > tile
        halo = 0 if support is None else radius(self.cross_scale)
        rows, means, ctx = map_tiles(anchor_pass, [anchor, support], halo, tile, align=2)
        if not output:
            support = None
        y_hat = torch.zeros(shape, dtype=gain.dtype, device=gain.device)
        self._code_pass(y_hat, anchor[0, 0], rows, means, coder, gains, tiled)
        del rows, means
        rows, means = map_tiles(non_anchor_pass, [~anchor, y_hat, ctx], radius(self.spatial), tile, align=2)
        del ctx
        self._code_pass(y_hat, ~anchor[0, 0], rows, means, coder, gains, tiled)
        del rows, means
        if not output:
            return None
        if self.lrp is None:
            return y_hat
        return map_tiles(lambda y, s: self._refine(y, s, inv_gain), [y_hat, support], radius(self.lrp), tile)

    @staticmethod
    def _code_pass(
        y_hat: Tensor,
        mask: Tensor,
        rows: Tensor,
        means: Tensor,
        coder: SymbolCoder,
        gains: tuple[Tensor, Tensor, Tensor],
        tiled: bool,
    ) -> None:
        """ŷ = r̂·g_inv + μ written into ``y_hat`` at ``mask`` (H, W); rows, means (B, C, H, W/2).
        ``tiled`` (a latent large enough to run over tiles): give the coder's freed working
        arrays back to the OS, as the tiled stages do (it costs ~5 ms, too much at Kodak size)."""
        gain, inv_gain, _ = gains
        means = means.flatten(2)
        r_hat = coder(mask, rows.flatten(2), means, gain)
        y_hat[:, :, mask] = r_hat.mul_(inv_gain[..., 0]).add_(means)
        if tiled:
            release_freed_memory()
