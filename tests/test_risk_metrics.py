"""Risk metrics against closed forms, table values and hand-computed numbers; fail closed."""

from __future__ import annotations

import math

import numpy as np
import pytest

from aaiti.risk.metrics import (
    InsufficientHistoryError,
    cornish_fisher_var,
    herfindahl,
    historical_var,
    kelly_fraction,
    max_drawdown,
    parametric_var,
    portfolio_volatility,
    sharpe_ratio,
    sortino_ratio,
)

Z95, Z99 = 1.6448536269514722, 2.3263478740408408  # standard normal quantiles (tables)
ES95_STD = 2.0627128075074257  # E[Z | Z > z95] = φ(z95)/0.05 for a standard normal


def test_historical_var_and_cvar_by_hand():
    r = np.arange(-50, 50) / 1000  # -0.050 … 0.049, 100 values
    v = historical_var(r, alpha=0.95)
    # 5 % quantile, linear interpolation: position 99 × 0.05 = 4.95 → -0.046 + 0.95 × 0.001
    assert v.var == pytest.approx(0.04505, abs=1e-12)
    assert v.cvar == pytest.approx(0.048, abs=1e-12)  # mean of -0.050 … -0.046
    assert v.observations == 100


def test_parametric_var_and_es_match_the_normal_tables():
    r = np.array([0.01, -0.01] * 50) + 0.002  # mean 0.002, std known exactly
    mu, sd = 0.002, math.sqrt(sum((x - 0.002) ** 2 for x in r) / 99)
    v95 = parametric_var(r, alpha=0.95)
    assert v95.var == pytest.approx(sd * Z95 - mu, rel=1e-12)
    assert v95.cvar == pytest.approx(sd * ES95_STD - mu, rel=1e-12)
    assert parametric_var(r, alpha=0.99).var == pytest.approx(sd * Z99 - mu, rel=1e-12)


def test_parametric_es_equals_the_integral_of_the_normal_tail():
    from scipy import integrate, stats

    r = np.random.default_rng(1).normal(0.0005, 0.02, 500)
    mu, sd = r.mean(), r.std(ddof=1)
    q = stats.norm.ppf(0.05, mu, sd)
    with np.errstate(under="ignore"):  # the far tail underflows inside quad, harmlessly
        tail, _ = integrate.quad(lambda x: x * stats.norm.pdf(x, mu, sd), -np.inf, q)
    assert parametric_var(r, alpha=0.95).cvar == pytest.approx(-tail / 0.05, rel=1e-8)


def test_cornish_fisher_reduces_to_normal_without_skew_or_kurtosis_and_widens_fat_tails():
    from scipy import stats

    n = 20_000
    symmetric = stats.norm.ppf((np.arange(n) + 0.5) / n) * 0.01  # skew 0, kurtosis ≈ 0
    assert cornish_fisher_var(symmetric, alpha=0.99).var == pytest.approx(
        parametric_var(symmetric, alpha=0.99).var, rel=2e-3
    )
    fat = stats.t.ppf((np.arange(n) + 0.5) / n, df=4) * 0.01  # symmetric, excess kurtosis > 0
    assert cornish_fisher_var(fat, alpha=0.99).var > parametric_var(fat, alpha=0.99).var
    # skew: a left-skewed sample has a larger CF loss than its mirror image
    skewed = -stats.gamma.ppf((np.arange(n) + 0.5) / n, a=2) * 0.01
    assert cornish_fisher_var(skewed, alpha=0.95).var > cornish_fisher_var(-skewed, alpha=0.95).var


def test_sharpe_and_sortino_by_hand():
    r = np.array([0.02, -0.01, 0.015, -0.005] * 10)
    mean = r.mean()
    sd = math.sqrt(sum((x - mean) ** 2 for x in r) / (len(r) - 1))
    assert sharpe_ratio(r, periods_per_year=252) == pytest.approx(
        mean / sd * math.sqrt(252), rel=1e-12
    )
    downside = math.sqrt(sum(min(x, 0) ** 2 for x in r) / len(r))
    assert sortino_ratio(r, periods_per_year=252) == pytest.approx(
        mean / downside * math.sqrt(252), rel=1e-12
    )


def test_max_drawdown_names_peak_trough_recovery_and_duration():
    dd = max_drawdown([100, 120, 90, 95, 130, 80, 85])
    assert dd.depth == pytest.approx(80 / 130 - 1)
    assert (dd.peak, dd.trough, dd.recovery, dd.duration) == (4, 5, None, 2)
    healed = max_drawdown([100, 80, 90, 100, 105])
    assert healed.depth == pytest.approx(-0.2)
    assert (healed.peak, healed.trough, healed.recovery, healed.duration) == (0, 1, 3, 3)


def test_kelly_fraction_closed_form():
    assert kelly_fraction(p_win=0.6, payoff_ratio=1.0) == pytest.approx(0.2)
    assert kelly_fraction(p_win=0.55, payoff_ratio=2.0) == pytest.approx(0.55 - 0.45 / 2)
    assert kelly_fraction(p_win=0.6, payoff_ratio=1.0, fraction=0.5) == pytest.approx(0.1)
    assert kelly_fraction(p_win=0.9, payoff_ratio=3.0, cap=0.25) == 0.25
    assert kelly_fraction(p_win=0.4, payoff_ratio=1.0) == 0.0  # no edge, no bet


