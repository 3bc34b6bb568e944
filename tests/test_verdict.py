"""The verdict against what the user could hold instead (aaiti.strategy.verdict).

The tests of skill are checked three ways: against a closed form (the standard error of a
Sharpe difference for i.i.d. normal returns), on nulls that must not pass (the benchmark
itself, random re-timings of a real position series on real candles, equal-Sharpe
streams), and on a planted edge that must."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from aaiti.risk import metrics as m
from aaiti.strategy.evaluate import VerdictRules, qualify
from aaiti.strategy.verdict import _difference_and_se, sharpe_difference, spa_p_value, versus
from tests.conftest import sample_frame

COST = 0.0015  # 10 bps fee + 5 bps slippage, per unit of position changed


def _verdict(strategy: np.ndarray, bench: np.ndarray | None, *, rules: VerdictRules):
    """The same three checks ``evaluate`` runs, on per-bar portfolio returns."""
    vs = versus(strategy, bench, name=rules.benchmark, reps=rules.reps, seed=rules.seed)
    dsr = m.deflated_sharpe(strategy, trials=1, sharpe_variance=1 / len(strategy), min_obs=30)
    sharpe = float(np.mean(strategy) / np.std(strategy, ddof=1))
    theirs = None if bench is None else float(np.mean(bench) / np.std(bench, ddof=1))
    return qualify(sharpe=sharpe, dsr=dsr, vs=vs, rules=rules, benchmark_sharpe=theirs)


def _net(position: np.ndarray, returns: np.ndarray) -> np.ndarray:
    """Per-bar net returns of a position held from one bar's close to the next's."""
    change = np.abs(np.diff(np.concatenate([[0.0], position])))
    return position * returns - change * COST


def test_the_standard_error_matches_the_iid_normal_closed_form():
    """Jobson–Korkie as corrected by Memmel (2003): for i.i.d. normal returns,
    T·Var(SR_a − SR_b) = 2 − 2ρ + ½(SR_a² + SR_b² − 2·SR_a·SR_b·ρ²)."""
    rng = np.random.default_rng(3)
    t, rho = 400_000, 0.6
    b = rng.standard_normal(t)
    a = rho * b + math.sqrt(1 - rho**2) * rng.standard_normal(t)
    a, b = 0.01 * a + 0.002, 0.01 * b + 0.0005
    z = np.column_stack([a, b, a * a, b * b])
    diff, se = _difference_and_se(z, batch=1)
    sa, sb = 0.2, 0.05
    expected = math.sqrt((2 - 2 * rho + 0.5 * (sa**2 + sb**2 - 2 * sa * sb * rho**2)) / t)
    assert diff == pytest.approx(sa - sb, abs=4 * expected)
    assert se == pytest.approx(expected, rel=0.03)


def test_a_strategy_that_is_the_benchmark_never_qualifies():
    """Real returns held as they are, or at a fraction of the size: same Sharpe, p = 1."""
    bh = sample_frame("coinbase", "ETH-USD", "1d")["close"].pct_change().dropna().to_numpy()
    rules = VerdictRules(reps=200)
    for strategy in (bh, 0.5 * bh):
        test = sharpe_difference(strategy, bh, reps=200)
        assert test.p_value == 1.0
        q = _verdict(strategy, bh, rules=rules)
        assert not q.qualified and "does not beat buy-and-hold" in q.reason
    assert spa_p_value(bh[:, None], bh, reps=200) > 0.05


def test_equal_sharpe_streams_are_rejected_at_about_the_stated_rate():
    """The null holds exactly (same Sharpe, correlated, autocorrelated; 4,000 bars, about
    the out-of-sample length of two years of 4h bars): the test's
    rejections at 0.05 stay near 5 % over 100 seeded pairs."""
    rejected = 0
    for seed in range(100):
        rng = np.random.default_rng([7, seed])
        shocks = rng.standard_normal((2, 4000))
        b = np.convolve(shocks[0], [1, 0.3], "same")
        a = 0.5 * b + math.sqrt(0.75) * np.convolve(shocks[1], [1, 0.3], "same")
        test = sharpe_difference(0.02 * a + 0.001, 0.02 * b + 0.001, reps=200, seed=seed)
        rejected += test.p_value <= 0.05
    assert rejected <= 10


def test_random_retimings_of_a_real_position_series_almost_never_qualify():
    """A trend rule's positions on real ETH/USD daily candles, moved in time by random
    circular offsets: the same exposure, trades and holding lengths, the timing destroyed.
    Against buy-and-hold (the default), at most 5 % of 200 seeded draws may qualify."""
    close = sample_frame("coinbase", "ETH-USD", "1d")["close"].to_numpy(float)
    returns = close[1:] / close[:-1] - 1
    sma = pd.Series(close).rolling(50).mean().to_numpy()
    position = np.where(close > sma, 1.0, 0.0)[:-1]  # decided at a close, held over the next bar
    position[:50] = 0.0
    rng = np.random.default_rng(2026)
    qualified = 0
    for draw in range(200):
        shifted = np.roll(position, int(rng.integers(30, len(position) - 30)))
        rules = VerdictRules(reps=100, seed=draw)
        qualified += _verdict(_net(shifted, returns), returns, rules=rules).qualified
    assert shifted.mean() == pytest.approx(position.mean())  # same exposure
    assert qualified <= 10


def test_a_planted_edge_qualifies_against_buy_and_hold_and_against_flat():
    """AR(1) returns: yesterday's sign predicts today's. Trading it beats holding."""
    rng = np.random.default_rng(11)
    eps = rng.standard_normal(3000) * 0.015
    r = np.empty_like(eps)
    r[0] = eps[0]
    for i in range(1, len(r)):
        r[i] = 0.3 * r[i - 1] + eps[i]
    position = np.concatenate([[0.0], np.sign(r[:-1])])  # known at the previous close
    strategy = _net(position, r)
    for rules, bench in (
        (VerdictRules(reps=300), r),
        (VerdictRules(benchmark="flat", reps=300), None),
    ):
        q = _verdict(strategy, bench, rules=rules)
        assert q.qualified, q.reason


def test_spa_counts_the_search_a_lucky_candidate_among_many_nulls_does_not_pass():
    """Twenty zero-edge re-timings and the benchmark: the best of them alone may look good,
    SPA over all of them does not."""
    rng = np.random.default_rng(5)
    bench = rng.standard_normal(2000) * 0.02 + 0.0004
    cands = np.column_stack(
        [bench * (rng.random(2000) < 0.5) - 0.0001 for _ in range(20)]
    )  # random half exposure, a cost
    assert spa_p_value(cands, bench, reps=300, seed=1) > 0.05
    edge = np.abs(bench) * 0.8  # perfect foresight of the sign: a real edge
    assert spa_p_value(np.column_stack([cands, edge]), bench, reps=300, seed=1) <= 0.05


def test_bad_rules_are_refused():
    with pytest.raises(ValueError, match="benchmark 'hold'"):
        VerdictRules(benchmark="hold")
    with pytest.raises(ValueError, match="≥ 10 paired returns"):
        sharpe_difference(np.ones(5), np.ones(5))
