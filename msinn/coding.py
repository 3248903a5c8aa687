"""Entropy coding of the latents: constant tables, σ → table row, and the range coder.

A file decodes only if the decoder picks, for every symbol, the same probability table as
the encoder did. Tables are chosen from σ, which the decoder recomputes from what it has
decoded, so three things make files portable between machines, thread counts and devices:

- **Constant tables.** ``coding_tables.npz`` (next to this file) holds the 151 Gaussian scales
  (log-spaced 0.11 … 1024, six significant digits) and, for each, the integer frequencies
  (total 2^24) of the residuals −t … t and of two escape bins, t = ⌈5.5σ⌉. They were computed
  once by :func:`build_tables` and are data, not recomputed: no libm or kernel difference can
  change them. Their hash (:data:`TABLES_ID`) is part of every weights id.
- **σ in float64.** The codec runs everything the decoder recomputes (gains, entropy models,
  LRP, the partial inverse INN) in float64 (``msinn/codec.py``), so σ agrees across machines to
  ~1e-15 while table rows are 0.061 apart in ln σ; σ's row is the first scale ≥ σ.
- **A memory-safe coder with a check.** constriction's range coder (Rust) never reads outside
  its input and raises on data no encoder could have produced; each stream carries a CRC32 of
  its symbols, checked as soon as it is decoded, so a file that does not decode exactly here is
  refused with :class:`~msinn.bitstream.BitstreamError` instead of becoming garbage.

Within one coding pass, symbols are coded grouped by table row (ascending, stable), then the
escaped values: a residual v outside [−t, t] is coded as its escape bin, and u = |v| − t ≥ 1
as ``bit_length(u) − 1`` (uniform over 0 … 22) followed by the bits of u below its top bit.
"""

from __future__ import annotations

import functools
import hashlib
import zlib
from pathlib import Path

import constriction
import numpy as np
import torch
from torch import Tensor

from .bitstream import BitstreamError

# constriction is one extension module: its submodules are attributes, not importable packages.
Categorical, Uniform = constriction.stream.model.Categorical, constriction.stream.model.Uniform
RangeDecoder, RangeEncoder = constriction.stream.queue.RangeDecoder, constriction.stream.queue.RangeEncoder

TABLES_PATH = Path(__file__).with_name("coding_tables.npz")
PRECISION = 24  # bits of the integer frequencies (constriction's range coder precision)
TAIL = 5.5  # table support ±⌈TAIL·σ⌉; the escape bins then carry < 2^-24 each
MAX_ESCAPE_BITS = 23  # |v| − t < 2^23: larger residuals cannot be coded (ValueError)


def build_tables(scales: int = 151, low: float = 0.11, high: float = 1024.0) -> dict[str, np.ndarray]:
    """The table file's content: {"scales" (R,) float64, "lengths" (R,), "freqs" (Σ lengths,)
    uint32}; row r holds the escape-low bin, the residuals −t … t, the escape-high bin."""
    from scipy.special import ndtr

    grid = np.exp(np.linspace(np.log(low), np.log(high), scales))
    table = np.array([float(f"{s:.6g}") for s in grid])
    rows = []
    for sigma in table:
        t = int(np.ceil(TAIL * sigma))
        k = np.arange(-t, t + 1)
        tail = ndtr((-t - 0.5) / sigma)
        pmf = np.concatenate([[tail], ndtr((k + 0.5) / sigma) - ndtr((k - 0.5) / sigma), [tail]])
        freqs = np.floor(pmf * ((1 << PRECISION) - len(pmf))).astype(np.int64) + 1  # every bin ≥ 1
        freqs[t + 1] += (1 << PRECISION) - freqs.sum()  # exact total: the rest goes to 0
        rows.append(freqs.astype(np.uint32))
    return {"scales": table, "lengths": np.array([len(r) for r in rows]), "freqs": np.concatenate(rows)}


