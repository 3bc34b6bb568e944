"""The drift detector at its default settings, on the bundled real candles.

Same regime: in each calendar year, the year's last 30 days (180 4h bars per stream) against
the rest of that year must not trigger. Injected shifts — volatility ×3, a mean shift of
half a standard deviation per bar — applied to those same 30 days must trigger. Measured
over 2017–2025 (README, Monitoring): no false alarm in 9 years, the mean shift caught in
9/9, volatility ×3 in 7/9. The two misses are left out of the ×3 check and asserted for what
they are: 2022 ended unusually calm, so tripling its volatility made it look like the rest
of the year (what a drift detector should say); 2019 is a near miss, 8 of 17 features.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from aaiti.config import Settings
from aaiti.features import compute_features
from aaiti.ml.dataset import BASE_FEATURES, model_inputs
from aaiti.monitoring.drift import data_drift
from tests.conftest import sample_frame

pytestmark = pytest.mark.integration

CURRENT = 180
WARMUP = 300
YEARS = range(2017, 2026)
CALM_YEAR_END = 2022  # its last month's realised vol was far below the year's
NEAR_MISS = 2019  # volatility ×3 moved 8 of 17 features; the share needs 9


def features(candles: pd.DataFrame) -> pd.DataFrame:
    f = compute_features(candles.reset_index(drop=True))
    f["close"], f["symbol"] = candles["close"].to_numpy(), "x"
    return model_inputs(f, streams=[])


def inject(candles: pd.DataFrame, start: int, *, vol: float = 1.0, mean_sd: float = 0.0):
    """Rebuild prices from log returns scaled by ``vol`` (and shifted by ``mean_sd`` standard
    deviations of the returns before ``start``) from ``start`` on; bar ranges scale too."""
    c = candles.reset_index(drop=True).copy()
    lr = np.log(c["close"]).diff().fillna(0.0).to_numpy()
    sd, m = lr[:start].std(), lr[start:].mean()
    lr[start:] = m + (lr[start:] - m) * vol + mean_sd * sd
    close = c["close"].iloc[0] * np.exp(np.cumsum(lr))
    for k in ("open", "high", "low"):
        c[k] = close * (1 + (c[k] / c["close"] - 1) * vol)
    c["close"] = close
    return c


@pytest.fixture(scope="module")
def windows() -> dict[int, dict[str, pd.DataFrame]]:
    """Per year: reference, same-regime current, and the two shifted currents (both streams)."""
    out = {}
    frames = {
        p: sample_frame("coinbase", p, "4h").sort_values("ts") for p in ("BTC-USD", "ETH-USD")
    }
    for year in YEARS:
        parts: dict[str, list] = {"reference": [], "same": [], "vol3": [], "mean": []}
        for frame in frames.values():
            frame = frame.reset_index(drop=True)
            idx = frame.index[frame["ts"].dt.year == year]
            sub = frame.iloc[idx[0] - WARMUP : idx[-1] + 1]
            start = len(sub) - CURRENT
            f = features(sub).iloc[WARMUP:]
            parts["reference"].append(f.iloc[: len(f) - CURRENT])
            parts["same"].append(f.iloc[len(f) - CURRENT :])
            parts["vol3"].append(features(inject(sub, start, vol=3)).iloc[-CURRENT:])
            parts["mean"].append(features(inject(sub, start, mean_sd=0.5)).iloc[-CURRENT:])
        out[year] = {k: pd.concat(v, ignore_index=True) for k, v in parts.items()}
    return out


def drifted(reference, current):
    d = Settings()  # the defaults under test
    return data_drift(
        reference,
        current,
        columns=list(BASE_FEATURES),
        method=d.monitor_drift_method,
        threshold=d.monitor_drift_threshold,
        drift_share=d.monitor_drift_share,
    )


def test_windows_of_the_same_regime_do_not_trigger(windows):
    shares = {y: drifted(w["reference"], w["same"]).drifted_share for y, w in windows.items()}
    assert all(share < Settings().monitor_drift_share for share in shares.values()), shares


def test_a_mean_shift_triggers_every_year(windows):
    results = {y: drifted(w["reference"], w["mean"]) for y, w in windows.items()}
    assert all(r.dataset_drift for r in results.values()), {
        y: r.drifted_share for y, r in results.items()
    }


def test_volatility_times_three_triggers(windows):
    years = [y for y in windows if y not in (CALM_YEAR_END, NEAR_MISS)]
    results = {y: drifted(windows[y]["reference"], windows[y]["vol3"]) for y in years}
    assert all(r.dataset_drift for r in results.values()), {
        y: r.drifted_share for y, r in results.items()
    }
    calm = windows[CALM_YEAR_END]  # the years left out are what they are said to be
    ratio = calm["same"]["realized_vol_20"].median() / calm["reference"]["realized_vol_20"].median()
    assert ratio < 0.6, ratio
    near = drifted(windows[NEAR_MISS]["reference"], windows[NEAR_MISS]["vol3"])
    assert sum(c.drifted for c in near.features) == 8 and not near.dataset_drift
    for r in results.values():  # and it is the volatility features that moved
        by = {c.column: c for c in r.features}
        assert by["realized_vol_20"].drifted and by["atr_rel"].drifted
        assert not by["hour_of_day"].drifted


def test_evidently_scores_agree_with_scipy(windows):
    """Evidently's normed Wasserstein = scipy's distance / the reference's std."""
    from scipy.stats import wasserstein_distance

    w = windows[2024]
    r = drifted(w["reference"], w["vol3"])
    for c in r.features:
        ref, cur = w["reference"][c.column].dropna(), w["vol3"][c.column].dropna()
        expected = wasserstein_distance(ref, cur) / np.std(ref)
        assert c.score == pytest.approx(expected, rel=1e-6, abs=1e-9), c.column
