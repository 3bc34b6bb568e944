"""Risk metrics: pure, keyword-only functions that return named results.

Conventions: ``returns`` are simple per-period returns; VaR and CVaR are reported as
positive *losses* at confidence ``alpha`` (0.95 → the 5 % tail). Every function raises
:class:`InsufficientHistoryError` below ``min_obs`` observations instead of returning a
neutral number: risk code fails closed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from aaiti.errors import StateError

DEFAULT_MIN_OBS = 30


class InsufficientHistoryError(StateError, ValueError):
    """Too little history to judge the risk: callers must block new risk, not assume zero."""


def _clean(returns: ArrayLike, *, min_obs: int, name: str = "returns") -> np.ndarray:
    r = np.asarray(returns, dtype=float)
    if r.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional, got shape {r.shape}")
    if not np.isfinite(r).all():
        raise ValueError(f"{name} contain NaN or infinite values; clean them first")
    if len(r) < min_obs:
        raise InsufficientHistoryError(
            f"{len(r)} observations of {name}; at least {min_obs} needed"
        )
    return r


def _check_alpha(alpha: float) -> None:
    if not 0.5 < alpha < 1:
        raise ValueError(f"alpha must be a confidence level in (0.5, 1), got {alpha}")


@dataclass(frozen=True)
class VaR:
    method: str  # historical | parametric | cornish_fisher
    alpha: float
    var: float  # loss not exceeded with probability alpha (positive = loss)
    cvar: float  # expected loss beyond the VaR (expected shortfall)
    observations: int


def historical_var(
    returns: ArrayLike, *, alpha: float = 0.95, min_obs: int = DEFAULT_MIN_OBS
) -> VaR:
    """Empirical quantile of the returns; CVaR = mean of the returns at or below it."""
    _check_alpha(alpha)
    r = _clean(returns, min_obs=min_obs)
    q = float(np.quantile(r, 1 - alpha))
    tail = r[r <= q]
    return VaR("historical", alpha, -q, float(-tail.mean()), len(r))


def parametric_var(
    returns: ArrayLike, *, alpha: float = 0.95, min_obs: int = DEFAULT_MIN_OBS
) -> VaR:
    """Normal VaR with the mean: σ·z_α − μ; CVaR = σ·φ(z_α)/(1−α) − μ."""
    from scipy.stats import norm

    _check_alpha(alpha)
    r = _clean(returns, min_obs=min_obs)
    mu, sigma = float(r.mean()), float(r.std(ddof=1))
    z = float(norm.ppf(alpha))
    return VaR(
        "parametric", alpha, sigma * z - mu, sigma * float(norm.pdf(z)) / (1 - alpha) - mu, len(r)
    )


def cornish_fisher_var(
    returns: ArrayLike, *, alpha: float = 0.95, min_obs: int = DEFAULT_MIN_OBS
) -> VaR:
    """Normal quantile corrected for sample skewness S and excess kurtosis K:

    z_cf = z + (z²−1)S/6 + (z³−3z)K/24 − (2z³−5z)S²/36, with z the lower-tail quantile.
    CVaR: the parametric tail form evaluated at the corrected quantile (an approximation).
    """
    from scipy.stats import kurtosis, norm, skew

    _check_alpha(alpha)
    r = _clean(returns, min_obs=min_obs)
    mu, sigma = float(r.mean()), float(r.std(ddof=1))
    s, k = float(skew(r, bias=False)), float(kurtosis(r, fisher=True, bias=False))
    z = float(norm.ppf(1 - alpha))
    z_cf = z + (z**2 - 1) * s / 6 + (z**3 - 3 * z) * k / 24 - (2 * z**3 - 5 * z) * s**2 / 36
    var = -(mu + sigma * z_cf)
    cvar = sigma * float(norm.pdf(z_cf)) / (1 - alpha) - mu
    return VaR("cornish_fisher", alpha, var, max(cvar, var), len(r))


def simple_returns(equity: ArrayLike) -> np.ndarray:
    """Per-bar simple returns of an equity curve: one per bar after the first."""
    e = np.asarray(equity, dtype=float)
    return e[1:] / e[:-1] - 1 if len(e) > 1 else np.empty(0)


def annualised_sharpe(returns: ArrayLike, *, periods_per_year: float) -> float:
    """Annualised mean over standard deviation (ddof=1) of per-period simple returns.

    The one definition every figure uses (backtest, training diagnostics, strategy
    evaluation, search, risk). NaN, never a neutral number, when it is undefined: fewer
    than two returns or no variance. Callers that must fail closed use :func:`sharpe_ratio`.
    """
    r = np.asarray(returns, dtype=float)
    sd = float(r.std(ddof=1)) if len(r) > 1 else 0.0
    return float(r.mean() / sd * np.sqrt(periods_per_year)) if sd > 0 else float("nan")


def annualised_sortino(
    returns: ArrayLike, *, periods_per_year: float, target: float = 0.0
) -> float:
    """Annualised mean excess over ``target``, over the downside deviation
    sqrt(mean(min(r−t, 0)²)). NaN when no return falls below the target."""
    r = np.asarray(returns, dtype=float) - target
    downside = float(np.sqrt(np.mean(np.minimum(r, 0.0) ** 2))) if len(r) else 0.0
    return float(r.mean() / downside * np.sqrt(periods_per_year)) if downside > 0 else float("nan")


def sharpe_ratio(
    returns: ArrayLike,
    *,
    periods_per_year: float,
    risk_free: float = 0.0,
    min_obs: int = DEFAULT_MIN_OBS,
) -> float:
    """:func:`annualised_sharpe` of the excess returns, raising where it is undefined."""
    r = _clean(returns, min_obs=min_obs) - risk_free / periods_per_year
    out = annualised_sharpe(r, periods_per_year=periods_per_year)
    if np.isnan(out):
        raise ValueError("returns have zero variance: the Sharpe ratio is undefined")
    return out


def sortino_ratio(
    returns: ArrayLike,
    *,
    periods_per_year: float,
    target: float = 0.0,
    min_obs: int = DEFAULT_MIN_OBS,
) -> float:
    """:func:`annualised_sortino`, raising where it is undefined."""
    r = _clean(returns, min_obs=min_obs)
    out = annualised_sortino(r, periods_per_year=periods_per_year, target=target)
    if np.isnan(out):
        raise ValueError("no return below the target: the Sortino ratio is undefined")
    return out


def sharpe_columns(m: np.ndarray) -> np.ndarray:
    """Per-period Sharpe of each column of a T × N return matrix; NaN where undefined."""
    sd = m.std(axis=0, ddof=1)
    return np.where(sd > 0, m.mean(axis=0) / np.where(sd > 0, sd, 1), np.nan)


def undefined_last(sharpes: np.ndarray) -> np.ndarray:
    """Sharpes for ranking: an undefined one (a configuration that never varies) ranks
    below every defined one. A ranking rule, not a figure: never report its output."""
    return np.where(np.isnan(sharpes), -np.inf, sharpes)


@dataclass(frozen=True)
class Drawdown:
    depth: float  # worst fall from a running peak, as a negative fraction (-0.25 = -25 %)
    peak: int  # index of the peak before the trough
    trough: int
    recovery: int | None  # first index back at or above the peak (None: not recovered)
    duration: int  # periods from peak to recovery (or to the end if not recovered)


def max_drawdown(equity: ArrayLike, *, min_obs: int = 2) -> Drawdown:
    """Deepest peak-to-trough fall of an equity curve (positive values)."""
    e = _clean(equity, min_obs=min_obs, name="equity")
    if (e <= 0).any():
        raise ValueError("equity must be positive")
    return drawdown_of(e)


def drawdown_of(e: np.ndarray) -> Drawdown:
    """The computation behind :func:`max_drawdown`, for callers that validated ``e``."""
    peaks = np.maximum.accumulate(e)
    dd = e / peaks - 1
    trough = int(np.argmin(dd))
    peak = int(np.argmax(e[: trough + 1]))
    after = np.flatnonzero(e[trough:] >= e[peak])
    recovery = int(trough + after[0]) if len(after) else None
    end = recovery if recovery is not None else len(e) - 1
    return Drawdown(float(dd[trough]), peak, trough, recovery, end - peak)


def kelly_fraction(
    *, p_win: float, payoff_ratio: float, fraction: float = 1.0, cap: float | None = None
) -> float:
    """Kelly stake f* = p − (1−p)/b for a win probability p and payoff ratio b, scaled by
    ``fraction`` (fractional Kelly), floored at 0 (no edge → no bet) and capped."""
    if not 0 <= p_win <= 1:
        raise ValueError(f"p_win must be in [0, 1], got {p_win}")
    if payoff_ratio <= 0:
        raise ValueError(f"payoff_ratio must be positive, got {payoff_ratio}")
    f = max(0.0, p_win - (1 - p_win) / payoff_ratio) * fraction
    return min(f, cap) if cap is not None else f


def portfolio_volatility(
    weights: ArrayLike,
    returns_matrix: ArrayLike,
    *,
    periods_per_year: float,
    min_obs: int = DEFAULT_MIN_OBS,
) -> float:
    """Annualised sqrt(wᵀ Σ w) from the sample covariance of per-asset returns (T × N)."""
    m = np.asarray(returns_matrix, dtype=float)
    w = np.asarray(weights, dtype=float)
    if m.ndim != 2 or m.shape[1] != len(w):
        raise ValueError(f"returns_matrix must be T × {len(w)}, got {m.shape}")
    if m.shape[0] < min_obs:
        raise InsufficientHistoryError(f"{m.shape[0]} observations; at least {min_obs} needed")
    if not np.isfinite(m).all():
        raise ValueError("returns_matrix contains NaN or infinite values")
    cov = np.cov(m, rowvar=False, ddof=1)
    return float(np.sqrt(w @ np.atleast_2d(cov) @ w * periods_per_year))


def herfindahl(exposures: ArrayLike) -> float:
    """Concentration of gross exposure: Σ wᵢ² of |exposure| shares (1/N … 1)."""
    x = np.abs(np.asarray(exposures, dtype=float))
    total = x.sum()
    if total == 0:
        raise ValueError("no exposure: concentration is undefined")
    return float(((x / total) ** 2).sum())


EULER_GAMMA = 0.5772156649015329


@dataclass(frozen=True)
class DeflatedSharpe:
    """Bailey & López de Prado (2014): the probability that the true Sharpe exceeds zero
    after choosing the best of ``trials`` configurations (per-bar Sharpe ratios)."""

    probability: float
    sharpe: float  # per bar, of the selected configuration
    expected_max_sharpe: float  # SR0 under the null of no skill
    trials: int
    observations: int
    skew: float
    kurtosis: float  # not excess


def expected_max_sharpe(*, trials: int, sharpe_variance: float) -> float:
    """E[max SR] of ``trials`` zero-skill configurations whose Sharpes vary by ``sharpe_variance``."""
    from scipy.stats import norm

    if trials < 1:
        raise ValueError(f"trials must be at least 1, got {trials}")
    if trials == 1 or sharpe_variance <= 0:
        return 0.0
    g = EULER_GAMMA
    return float(
        np.sqrt(sharpe_variance)
        * ((1 - g) * norm.ppf(1 - 1 / trials) + g * norm.ppf(1 - 1 / (trials * np.e)))
    )


def deflated_sharpe(
    returns: ArrayLike, *, trials: int, sharpe_variance: float, min_obs: int = DEFAULT_MIN_OBS
) -> DeflatedSharpe:
    """DSR of the per-bar ``returns`` of the chosen configuration (probabilistic Sharpe
    against 0 when ``trials`` is 1). Raises where the Sharpe is undefined (no variance)."""
    from scipy.stats import kurtosis, norm, skew

    r = _clean(returns, min_obs=min_obs)
    sr = sharpe_ratio(r, periods_per_year=1, min_obs=min_obs)  # per bar, not annualised
    g3 = float(skew(r))
    g4 = float(kurtosis(r, fisher=False))
    sr0 = expected_max_sharpe(trials=trials, sharpe_variance=sharpe_variance)
    denom = 1 - g3 * sr + (g4 - 1) / 4 * sr**2
    if denom <= 0:
        raise ValueError("the Sharpe ratio's standard error is undefined for these moments")
    z = (sr - sr0) * np.sqrt(len(r) - 1) / np.sqrt(denom)
    return DeflatedSharpe(float(norm.cdf(z)), sr, sr0, trials, len(r), g3, g4)


@dataclass(frozen=True)
class Overfitting:
    """CSCV (Bailey, Borwein, López de Prado & Zhu): the share of splits in which the best
    in-sample configuration ranks at or below the median out of sample."""

    pbo: float
    splits: int
    logits: np.ndarray


def probability_of_backtest_overfitting(
    trial_returns: ArrayLike, *, blocks: int = 16
) -> Overfitting:
    """``trial_returns``: T × N per-bar returns of N configurations on the same bars."""
    from itertools import combinations

    m = np.asarray(trial_returns, dtype=float)
    if m.ndim != 2 or m.shape[1] < 2:
        raise ValueError("CSCV needs a T × N matrix with at least two configurations")
    if blocks % 2 or blocks < 2 or m.shape[0] < 2 * blocks:
        raise ValueError(f"{m.shape[0]} bars cannot make {blocks} even blocks of 2+ bars")
    parts = np.array_split(np.arange(m.shape[0]), blocks)

    def sharpe(rows: np.ndarray) -> np.ndarray:
        return undefined_last(sharpe_columns(m[rows]))

    logits = []
    for chosen in combinations(range(blocks), blocks // 2):
        ins = np.concatenate([parts[i] for i in chosen])
        oos = np.concatenate([parts[i] for i in range(blocks) if i not in chosen])
        best = int(np.argmax(sharpe(ins)))
        out = sharpe(oos)
        rank = (out < out[best]).sum() + 0.5 * ((out == out[best]).sum() - 1) + 1
        omega = rank / (m.shape[1] + 1)
        logits.append(np.log(omega / (1 - omega)))
    lam = np.asarray(logits)
    return Overfitting(float((lam <= 0).mean()), len(lam), lam)