class Tables:
    """The shipped tables, with one constriction model per row (built on first use)."""

    def __init__(self, path: Path = TABLES_PATH):
        with np.load(path) as f:
            self.scales = f["scales"].astype(np.float64)
            lengths = f["lengths"].astype(np.int64)
            freqs = f["freqs"].astype(np.uint32)
        h = hashlib.sha256()
        for a in (self.scales, lengths, freqs):
            h.update(np.ascontiguousarray(a).astype(a.dtype.newbyteorder("<")).tobytes())
        self.id = h.digest()[:8]
        bounds = np.concatenate([[0], np.cumsum(lengths)])
        self.freqs = [freqs[a:b] for a, b in zip(bounds[:-1], bounds[1:], strict=True)]
        self.support = (lengths - 3) // 2  # t of each row
        self._bounds: dict[torch.device, Tensor] = {}

    @functools.cached_property
    def models(self) -> list[Categorical]:
        return [Categorical(f.astype(np.float64), perfect=False) for f in self.freqs]

    @functools.cached_property
    def bits(self) -> list[np.ndarray]:
        """−log2 p of each bin of each row (for display and estimates)."""
        return [PRECISION - np.log2(f.astype(np.float64)) for f in self.freqs]

    def rows(self, scales: Tensor) -> Tensor:
        """Table row (int16, the shape of ``scales``, float64) of each σ: the first scale ≥ σ,
        the last row for anything larger. Computed on σ's device."""
        bounds = self._bounds.get(scales.device)
        if bounds is None:
            bounds = self._bounds[scales.device] = torch.from_numpy(self.scales[:-1]).to(scales.device)
        return torch.searchsorted(bounds, scales.to(torch.float64).contiguous()).to(torch.int16)


TABLES = Tables()
TABLES_ID = TABLES.id


def _groups(rows: np.ndarray, chunk: int = 1 << 20) -> tuple[np.ndarray, list[tuple[int, int, int]]]:
    """Stable order of symbols by row (int32), and (row, start, stop) of each non-empty group.

    Sorted ``chunk`` symbols at a time, each chunk's groups appended to their row's: the order
    of one stable sort, without its int64 indices of every symbol (at 12 MP, y1's pass of 9 M
    symbols: 72 MB more at the encoder's peak)."""
    counts = np.bincount(rows, minlength=len(TABLES.freqs))
    stops = np.cumsum(counts)
    fill = stops - counts  # where each row's next symbols go
    order = np.empty(len(rows), dtype=np.int32)  # < 2^31 symbols
    for a in range(0, len(rows), chunk):
        part = rows[a : a + chunk]
        local = np.argsort(part, kind="stable").astype(np.int32) + np.int32(a)
        n = np.bincount(part, minlength=len(counts))
        for r, lo in zip(np.flatnonzero(n), (np.cumsum(n) - n)[n > 0], strict=True):
            order[fill[r] : fill[r] + n[r]] = local[lo : lo + n[r]]
        fill += n
    return order, [(r, int(stops[r] - counts[r]), int(stops[r])) for r in np.flatnonzero(counts)]


def _flat(rows: Tensor) -> np.ndarray:
    return rows.reshape(-1).cpu().numpy()


def _crc(crc: int, values: np.ndarray) -> int:
    return zlib.crc32(np.ascontiguousarray(values, dtype="<i4"), crc)  # no copy of int32 values


