"""Technical indicators on numpy arrays: each value at t uses only data up to t.

Conventions (the textbook ones, also those of TA-Lib and the ``ta`` package's ATR):

* EMA(n): alpha = 2/(n+1), seeded at index n-1 with the simple mean of the first n values.
* Wilder smoothing(n): y_t = y_{t-1} + (x_t - y_{t-1})/n, seeded with the mean of the first n.
* RSI(14): Wilder averages of gains and losses of close-to-close changes; 100 when the
  average loss is 0.
* ATR(14): Wilder average of the true range; the first true range is high - low.
* Bollinger(20, 2): population standard deviation (ddof=0), as Bollinger defines it.
* Volume z-score(20) and realised volatility(20): sample standard deviation (ddof=1).

Warm-up values are NaN, never filled. Recursions run through ``scipy.signal.lfilter`` and
can be continued from a stored state, so an incremental computation reproduces a full one
exactly. Windowed statistics are computed window by window (``sliding_window_view``), so a
value does not depend on where the computed slice starts.
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view


def _nan(n: int) -> np.ndarray:
    return np.full(n, np.nan)


def ema_alpha(n: int) -> float:
    return 2.0 / (n + 1.0)


def recursive_filter(x: np.ndarray, *, alpha: float, prev: float) -> np.ndarray:
    """y_t = alpha*x_t + (1-alpha)*y_{t-1}, starting from y_{-1} = prev."""
    from scipy.signal import lfilter

    if len(x) == 0:
        return np.empty(0)
    decay = 1.0 - alpha
    y, _ = lfilter([alpha], [1.0, -decay], x, zi=[decay * prev])
    return np.asarray(y, dtype=float)


def seeded_recursion(x: np.ndarray, *, n: int, alpha: float, start: int = 0) -> np.ndarray:
    """Mean of x[start:start+n] at index start+n-1, then the recursion; NaN before."""
    out = _nan(len(x))
    seed_at = start + n - 1
    if seed_at >= len(x):
        return out
    seed = float(np.mean(x[start : start + n]))
    out[seed_at] = seed
    out[seed_at + 1 :] = recursive_filter(x[seed_at + 1 :], alpha=alpha, prev=seed)
    return out


def rolling_mean(x: np.ndarray, window: int) -> np.ndarray:
    out = _nan(len(x))
    if len(x) >= window:
        out[window - 1 :] = sliding_window_view(x, window).mean(axis=1)
    return out


def rolling_std(x: np.ndarray, window: int, *, ddof: int) -> np.ndarray:
    out = _nan(len(x))
    if len(x) >= window:
        out[window - 1 :] = sliding_window_view(x, window).std(axis=1, ddof=ddof)
    return out


def pct_change(close: np.ndarray, k: int) -> np.ndarray:
    out = _nan(len(close))
    if len(close) > k:
        out[k:] = close[k:] / close[:-k] - 1.0
    return out


def log_return(close: np.ndarray) -> np.ndarray:
    out = _nan(len(close))
    if len(close) > 1:
        out[1:] = np.log(close[1:] / close[:-1])
    return out


def true_range(high: np.ndarray, low: np.ndarray, close: np.ndarray) -> np.ndarray:
    tr: np.ndarray = high - low
    if len(close) > 1:
        prev = close[:-1]
        tr[1:] = np.maximum.reduce(
            [high[1:] - low[1:], np.abs(high[1:] - prev), np.abs(low[1:] - prev)]
        )
    return tr


def gains_losses(close: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    diff = np.diff(close, prepend=np.nan)
    gain = np.where(diff > 0, diff, 0.0)
    loss = np.where(diff < 0, -diff, 0.0)
    gain[0] = loss[0] = np.nan
    return gain, loss


def rsi_from_averages(avg_gain: np.ndarray, avg_loss: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        rsi = 100.0 - 100.0 / (1.0 + avg_gain / avg_loss)
    return np.where(avg_loss == 0.0, np.where(np.isnan(avg_gain), np.nan, 100.0), rsi)


def safe_divide(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """a / b, NaN where b is 0 or NaN (no value is better than an infinite one)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where((b == 0) | np.isnan(b), np.nan, a / np.where(b == 0, 1.0, b))
