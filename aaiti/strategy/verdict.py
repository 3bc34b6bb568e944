"""Does the strategy beat what the user could hold instead? Bootstrap tests, no I/O.

Two tests on the same out-of-sample bars, both respecting autocorrelation and fat tails:

* **Sharpe difference** (Ledoit & Wolf, 2008): H0 SR_strategy ≤ SR_benchmark. The
  difference's standard error comes from the delta method on the moments
  (x, y, x², y²) with a batch-means long-run covariance; its p-value from a studentized
  stationary bootstrap (``arch.bootstrap``), block length by Politis–White.
* **Data snooping across candidates** (Hansen's SPA, 2005): H0 no candidate tried beats
  the benchmark. The candidates' returns are first scaled to the benchmark's volatility
  (equal risk), so the test compares what a Sharpe ratio compares; ``arch``'s SPA gives
  the consistent p-value.

A strategy whose returns *are* the benchmark's has no difference to find: p = 1.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

BENCHMARKS = ("buy_and_hold", "flat")
#: a standard error below this (per-bar Sharpe units; real ones are ~1e-4 and above) is
#: rounding: the strategy's returns are the benchmark's, or a multiple of them
_NO_DIFFERENCE = 1e-10


@dataclass(frozen=True)
class SharpeDifference:
    """The strategy's per-bar Sharpe minus the benchmark's, and the one-sided p-value."""

    difference: float  # per bar (× √bars per year to annualise)
    statistic: float  # difference / its standard error
    p_value: float
    block: float  # mean block length of the stationary bootstrap (and the batch), bars
    reps: int


@dataclass(frozen=True)
class Versus:
    """The verdict's comparison with the benchmark (``flat`` or ``buy_and_hold``)."""

    benchmark: str
    sharpe_test: SharpeDifference
    spa_p_value: float  # Hansen's consistent p-value over every candidate tried
    candidates: int

    def as_dict(self) -> dict:
        t = self.sharpe_test
        return {
            "benchmark": self.benchmark,
            "sharpe_difference_per_bar": t.difference,
            "sharpe_difference_statistic": t.statistic,
            "sharpe_difference_p_value": t.p_value,
            "spa_p_value": self.spa_p_value,
            "candidates": self.candidates,
            "bootstrap": f"stationary, mean block {t.block:.1f} bars, {t.reps} draws",
        }


def block_length(*series: np.ndarray) -> float:
    """Politis–White's automatic mean block length, the largest over the series (≥ 1)."""
    from arch.bootstrap import optimal_block_length

    with np.errstate(under="ignore"):  # arch's kernels underflow harmlessly
        lengths = [
            float(optimal_block_length(np.asarray(s, float))["stationary"].iloc[0])
            for s in series
            if np.std(s) > 0
        ]
    return max([1.0, *[x for x in lengths if math.isfinite(x)]])


