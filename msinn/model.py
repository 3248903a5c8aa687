"""MSINN: the variable-rate codec network, composing the INN, the gains and the per-scale
entropy models (Tu et al., "Multi-Scale Invertible Neural Network for Wide-Range
Variable-Rate Learned Image Compression", IEEE TMM 2025)::

    x ─INN─► y1 y2 y3 y4 y5            (analysis, rate-independent)
                         │ coarse → fine: y5, y4, y3, y2, y1
    for each latent y_k: r = (y_k − μ)·g(rate) ─round─► r̂ ─rANS─► bytes
                         ŷ_k = r̂·g_inv(rate) + μ (+ LRP)
                         ĥ ← INN⁻¹ level(ŷ_k, ĥ)    (context for the next, finer latent)
    x̂ = post_filter(ĥ after y1)

μ and σ of each latent come from ĥ (cross-scale) and its decoded anchors (checkerboard).
Three methods: ``forward`` (training, likelihoods), ``compress`` and ``decompress``.
"""

from __future__ import annotations

import torch
from compressai.ans import BufferedRansEncoder, RansDecoder
from compressai.entropy_models import GaussianConditional
from compressai.models.base import get_scale_table
from torch import Tensor, nn

from .config import LATENT_CHANNELS, LATENT_NAMES, MSINNConfig
from .entropy import LatentEntropyModel
from .gains import GainTables, geometric_steps
from .inn import MultiScaleINN
from .postfilter import PostFilter

# Gaussian scales tabulated for the rANS coder, log-spaced from 0.11 to 1024 (high-rate gains
# make residual scales large) at twice CompressAI's density: rounding σ up to the next entry
# costs ~0.5 % instead of ~2 % of the bits at low rates.
SCALE_TABLE = get_scale_table(0.11, 1024, 151).tolist()


class MSINN(nn.Module):
    downsampling_factor = 32  # INN needs 16; the H/16 checkerboard needs an even size

    def __init__(self, cfg: MSINNConfig):
        super().__init__()
        self.cfg = cfg
        self.inn = MultiScaleINN(cfg)
        self.latent_models = nn.ModuleList(
            LatentEntropyModel(cfg, k, c) for k, c in enumerate(LATENT_CHANNELS)
        )
        self.gains = GainTables(cfg)
        self.post_filter = PostFilter(cfg.post_filter) if cfg.post_filter else None
        self.gaussian_conditional = GaussianConditional(None)
        self._cdf_tables: tuple[list, list, list] | None = None

    # -- set-up ------------------------------------------------------------------------

    @torch.no_grad()
    def initialise(self, x: Tensor) -> None:
        """Data-dependent start on a training batch x (B, 3, H, W): ActNorm statistics,
        then the gain ladder, scaled by how much ActNorm enlarged each latent."""
        self.train()
        self.inn.analysis(x)
        level_scale, cumulative = [], torch.tensor(1.0)
        for units in self.inn.levels:
            for unit in units:
                cumulative = cumulative * unit.actnorm.logs.mean().exp()
            level_scale.append(cumulative)
        per_slice = [level_scale[3], level_scale[3], level_scale[2], level_scale[1], level_scale[0]]
        latent_scale = torch.cat([s.expand(c) for s, c in zip(per_slice, LATENT_CHANNELS, strict=False)])
        steps = geometric_steps(*self.cfg.init_step, self.cfg.anchors)
        self.gains.init_ladder(steps, latent_scale)

    def update(self) -> None:
        """Tabulate the Gaussian CDFs for the rANS coder; must run before compress/decompress."""
        self.gaussian_conditional.update_scale_table(SCALE_TABLE, force=True)
        gc = self.gaussian_conditional
        self._cdf_tables = (gc._quantized_cdf.tolist(), gc._cdf_length.tolist(), gc._offset.tolist())

    @property
    def anchors(self) -> int:
        return self.gains.anchors

    # -- shared pieces -----------------------------------------------------------------

    def _slice_gains(self, rate: Tensor) -> list[tuple[Tensor, Tensor, Tensor]]:
        """rate (B,) → per latent in coding order, (gain, inv_gain, scale_gain) each (B, C, 1, 1)."""
        tables = [t.split(LATENT_CHANNELS, dim=1) for t in self.gains(rate)]
        return [tuple(t[k][:, :, None, None] for t in tables) for k in range(len(LATENT_CHANNELS))]

    def _next_support(self, k: int, y_hat: Tensor, support: Tensor | None) -> Tensor:
        """Decoder state after latent k: ŷ5 alone, then one more inverse INN level each."""
        return y_hat if k == 0 else self.inn.level_inverse(4 - k, y_hat, support)

    def _post(self, x_hat: Tensor) -> Tensor:
        return x_hat if self.post_filter is None else self.post_filter(x_hat)

    # -- the three methods -------------------------------------------------------------

    def forward(self, x: Tensor, rate: Tensor) -> dict:
        """x (B, 3, H, W) in [0, 1], rate (B,) → {"x_hat", "likelihoods": {"y5"…"y1"}}."""
        ys = self.inn.analysis(x)[::-1]  # coding order y5 … y1
        support, likelihoods = None, {}
        for k, (model, y, gains) in enumerate(zip(self.latent_models, ys, self._slice_gains(rate), strict=False)):
            y_hat, likelihoods[LATENT_NAMES[k]] = model(y, support, gains, self.gaussian_conditional)
            support = self._next_support(k, y_hat, support)
        return {"x_hat": self._post(support), "likelihoods": likelihoods}

    def _code(self, shape: tuple[int, int], rate: float, coders: list) -> Tensor:
        """The decoding chain run by both compress and decompress; returns x̂ (1, 3, H, W)."""
        if self._cdf_tables is None:
            raise RuntimeError("MSINN.update() must run before real coding")
        h, w = shape
        rate_t = torch.tensor([rate], dtype=torch.float32, device=self.gains.log_gain.device)
        support = None
        for k, (model, gains, coder) in enumerate(zip(self.latent_models, self._slice_gains(rate_t), coders, strict=False)):
            scale = 1 if k < 2 else 2 ** (k - 1)
            latent_shape = (1, LATENT_CHANNELS[k], h * scale, w * scale)
            y_hat = model.code(support, latent_shape, gains, coder)
            support = self._next_support(k, y_hat, support)
        return self._post(support).clamp(0, 1)

    @torch.no_grad()
    def compress(self, x: Tensor, rate: float, record_bits: bool = False) -> dict:
        """x (1, 3, H, W), H and W multiples of 32 → {"strings": 5 bytes (y5 … y1), "shape":
        (H/16, W/16), "x_hat": the reconstruction the decoder will compute}; see
        :meth:`compress_latents` for ``record_bits``."""
        return self.compress_latents(self.inn.analysis(x), rate, record_bits)

    @torch.no_grad()
    def compress_latents(self, ys: list[Tensor], rate: float, record_bits: bool = False) -> dict:
        """Code the analysis [y1 … y5] at ``rate``; with ``record_bits`` also returns
        "bits" (−log2 p per element) and "symbols" (the coded residuals r̂), y5 … y1."""
        ys = ys[::-1]
        coders = [RansSymbolEncoder(self.gaussian_conditional, self._cdf_tables, y, record_bits) for y in ys]
        shape = tuple(ys[0].shape[2:])
        x_hat = self._code(shape, rate, coders)
        out = {"strings": [c.flush() for c in coders], "shape": shape, "x_hat": x_hat}
        if record_bits:
            out["bits"] = [c.bits for c in coders]
            out["symbols"] = [c.symbols for c in coders]
        return out

    @torch.no_grad()
    def decompress(self, strings: list[bytes], shape: tuple[int, int], rate: float) -> dict:
        """Inverse of :meth:`compress`: → {"x_hat": (1, 3, 16·shape[0], 16·shape[1])}."""
        coders = [RansSymbolDecoder(self.gaussian_conditional, self._cdf_tables, s) for s in strings]
        return {"x_hat": self._code(shape, rate, coders)}


