"""Synthetic candles: labelled, deterministic, valid, and with the stylised facts they claim."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from aaiti.market import Stream, open_source, split_valid
from aaiti.market.synthetic import GarchT, generate

START = datetime(2025, 1, 1, tzinfo=UTC)

NOW = datetime.now(UTC)  # the tests' clock: "in the future" is after it


def test_stream_is_always_labelled_synthetic(settings):
    src = open_source(settings, source="synthetic")
    stream = src.validate_stream("BTC/USD", "1h")
    assert stream.exchange == "synthetic"
    page = next(src.fetch(stream, since=START, until=datetime(2025, 1, 8, tzinfo=UTC)))
    assert set(page["exchange"]) == {"synthetic"}
    assert len(page) == 7 * 24


def test_same_seed_same_candles_and_candles_are_valid(settings):
    src = open_source(settings, source="synthetic")
    stream = src.validate_stream("ETH/USD", "5m")
    until = datetime(2025, 1, 3, tzinfo=UTC)
    a = next(src.fetch(stream, since=START, until=until))
    b = next(src.fetch(stream, since=datetime(2025, 1, 2, tzinfo=UTC), until=until))
    pd.testing.assert_frame_equal(a.iloc[288:].reset_index(drop=True), b)  # a slice of one path
    checked = split_valid(a, stream=Stream("synthetic", "ETH/USD", "5m"), now=NOW)
    assert checked.rejected.empty and len(checked.valid) == len(a)


def test_fat_tails_and_volatility_clustering_are_really_there():
    params = GarchT(mu=0.0, omega=2e-6, alpha=0.1, beta=0.88, nu=4.0, timeframe="1h")
    table = generate(params, symbols=["X/USD"], start=START, bars=100_000, seed=1)
    r = np.diff(np.log(table.column("close").to_numpy()))
    assert stats.kurtosis(r) > 3  # excess kurtosis: fatter than normal
    a = np.abs(r - r.mean())
    acf1 = np.corrcoef(a[:-1], a[1:])[0, 1]
    shuffled = np.random.default_rng(0).permutation(a)
    assert acf1 > 0.1 > abs(np.corrcoef(shuffled[:-1], shuffled[1:])[0, 1])
    assert np.std(r) == pytest.approx(np.sqrt(params.unconditional_var), rel=0.15)


def test_calibration_on_the_real_sample_is_stationary_and_fat_tailed(settings):
    src = open_source(settings, source="synthetic")
    p = src.params
    assert p.timeframe == "4h"
    assert p.alpha > 0 and p.beta > 0 and p.alpha + p.beta < 1
    assert 2 < p.nu < 10
    one_minute = p.rescaled("1m")
    assert one_minute.unconditional_var * 240 == pytest.approx(p.unconditional_var)