def test_portfolio_volatility_matches_the_two_asset_formula():
    rng = np.random.default_rng(3)
    m = rng.normal(0, 0.01, (400, 2))
    s1, s2 = m[:, 0].std(ddof=1), m[:, 1].std(ddof=1)
    rho = np.corrcoef(m, rowvar=False)[0, 1]
    expected = math.sqrt((0.25 * s1**2 + 0.25 * s2**2 + 0.5 * rho * s1 * s2) * 365)
    assert portfolio_volatility([0.5, 0.5], m, periods_per_year=365) == pytest.approx(
        expected, rel=1e-12
    )


def test_concentration():
    assert herfindahl([1, 1]) == pytest.approx(0.5)
    assert herfindahl([5, 0, 0]) == 1.0
    assert herfindahl([-1, 1, 1, 1]) == pytest.approx(0.25)


@pytest.mark.parametrize("fn", [historical_var, parametric_var, cornish_fisher_var])
def test_too_little_history_fails_closed(fn):
    with pytest.raises(InsufficientHistoryError, match="at least 30 needed"):
        fn(np.zeros(29), alpha=0.95)
    with pytest.raises(InsufficientHistoryError):
        sharpe_ratio(np.ones(5), periods_per_year=252)
    with pytest.raises(ValueError, match="NaN"):
        fn(np.array([0.01] * 40 + [np.nan]), alpha=0.95)


def test_the_risk_core_runs_without_a_warehouse():
    """compute_risk's pure core: a flat book's VaR is 0 with the reason; a held symbol with
    no returns makes every VaR unknown, never a partial figure; short records say so."""
    from datetime import UTC, datetime

    import numpy as np
    import pandas as pd

    from aaiti.risk.job import RiskInputs, risk_rows

    ts = pd.date_range("2025-01-01", periods=300, freq="4h", tz="UTC")
    rng = np.random.default_rng(3)
    returns = pd.DataFrame(
        {"ts": list(ts) * 2, "instrument": ["BTC/USD"] * 300 + ["ETH/USD"] * 300,
         "r": rng.normal(0, 0.01, 600)}
    )  # fmt: skip
    equity = pd.DataFrame({"ts": ts[:3], "equity": [100.0, 101.0, 99.0]})

    def rows(positions):
        out = risk_rows(RiskInputs(returns, positions, equity, 99.0), account="a",
                        now=datetime.now(UTC), bars_per_year=2191.5, min_obs=30)  # fmt: skip
        return {r["metric"]: r for r in out}

    flat = rows({})
    assert (
        flat["var_95_historical"]["value"] == 0.0
        and "no open position" in (flat["var_95_historical"]["detail"])
    )
    assert flat["concentration_hhi"]["status"] == "no_exposure"
    assert flat["sharpe"]["status"] == "insufficient_history"  # two returns of its own
    held = rows({"BTC/USD": 50.0})
    assert held["var_99_cornish_fisher"]["status"] == "ok" and held["gross_exposure"]["value"] == (
        pytest.approx(50 / 99)
    )
    unpriced = rows({"BTC/USD": 50.0, "SOL/USD": 10.0})
    assert {unpriced[f"var_95_{k}"]["status"] for k in ("historical", "parametric")} == {
        "insufficient_history"
    }
    assert "SOL/USD" in unpriced["cvar_99_historical"]["detail"]


def test_one_sharpe_definition_behind_every_figure():
    """Backtest, strategy evaluation and the training diagnostic all report the Sharpe of
    per-bar simple returns of their equity, checked against a by-hand computation."""
    from aaiti.market.timeframes import bars_per_year
    from aaiti.ml.evaluate import long_flat_equity
    from aaiti.strategy.evaluate import performance
    from aaiti.trading.backtest import metrics_of

    rng = np.random.default_rng(7)
    log_r = rng.normal(0.0005, 0.01, 300)
    proba = rng.uniform(0, 1, 300)
    held = (proba > 0.5).astype(float)
    equity = np.exp(np.cumsum(np.concatenate([[0.0], held[:-1] * log_r[:-1]])))

    def by_hand(e):
        r = [e[i] / e[i - 1] - 1 for i in range(1, len(e))]
        mean = sum(r) / len(r)
        sd = math.sqrt(sum((x - mean) ** 2 for x in r) / (len(r) - 1))
        return mean / sd * math.sqrt(bars_per_year("1h"))

    expected = by_hand(equity)
    assert metrics_of(equity, held, np.array([]), timeframe="1h").sharpe == pytest.approx(
        expected, rel=1e-10
    )
    perf = performance(equity, held=held, trades=0, traded=0.0, per_year=bars_per_year("1h"))
    assert perf.sharpe == pytest.approx(expected, rel=1e-10)
    diag = long_flat_equity(proba[:-1], log_r[:-1], timeframe="1h")
    assert diag.sharpe == pytest.approx(expected, rel=1e-10)


def test_an_undefined_sharpe_is_nan_and_ranks_last_never_a_number():
    from aaiti.risk.metrics import annualised_sharpe, sharpe_columns, undefined_last

    assert math.isnan(annualised_sharpe(np.zeros(50), periods_per_year=365))
    assert math.isnan(annualised_sharpe(np.array([0.01]), periods_per_year=365))
    cols = np.column_stack([np.zeros(40), np.tile([0.01, -0.005], 20)])
    s = sharpe_columns(cols)
    assert math.isnan(s[0]) and s[1] > 0
    assert int(np.argmax(undefined_last(s))) == 1
    assert int(np.argmax(undefined_last(np.array([np.nan, -3.0])))) == 1