class SymbolEncoder:
    """Encoder side of :class:`msinn.entropy.SymbolCoder` for one latent y (1, C, H, W):
    rounds (y − μ)·g at the masked positions and range-codes the residuals."""

    def __init__(self, y: Tensor, record_bits: bool = False):
        self.y = y  # any float dtype: converted to the coding dtype a pass at a time
        self.coder = RangeEncoder()
        self.checksum = 0
        self.bits = torch.zeros_like(y, dtype=torch.float64) if record_bits else None
        self.symbols = torch.zeros_like(y, dtype=torch.float64) if record_bits else None

    def __call__(self, mask: Tensor, rows: Tensor, means: Tensor, gain: Tensor) -> Tensor:
        # round((y − μ)·g) in place: at 12 MP each temporary of y1's pass is 0.07 GB
        selected = self.y[:, :, mask].to(means.dtype).sub_(means).mul_(gain[..., 0]).round_()  # (B, C, N)
        lo, hi = torch.aminmax(selected) if selected.numel() else (0, 0)  # no |·| copy of the pass
        if not -(1 << 30) < lo <= hi < 1 << 30:  # NaN too: int32 holds the rest
            raise ValueError(f"a latent residual of {float(selected.abs().max())} exceeds the coder's range")
        values = selected.reshape(-1).cpu().numpy().astype(np.int32)
        del selected  # r̂ is made again from the integers, as the decoder makes it (less memory meanwhile)
        self.checksum = _crc(self.checksum, values)
        bits = self._encode(values, _flat(rows), record=self.bits is not None)
        r_hat = torch.from_numpy(values).to(means).view_as(means)
        if bits is not None:
            self.bits[:, :, mask] = torch.from_numpy(bits).to(self.bits).view_as(r_hat)
            self.symbols[:, :, mask] = r_hat.to(self.symbols)
        return r_hat

    def _encode(self, values: np.ndarray, rows: np.ndarray, record: bool) -> np.ndarray | None:
        """Code ``values`` with table ``rows``; with ``record``, returns −log2 p of each value."""
        order, groups = _groups(rows)
        bits = np.zeros(len(values)) if record else None
        escapes, escape_at = [], []
        for r, a, b in groups:
            t = int(TABLES.support[r])
            at = order[a:b]
            index = values[at]  # a copy, shifted and clipped in place: one temporary per group
            index += t + 1
            np.clip(index, 0, 2 * t + 2, out=index)
            self.coder.encode(index, TABLES.models[r])
            if record:
                bits[at] = TABLES.bits[r][index]
            out = np.flatnonzero((index == 0) | (index == 2 * t + 2))
            escapes.append(np.abs(values[at[out]]) - t)
            escape_at.append(at[out])
        if escapes and (u := np.concatenate(escapes)).size:
            if u.max() >= 1 << MAX_ESCAPE_BITS:
                raise ValueError(f"a latent residual of {int(u.max())} exceeds the coder's range")
            n = np.frexp(u.astype(np.float64))[1]  # bit length of each u ≥ 1
            self.coder.encode((n - 1).astype(np.int32), Uniform(MAX_ESCAPE_BITS))
            long = n >= 2
            if long.any():
                size = (1 << (n[long] - 1)).astype(np.int32)
                self.coder.encode((u[long] - size).astype(np.int32), Uniform(), size)
            if record:
                bits[np.concatenate(escape_at)] += np.log2(MAX_ESCAPE_BITS) + n - 1
        return bits

    def finish(self) -> int:
        """CRC32 of every symbol coded (the decoder checks it)."""
        return self.checksum

    def flush(self) -> bytes:
        return self.coder.get_compressed().astype("<u4").tobytes()


class SymbolDecoder:
    """Decoder side of :class:`msinn.entropy.SymbolCoder`: reads the residuals from one
    stream; :meth:`finish` refuses a stream whose symbols do not match its checksum."""

    def __init__(self, data: bytes, checksum: int, name: str = "stream"):
        if len(data) % 4:
            raise BitstreamError(f"{name}: length {len(data)} is not a whole number of 32-bit words")
        self.coder = RangeDecoder(np.frombuffer(data, dtype="<u4").astype(np.uint32))
        self.expected, self.checksum, self.name = checksum, 0, name

    def __call__(self, mask: Tensor, rows: Tensor, means: Tensor, gain: Tensor) -> Tensor:
        try:
            values = self._decode(_flat(rows))
        except (AssertionError, ValueError, RuntimeError) as e:  # constriction: invalid data
            raise BitstreamError(f"{self.name} is not a valid stream: {e}") from None
        self.checksum = _crc(self.checksum, values)
        return torch.from_numpy(values).to(means).view_as(means)

    def _decode(self, rows: np.ndarray) -> np.ndarray:
        order, groups = _groups(rows)
        values = np.zeros(len(rows), dtype=np.int32)  # |v| < 2^23 + t
        escape_at, escape_t = [], []
        for r, a, b in groups:
            t = int(TABLES.support[r])
            at = order[a:b]
            index = self.coder.decode(TABLES.models[r], b - a).astype(np.int64)
            values[at] = index - t - 1
            out = np.flatnonzero((index == 0) | (index == 2 * t + 2))
            escape_at.append(at[out])
            escape_t.append(np.full(len(out), t))
        if escape_at and (at := np.concatenate(escape_at)).size:
            n = self.coder.decode(Uniform(MAX_ESCAPE_BITS), len(at)).astype(np.int64) + 1
            u = np.ones(len(at), dtype=np.int64) << (n - 1)
            long = n >= 2
            if long.any():
                size = (1 << (n[long] - 1)).astype(np.int32)
                u[long] += self.coder.decode(Uniform(), size)
            values[at] = np.sign(values[at]) * (np.concatenate(escape_t) + u)
        return values

    def finish(self) -> int:
        """Raise BitstreamError unless the symbols decoded so far match the stream's CRC."""
        if self.checksum != self.expected or not self.coder.maybe_exhausted():
            raise BitstreamError(
                f"{self.name} did not decode exactly here (symbol checksum mismatch): the file is "
                "damaged or crafted, or this machine computes the entropy model differently"
            )
        return self.checksum
