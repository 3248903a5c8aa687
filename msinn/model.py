"""MSINN: the variable-rate codec network, composing the INN, the gains and the per-scale
entropy models (Tu et al., "Multi-Scale Invertible Neural Network for Wide-Range
Variable-Rate Learned Image Compression", IEEE TMM 2025)::

    x ─INN─► y1 y2 y3 y4 y5            (analysis, rate-independent)
                         │ coarse → fine: y5, y4, y3, y2, y1
    for each latent y_k: r = (y_k − μ)·g(rate) ─round─► r̂ ─range coder─► bytes
                         ŷ_k = r̂·g_inv(rate) + μ (+ LRP)
                         ĥ ← INN⁻¹ level(ŷ_k, ĥ)    (context for the next, finer latent)
    x̂ = post_filter(ĥ after y1)

μ and σ of each latent come from ĥ (cross-scale) and its decoded anchors (checkerboard).
Three methods: ``forward`` (training, likelihoods), ``compress`` and ``decompress``. Real
coding runs in the model's dtype; :class:`msinn.Codec` makes that float64 (see
``msinn/coding.py`` for why), training runs in float32.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor, nn

from .coding import SymbolDecoder, SymbolEncoder
from .config import LATENT_CHANNELS, LATENT_NAMES, MSINNConfig
from .entropy import LatentEntropyModel, training_likelihoods
from .gains import GainTables, geometric_steps
from .image import to_pixels
from .inn import MultiScaleINN
from .postfilter import PostFilter
from .tiles import TILE


class MSINN(nn.Module):
    downsampling_factor = 32  # INN needs 16; the H/16 checkerboard needs an even size
    tile: int | None = TILE  # real coding runs each stage over tiles of this many positions

    def __init__(self, cfg: MSINNConfig):
        super().__init__()
        self.cfg = cfg
        self.inn = MultiScaleINN(cfg)
        self.latent_models = nn.ModuleList(
            LatentEntropyModel(cfg, k, c) for k, c in enumerate(LATENT_CHANNELS)
        )
        self.gains = GainTables(cfg)
        self.post_filter = PostFilter(cfg.post_filter) if cfg.post_filter else None

    # -- set-up ------------------------------------------------------------------------

    @torch.no_grad()
    def initialise(self, x: Tensor) -> None:
        """Data-dependent start on a training batch x (B, 3, H, W): ActNorm statistics,
        then the gain ladder, scaled by how much ActNorm enlarged each latent."""
        self.train()
        self.inn.analysis(x)
        level_scale, cumulative = [], x.new_tensor(1.0)
        for units in self.inn.levels:
            for unit in units:
                cumulative = cumulative * unit.actnorm.logs.mean().exp()
            level_scale.append(cumulative)
        per_slice = [level_scale[3], level_scale[3], level_scale[2], level_scale[1], level_scale[0]]
        latent_scale = torch.cat([s.expand(c) for s, c in zip(per_slice, LATENT_CHANNELS, strict=False)])
        steps = geometric_steps(*self.cfg.init_step, self.cfg.anchors).to(x.device)
        self.gains.init_ladder(steps, latent_scale)

    @property
    def anchors(self) -> int:
        return self.gains.anchors

    # -- shared pieces -----------------------------------------------------------------

    def slice_gains(self, rate: Tensor) -> list[tuple[Tensor, Tensor, Tensor]]:
        """rate (B,) → per latent in coding order, (gain, inv_gain, scale_gain) each (B, C, 1, 1)."""
        tables = [t.split(LATENT_CHANNELS, dim=1) for t in self.gains(rate)]
        return [tuple(t[k][:, :, None, None] for t in tables) for k in range(len(LATENT_CHANNELS))]

    def _next_support(self, k: int, y_hat: Tensor, support: Tensor | None, tile: int | None = None) -> Tensor:
        """Decoder state after latent k: ŷ5 alone, then one more inverse INN level each."""
        return y_hat if k == 0 else self.inn.level_inverse(4 - k, y_hat, support, tile)

    def _post(self, x_hat: Tensor, tile: int | None = None, finish: Callable[[Tensor], Tensor] | None = None) -> Tensor:
        if self.post_filter is None:
            return x_hat if finish is None else finish(x_hat)
        return self.post_filter(x_hat, tile, finish)

    # -- the three methods -------------------------------------------------------------

    def forward(self, x: Tensor, rate: Tensor) -> dict:
        """x (B, 3, H, W) in [0, 1], rate (B,) → {"x_hat", "likelihoods": {"y5"…"y1"}}."""
        return self.forward_latents(self.inn.analysis(x), rate)

    def forward_latents(
        self, ys: list[Tensor], rate: Tensor, quantise: Callable[[Tensor], Tensor] | None = None, post_filter: bool = True
    ) -> dict:
        """:meth:`forward` from given latents [y1 … y5]; ``quantise``: see LatentEntropyModel.forward;
        ``post_filter=False`` returns the synthesis before the post-filter."""
        support, likelihoods = None, {}
        gaussian = training_likelihoods(ys[0].device)
        for k, (model, y, gains) in enumerate(zip(self.latent_models, ys[::-1], self.slice_gains(rate), strict=True)):
            y_hat, likelihoods[LATENT_NAMES[k]] = model(y, support, gains, gaussian, quantise)
            support = self._next_support(k, y_hat, support)
        if not post_filter:
            return {"x_hat": support, "likelihoods": likelihoods}
        # fp32 even under training's bf16 autocast: a post-filter trained in bf16 loses PSNR in
        # the float64 decoder (weights/README.md, step 42,392). Coding never runs autocast.
        if support.dtype in (torch.bfloat16, torch.float16):
            support = support.float()
        with torch.autocast(support.device.type, enabled=False):
            return {"x_hat": self._post(support), "likelihoods": likelihoods}

    def _code(self, shape: tuple[int, int], rate: float, coders: list, reconstruct: bool = True) -> Tensor | None:
        """The decoding chain run by both compress and decompress; returns x̂ (1, 3, H, W) as
        8-bit pixels (:func:`msinn.image.to_pixels`), or None without ``reconstruct`` (the
        encoder then skips the last synthesis level).
        Each coder's ``finish()`` runs as soon as its latent is coded: the decoder refuses a
        stream there, before the finer (costlier) scales."""
        h, w = shape
        log_gain = self.gains.log_gain
        rate_t = torch.tensor([rate], dtype=log_gain.dtype, device=log_gain.device)
        support = None
        for k, (model, gains, coder) in enumerate(zip(self.latent_models, self.slice_gains(rate_t), coders, strict=True)):
            scale = 1 if k < 2 else 2 ** (k - 1)
            latent_shape = (1, LATENT_CHANNELS[k], h * scale, w * scale)
            if k == len(coders) - 1 and not reconstruct:  # ŷ1 unused: code() may free ĥ early
                held, support = [support], None
                model.code(held, latent_shape, gains, coder, self.tile, output=False)
                coder.finish()
                return None
            y_hat = model.code(support, latent_shape, gains, coder, self.tile)
            coder.finish()
            support = self._next_support(k, y_hat, support, self.tile)
            del y_hat
        return self._post(support, self.tile, to_pixels)

    @torch.no_grad()
    def compress(self, x: Tensor, rate: float, record_bits: bool = False, reconstruct: bool = True) -> dict:
        """x (1, 3, H, W), H and W multiples of 32 → {"strings": 5 bytes (y5 … y1),
        "checksums": 5 CRC32 of their symbols, "shape": (H/16, W/16), "x_hat": the
        reconstruction the decoder will compute}; see :meth:`compress_latents`."""
        return self.compress_latents(self.inn.analysis(x, self.tile), rate, record_bits, reconstruct)

    @torch.no_grad()
    def compress_latents(self, ys: list[Tensor], rate: float, record_bits: bool = False, reconstruct: bool = True) -> dict:
        """Code the analysis [y1 … y5] (any float dtype; coded in the model's) at ``rate``.
        ``record_bits`` adds "bits" (−log2 p per element) and "symbols" (the coded residuals
        r̂), y5 … y1; without ``reconstruct`` "x_hat" is None (saves the last synthesis level)."""
        coders = [SymbolEncoder(y, record_bits) for y in ys[::-1]]
        shape = tuple(ys[-1].shape[2:])
        x_hat = self._code(shape, rate, coders, reconstruct)
        out = {"strings": [c.flush() for c in coders], "checksums": [c.finish() for c in coders], "shape": shape, "x_hat": x_hat}
        if record_bits:
            out["bits"] = [c.bits for c in coders]
            out["symbols"] = [c.symbols for c in coders]
        return out

    @torch.no_grad()
    def decompress(self, strings: list[bytes], checksums: list[int], shape: tuple[int, int], rate: float) -> dict:
        """Inverse of :meth:`compress`: → {"x_hat": (1, 3, 16·shape[0], 16·shape[1]) uint8}.
        Raises :class:`msinn.BitstreamError` at the first stream whose symbols do not match
        its checksum."""
        coders = [SymbolDecoder(s, c, f"stream {n}") for s, c, n in zip(strings, checksums, LATENT_NAMES, strict=True)]
        return {"x_hat": self._code(shape, rate, coders)}
