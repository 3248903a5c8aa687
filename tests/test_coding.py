"""The range coder and its tables on their own: round trips, escapes, limits, checksums."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from msinn import BitstreamError
from msinn.coding import MAX_ESCAPE_BITS, TABLES, SymbolDecoder, SymbolEncoder, _groups, build_tables


def _round_trip(values: np.ndarray, sigma: np.ndarray) -> np.ndarray:
    """Code ``values`` (the residuals of y with μ = 0, g = 1) with scales ``sigma`` in two
    passes over a checkerboard, as the entropy model does, and decode them again."""
    shape = (1, 1, *values.shape)
    y = torch.from_numpy(values.astype(np.float64)).view(shape)
    scales = torch.from_numpy(sigma.astype(np.float64)).view(shape)
    zeros, one = torch.zeros(shape, dtype=torch.float64), torch.ones(1, 1, 1, 1, dtype=torch.float64)
    i, j = np.indices(values.shape)
    masks = [torch.from_numpy((i + j) % 2 == p) for p in (1, 0)]
    encoder = SymbolEncoder(y)
    for mask in masks:
        encoder(mask, TABLES.rows(scales[:, :, mask]), zeros[:, :, mask], one)
    decoder = SymbolDecoder(encoder.flush(), encoder.finish())
    out = zeros.clone()
    for mask in masks:
        out[:, :, mask] = decoder(mask, TABLES.rows(scales[:, :, mask]), zeros[:, :, mask], one)
    decoder.finish()
    return out[0, 0].numpy().astype(np.int64)


def test_residuals_of_every_size_round_trip_including_escapes():
    rng = np.random.default_rng(0)
    for h, w in [(1, 1), (1, 2), (3, 5), (64, 48)]:
        sigma = np.exp(rng.uniform(np.log(0.05), np.log(2000), (h, w)))
        values = np.round(rng.normal(0, sigma * rng.choice([1, 30], (h, w)))).astype(np.int64)  # many far tails
        sigma.flat[0] = 0.05  # table row 0 …
        values.flat[0] = -((1 << MAX_ESCAPE_BITS) - 1 + int(TABLES.support[0]))  # … and its largest codable residual
        assert np.array_equal(_round_trip(values, sigma), values)


def test_a_residual_beyond_the_coders_range_is_a_clear_error():
    values = np.array([[(1 << MAX_ESCAPE_BITS) + 10**4]])
    with pytest.raises(ValueError, match="exceeds the coder's range"):
        _round_trip(values, np.array([[0.2]]))


@pytest.mark.parametrize("value", [float("nan"), 2e9, -2e9])
def test_a_latent_that_is_not_a_number_or_beyond_int32_is_refused_before_coding(value):
    y = torch.full((1, 1, 2, 2), value)
    mask, zeros = torch.ones(2, 2, dtype=torch.bool), torch.zeros(1, 1, 4, dtype=torch.float64)
    with pytest.raises(ValueError, match="exceeds the coder's range"):
        SymbolEncoder(y)(mask, zeros.to(torch.int16), zeros, torch.ones(1, 1, 1, 1, dtype=torch.float64))


@pytest.mark.parametrize("chunk", [1, 7, 1000, 1 << 20])
def test_symbols_are_grouped_in_the_order_of_one_stable_sort_whatever_the_chunk(chunk):
    # The coding order is part of the format (docs/FORMAT.md): sorting in chunks must not move it.
    rows = np.random.default_rng(3).choice(len(TABLES.freqs), size=5003, p=None).astype(np.int16)
    rows[100:900] = 7  # a long run of one row across chunk edges
    order, groups = _groups(rows, chunk)
    assert order.dtype == np.int32
    np.testing.assert_array_equal(order, np.argsort(rows, kind="stable"))
    counts = np.bincount(rows)
    assert [(r, b - a) for r, a, b in groups] == [(r, counts[r]) for r in np.flatnonzero(counts)]


def test_a_wrong_checksum_is_refused():
    y = torch.full((1, 1, 4, 4), 3.0, dtype=torch.float64)
    mask, one = torch.ones(4, 4, dtype=torch.bool), torch.ones(1, 1, 1, 1, dtype=torch.float64)
    encoder = SymbolEncoder(y)
    rows, means = TABLES.rows(torch.ones(1, 1, 16, dtype=torch.float64)), torch.zeros(1, 1, 16, dtype=torch.float64)
    encoder(mask, rows, means, one)
    decoder = SymbolDecoder(encoder.flush(), encoder.finish() ^ 1, "stream y3")
    decoder(mask, rows, means, one)
    with pytest.raises(BitstreamError, match="stream y3 did not decode exactly"):
        decoder.finish()


def test_shipped_tables_are_what_build_tables_makes():
    """The tables are data (so no machine recomputes them differently); this checks that the
    shipped file is the documented construction, on this machine."""
    built = build_tables()
    assert np.array_equal(built["scales"], TABLES.scales)
    assert all(np.array_equal(a, b) for a, b in zip(np.split(built["freqs"], np.cumsum(built["lengths"])[:-1]), TABLES.freqs, strict=True))
    assert all(int(f.astype(np.int64).sum()) == 1 << 24 and f.min() >= 1 for f in TABLES.freqs)
