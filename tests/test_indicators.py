"""Every indicator against independent references on the bundled real candles (1e-9 rel).

References: the ``ta`` package (a test-only dependency) where its conventions are the
textbook ones, and plain loop implementations written here from the textbook definitions.
EMA-type values from ``ta`` are seeded differently (from the first value instead of an SMA
of the first n); that difference decays geometrically, so those are compared after a
burn-in of 400 bars where it is far below 1e-9.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd
import pytest

from aaiti.features import LOOKBACK_BARS, RecursiveState, compute_features
from tests.conftest import sample_frame

REL = 1e-9
BURN_IN = 400


@pytest.fixture(scope="module", params=["BTC-USD", "ETH-USD"])
def candles(request) -> pd.DataFrame:
    return sample_frame("coinbase", request.param, "4h").reset_index(drop=True)


@pytest.fixture(scope="module")
def features(candles) -> pd.DataFrame:
    return compute_features(candles)


def _close(ours, ref, *, start=0):
    ours, ref = np.asarray(ours, dtype=float)[start:], np.asarray(ref, dtype=float)[start:]
    assert np.array_equal(np.isnan(ours), np.isnan(ref)), "warm-up (NaN) pattern differs"
    ok = ~np.isnan(ref)
    np.testing.assert_allclose(ours[ok], ref[ok], rtol=REL, atol=1e-12)


# ---------------------------------------------------------------- textbook references
def ema_textbook(x, n):
    out, alpha = [math.nan] * len(x), 2 / (n + 1)
    first = next(i for i, v in enumerate(x) if not math.isnan(v))
    if first + n > len(x):
        return out
    out[first + n - 1] = sum(x[first : first + n]) / n
    for i in range(first + n, len(x)):
        out[i] = alpha * x[i] + (1 - alpha) * out[i - 1]
    return out


def wilder_textbook(x, n, first):
    out = [math.nan] * len(x)
    out[first + n - 1] = sum(x[first : first + n]) / n
    for i in range(first + n, len(x)):
        out[i] = (out[i - 1] * (n - 1) + x[i]) / n
    return out


def test_rsi_matches_wilder_by_hand_and_ta(candles, features):
    from ta.momentum import RSIIndicator

    c = candles["close"].tolist()
    gains = [math.nan] + [max(c[i] - c[i - 1], 0.0) for i in range(1, len(c))]
    losses = [math.nan] + [max(c[i - 1] - c[i], 0.0) for i in range(1, len(c))]
    g, lo = wilder_textbook(gains, 14, 1), wilder_textbook(losses, 14, 1)
    ref = [
        math.nan if math.isnan(a) else (100.0 if b == 0 else 100 - 100 / (1 + a / b))
        for a, b in zip(g, lo, strict=True)
    ]
    _close(features["rsi_14"], ref)
    assert features["rsi_14"].iloc[:14].isna().all() and features["rsi_14"].iloc[14:].notna().all()
    _close(features["rsi_14"], RSIIndicator(candles["close"], window=14).rsi(), start=BURN_IN)


def test_macd_matches_by_hand_and_ta(candles, features):
    from ta.trend import MACD

    c = candles["close"].tolist()
    fast, slow = ema_textbook(c, 12), ema_textbook(c, 26)
    macd = [a - b for a, b in zip(fast, slow, strict=True)]
    signal = ema_textbook(macd, 9)
    _close(features["macd"], macd)
    _close(features["macd_signal"], signal)
    _close(features["macd_hist"], [a - b for a, b in zip(macd, signal, strict=True)])
    assert features["macd_signal"].first_valid_index() == 25 + 8
    ref = MACD(candles["close"], window_slow=26, window_fast=12, window_sign=9)
    _close(features["macd"], ref.macd(), start=BURN_IN)
    _close(features["macd_signal"], ref.macd_signal(), start=BURN_IN)
    _close(features["macd_hist"], ref.macd_diff(), start=BURN_IN)


def test_atr_matches_ta_exactly_from_the_first_value(candles, features):
    from ta.volatility import AverageTrueRange

    ref = AverageTrueRange(
        candles["high"], candles["low"], candles["close"], window=14
    ).average_true_range()
    ref = ref.where(ref.index >= 13)  # ta writes 0.0 during the warm-up; ours is NaN
    _close(features["atr_14"], ref)


def window_mean(x, n):
    """Exactly rounded mean of each window (math.fsum), NaN during the warm-up."""
    return [math.nan if i < n - 1 else math.fsum(x[i - n + 1 : i + 1]) / n for i in range(len(x))]


def window_std(x, n, ddof):
    out = []
    for i in range(len(x)):
        if i < n - 1 or any(math.isnan(v) for v in x[i - n + 1 : i + 1]):
            out.append(math.nan)
            continue
        w = x[i - n + 1 : i + 1]
        m = math.fsum(w) / n
        out.append(math.sqrt(math.fsum((v - m) ** 2 for v in w) / (n - ddof)))
    return out


def test_bollinger_matches_the_textbook_and_ta(candles, features):
    from ta.volatility import BollingerBands

    c = candles["close"].tolist()
    mid, sd = window_mean(c, 20), window_std(c, 20, 0)
    pct_b = [
        (x - (m - 2 * s)) / (4 * s) if s else math.nan for x, m, s in zip(c, mid, sd, strict=True)
    ]
    width = [4 * s / m for m, s in zip(mid, sd, strict=True)]
    _close(features["bb_pct_b"], pct_b)
    _close(features["bb_bandwidth"], width)
    # ta (pandas' online rolling variance) drifts ~1e-8 relative on this price range
    bb = BollingerBands(candles["close"], window=20, window_dev=2)
    np.testing.assert_allclose(features["bb_pct_b"], bb.bollinger_pband(), rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(features["bb_bandwidth"], bb.bollinger_wband() / 100, rtol=1e-6)


def test_windowed_features_match_the_textbook(candles, features):
    c, v = candles["close"].tolist(), candles["volume"].tolist()
    _close(features["dist_sma_50"], [x / m - 1 for x, m in zip(c, window_mean(c, 50), strict=True)])
    _close(
        features["dist_sma_200"], [x / m - 1 for x, m in zip(c, window_mean(c, 200), strict=True)]
    )
    vm, vs = window_mean(v, 20), window_std(v, 20, 1)
    _close(
        features["volume_z_20"],
        [(x - m) / s if s else math.nan for x, m, s in zip(v, vm, vs, strict=True)],
    )
    log_ret = [math.nan] + [math.log(c[i] / c[i - 1]) for i in range(1, len(c))]
    _close(features["log_ret_1"], log_ret)
    _close(features["realized_vol_20"], window_std(log_ret, 20, 1))
    for k in (1, 4, 24):
        _close(
            features[f"ret_{k}"], [math.nan] * k + [c[i] / c[i - k] - 1 for i in range(k, len(c))]
        )


def test_calendar_features(candles, features):
    ts = candles["ts"]
    assert (features["hour_of_day"].to_numpy() == ts.dt.hour.to_numpy()).all()
    assert (features["day_of_week"].to_numpy() == ts.dt.dayofweek.to_numpy() + 1).all()


def test_a_feature_at_t_never_changes_when_the_future_changes(candles, features):
    cut = 10_000
    future = candles.copy()
    future.loc[cut + 1 :, ["open", "high", "low", "close"]] *= 1.37
    future.loc[cut + 1 :, "volume"] = 0.0
    changed = compute_features(future)
    pd.testing.assert_frame_equal(
        changed.iloc[: cut + 1], features.iloc[: cut + 1], check_exact=True
    )
    truncated = compute_features(candles.iloc[: cut + 1])
    pd.testing.assert_frame_equal(truncated, features.iloc[: cut + 1], check_exact=True)


@pytest.mark.parametrize("cut", [300, 5_000, 17_001])
def test_continuing_from_state_is_bit_identical(candles, features, cut):
    head = compute_features(candles.iloc[:cut])
    state = RecursiveState.from_row(head.iloc[-1])
    tail = compute_features(
        candles.iloc[cut - LOOKBACK_BARS :], state=state, lookback=LOOKBACK_BARS
    )
    pd.testing.assert_frame_equal(
        tail, features.iloc[cut:].reset_index(drop=True), check_exact=True
    )


def test_rsi_stays_in_range_and_warmups_are_null(features):
    rsi = features["rsi_14"].dropna()
    assert ((rsi >= 0) & (rsi <= 100)).all()
    with warnings.catch_warnings():
        assert features["dist_sma_200"].iloc[:199].isna().all()
        assert features["dist_sma_200"].iloc[199:].notna().all()