def scale_indexes(gaussian: GaussianConditional, scales: Tensor) -> Tensor:
    """CDF-table row of each scale: the first table entry ≥ σ (CompressAI's rule, vectorised)."""
    scales = gaussian.lower_bound_scale(scales)
    return torch.searchsorted(gaussian.scale_table[:-1].contiguous(), scales.contiguous()).int()


def used_rows(tables: tuple, indexes: Tensor) -> tuple[list, list, list, list]:
    """Only the CDF rows that ``indexes`` use, and indexes into that subset: the coder copies
    every row it is given from Python on each call, and long high-σ rows are costly."""
    used, local = torch.unique(indexes, return_inverse=True)
    rows = used.tolist()
    cdf, lengths, offsets = tables
    return local.flatten().tolist(), [cdf[i] for i in rows], [lengths[i] for i in rows], [offsets[i] for i in rows]


class RansSymbolEncoder:
    """Encoder side of :class:`msinn.entropy.SymbolCoder`: rounds (y − μ)·g and rANS-codes it."""

    def __init__(self, gaussian: GaussianConditional, tables: tuple, y: Tensor, record_bits: bool):
        self.gaussian, self.tables, self.y = gaussian, tables, y
        self.encoder = BufferedRansEncoder()
        self.bits = torch.zeros_like(y) if record_bits else None
        self.symbols = torch.zeros_like(y) if record_bits else None

    def __call__(self, mask: Tensor, scales: Tensor, means: Tensor, gain: Tensor) -> Tensor:
        r_hat = torch.round((self.y - means) * gain) * mask
        symbols, sel_scales = r_hat[:, :, mask], scales[:, :, mask]
        self.encoder.encode_with_indexes(
            symbols.int().flatten().tolist(), *used_rows(self.tables, scale_indexes(self.gaussian, sel_scales))
        )
        if self.bits is not None:
            likelihood = self.gaussian.likelihood_lower_bound(self.gaussian._likelihood(symbols, sel_scales))
            self.bits[:, :, mask] = -torch.log2(likelihood)
            self.symbols[:, :, mask] = symbols
        return r_hat

    def flush(self) -> bytes:
        return self.encoder.flush()


class RansSymbolDecoder:
    """Decoder side of :class:`msinn.entropy.SymbolCoder`: reads r̂ from one rANS stream."""

    def __init__(self, gaussian: GaussianConditional, tables: tuple, data: bytes):
        self.gaussian, self.tables = gaussian, tables
        self.decoder = RansDecoder()
        # Zero padding keeps a corrupt stream's renormalisation reads inside our buffer.
        self.decoder.set_stream(data + bytes(64))

    def __call__(self, mask: Tensor, scales: Tensor, means: Tensor, gain: Tensor) -> Tensor:
        sel_scales = scales[:, :, mask]
        values = self.decoder.decode_stream(*used_rows(self.tables, scale_indexes(self.gaussian, sel_scales)))
        r_hat = torch.zeros_like(scales)
        r_hat[:, :, mask] = torch.tensor(values, dtype=scales.dtype).view(sel_scales.shape)
        return r_hat