def _difference_and_se(z: np.ndarray, *, batch: int) -> tuple[float, float]:
    """Sharpe(x) − Sharpe(y) and its delta-method standard error; z is T × 4 (x, y, x², y²),
    or T × 2 (x, x²) against a flat benchmark."""
    t = len(z)
    mu = z.mean(axis=0)
    pairs = [(mu[0], mu[1])] if z.shape[1] == 2 else [(mu[0], mu[2]), (mu[1], mu[3])]
    sharpe, grad_m, grad_g = [], [], []
    for m1, m2 in pairs:
        var = m2 - m1 * m1
        if var <= 0:
            return math.nan, math.nan
        sharpe.append(m1 / math.sqrt(var))
        grad_m.append(m2 / var**1.5)
        grad_g.append(-0.5 * m1 / var**1.5)
    if z.shape[1] == 2:
        diff, grad = sharpe[0], np.array([grad_m[0], grad_g[0]])
    else:
        diff = sharpe[0] - sharpe[1]
        grad = np.array([grad_m[0], -grad_m[1], grad_g[0], -grad_g[1]])
    k = max(t // batch, 1)
    blocks = (z[: k * batch] - mu).reshape(k, batch, z.shape[1]).sum(axis=1) / math.sqrt(batch)
    psi = blocks.T @ blocks / k
    var_diff = float(grad @ psi @ grad) / t
    return diff, math.sqrt(var_diff) if var_diff > 0 else 0.0


def sharpe_difference(
    strategy: np.ndarray,
    benchmark: np.ndarray | None,
    *,
    reps: int = 1000,
    seed: int = 0,
) -> SharpeDifference:
    """Ledoit–Wolf's test of H0 SR(strategy) ≤ SR(benchmark) (``None``: a flat benchmark,
    Sharpe 0). Returns on the same bars, per bar, net of costs."""
    from arch.bootstrap import StationaryBootstrap

    x = np.asarray(strategy, float)
    cols = [x] if benchmark is None else [x, np.asarray(benchmark, float)]
    if len(x) < 10 or any(len(c) != len(x) for c in cols):
        raise ValueError(f"the Sharpe difference needs ≥ 10 paired returns, got {len(x)}")
    z = np.column_stack([*cols, *(c * c for c in cols)])
    block = block_length(*z.T)  # the squares too: a Sharpe ratio leans on the variance
    batch = max(round(block), 1)
    diff, se = _difference_and_se(z, batch=batch)
    if not math.isfinite(diff) or not math.isfinite(se) or se < _NO_DIFFERENCE:
        # no variance, or the same returns as the benchmark: nothing shows a difference
        return SharpeDifference(0.0 if math.isnan(diff) else float(diff), 0.0, 1.0, float(batch), 0)
    observed = diff / se
    beyond = 0
    bs = StationaryBootstrap(batch, z, seed=seed)
    for data, _ in bs.bootstrap(reps):
        d, s = _difference_and_se(data[0], batch=batch)
        if math.isfinite(d) and s > 0 and (d - diff) / s >= observed:
            beyond += 1
    return SharpeDifference(
        float(diff), float(observed), (1 + beyond) / (1 + reps), float(batch), reps
    )


def spa_p_value(
    candidates: np.ndarray, benchmark: np.ndarray | None, *, reps: int = 1000, seed: int = 0
) -> float:
    """Hansen's consistent SPA p-value: H0 no candidate (a column of ``candidates``, per-bar
    returns) beats the benchmark at equal volatility."""
    from arch.bootstrap import SPA

    x = np.asarray(candidates, float)
    x = x[:, None] if x.ndim == 1 else x
    bench = np.zeros(len(x)) if benchmark is None else np.asarray(benchmark, float)
    target = np.std(bench, ddof=1) if benchmark is not None else 1.0
    sd = x.std(axis=0, ddof=1)
    usable = sd > 0
    if target <= 0 or not usable.any():
        return 1.0
    scaled = x[:, usable] * (target / sd[usable])
    # a candidate that is the benchmark (at equal risk) has nothing to test: arch's SPA
    # would divide zero by zero; without any other candidate, nothing beats it
    differs = (scaled - bench[:, None]).std(axis=0) > _NO_DIFFERENCE * target
    if not differs.any():
        return 1.0
    scaled = scaled[:, differs]
    block = block_length(bench, bench * bench)
    spa = SPA(-bench, -scaled, block_size=max(round(block), 1), reps=reps,
              bootstrap="stationary", seed=seed)  # fmt: skip
    with np.errstate(under="ignore"):  # (1 − p)^i of its variance kernel underflows
        spa.compute()
    return float(spa.pvalues["consistent"])


def versus(
    strategy: np.ndarray,
    benchmark: np.ndarray | None,
    *,
    name: str,
    candidates: np.ndarray | None = None,
    reps: int = 1000,
    seed: int = 0,
) -> Versus:
    """Both tests against ``benchmark``; ``candidates`` (T × K) every configuration tried,
    the chosen one included (default: the strategy alone)."""
    cands = np.asarray(strategy, float)[:, None] if candidates is None else candidates
    return Versus(
        name,
        sharpe_difference(strategy, benchmark, reps=reps, seed=seed),
        spa_p_value(cands, benchmark, reps=reps, seed=seed),
        int(cands.shape[1]),
    )
