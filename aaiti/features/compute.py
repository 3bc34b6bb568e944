"""The feature set of one stream, computed in full or continued from a stored state.

:func:`compute_features` takes a stream's candles (sorted, as stored in ``fct_candles``)
and either no state (compute everything) or the state of the row just before the new
ones plus enough earlier candles for every window (:data:`LOOKBACK_BARS`). Both paths give
identical numbers for the same rows — the incremental dbt model relies on that.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from aaiti.features import indicators as ind

RSI_N, ATR_N, MACD_FAST, MACD_SLOW, MACD_SIGNAL = 14, 14, 12, 26, 9
BB_N, BB_K, VOL_N, RV_N = 20, 2.0, 20, 20
SMA_SHORT, SMA_LONG = 50, 200
RETURN_HORIZONS = (1, 4, 24)

#: Earlier candles an incremental step needs for its windows (SMA 200 is the longest).
LOOKBACK_BARS = SMA_LONG
#: Below this many stored rows a stream is recomputed in full (all recursions seeded after).
MIN_BARS_FOR_INCREMENTAL = SMA_LONG + MACD_SLOW + MACD_SIGNAL

#: Columns of the published feature table, in order (after the key columns).
FEATURE_COLUMNS: tuple[str, ...] = (
    "ret_1",
    "ret_4",
    "ret_24",
    "log_ret_1",
    "realized_vol_20",
    "rsi_14",
    "macd",
    "macd_signal",
    "macd_hist",
    "bb_pct_b",
    "bb_bandwidth",
    "atr_14",
    "volume_z_20",
    "dist_sma_50",
    "dist_sma_200",
    "hour_of_day",
    "day_of_week",
)
#: Recursive state kept per row so the next run can continue exactly.
STATE_COLUMNS: tuple[str, ...] = (
    "bar_index",
    "ema_12",
    "ema_26",
    "macd_signal",
    "rsi_avg_gain",
    "rsi_avg_loss",
    "atr_14",
)


@dataclass(frozen=True)
class RecursiveState:
    """The recursions' values at the last computed row of a stream."""

    bar_index: int
    ema_12: float
    ema_26: float
    macd_signal: float
    rsi_avg_gain: float
    rsi_avg_loss: float
    atr_14: float

    @classmethod
    def from_row(cls, row: pd.Series) -> RecursiveState:
        values = {k: float(row[k]) for k in STATE_COLUMNS if k != "bar_index"}
        return cls(bar_index=int(row["bar_index"]), **values)


def _calendar(epoch_s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    hour = (epoch_s // 3600) % 24
    day_of_week = (epoch_s // 86_400 + 3) % 7 + 1  # ISO: Monday = 1 (1970-01-01 was a Thursday)
    return hour.astype(np.int32), day_of_week.astype(np.int32)


def compute_feature_arrays(
    *,
    epoch_s: np.ndarray,
    high: np.ndarray,
    low: np.ndarray,
    close: np.ndarray,
    volume: np.ndarray,
    state: RecursiveState | None = None,
    lookback: int = 0,
) -> dict[str, np.ndarray]:
    """Features (and state columns) for rows ``lookback:`` of one stream, as arrays.

    Inputs are the stream's candles sorted by time (``epoch_s`` = open time in seconds).
    Without ``state`` everything is computed from the first row (``lookback`` must be 0);
    with it, the recursions continue from ``state`` (the row just before ``lookback``) and
    the first ``lookback`` rows only feed the windows.
    """
    if state is None and lookback:
        raise ValueError("a lookback needs the state of the row before the new ones")
    c = np.asarray(close, dtype=float)
    h = np.asarray(high, dtype=float)
    lo = np.asarray(low, dtype=float)
    v = np.asarray(volume, dtype=float)
    n = len(c)
    out: dict[str, np.ndarray] = {}

    for k in RETURN_HORIZONS:
        out[f"ret_{k}"] = ind.pct_change(c, k)
    log_ret = ind.log_return(c)
    out["log_ret_1"] = log_ret
    rv = ind._nan(n)
    if n > RV_N:
        rv[RV_N:] = ind.rolling_std(log_ret[1:], RV_N, ddof=1)[RV_N - 1 :]
    out["realized_vol_20"] = rv

    sma_mid = ind.rolling_mean(c, BB_N)
    sd = ind.rolling_std(c, BB_N, ddof=0)
    upper, lower = sma_mid + BB_K * sd, sma_mid - BB_K * sd
    out["bb_pct_b"] = ind.safe_divide(c - lower, upper - lower)
    out["bb_bandwidth"] = ind.safe_divide(upper - lower, sma_mid)
    out["volume_z_20"] = ind.safe_divide(
        v - ind.rolling_mean(v, VOL_N), ind.rolling_std(v, VOL_N, ddof=1)
    )
    out["dist_sma_50"] = c / ind.rolling_mean(c, SMA_SHORT) - 1.0
    out["dist_sma_200"] = c / ind.rolling_mean(c, SMA_LONG) - 1.0

    ema_fast, ema_slow, macd, signal, avg_gain, avg_loss, atr, bar_index = _recursions(
        c, h, lo, state=state, lookback=lookback
    )
    out["rsi_14"] = ind.rsi_from_averages(avg_gain, avg_loss)
    out["macd"] = macd
    out["macd_signal"] = signal
    out["macd_hist"] = macd - signal
    out["atr_14"] = atr
    out["hour_of_day"], out["day_of_week"] = _calendar(np.asarray(epoch_s, dtype=np.int64))
    out["bar_index"] = bar_index
    out["ema_12"], out["ema_26"] = ema_fast, ema_slow
    out["rsi_avg_gain"], out["rsi_avg_loss"] = avg_gain, avg_loss
    return {k: v[lookback:] for k, v in out.items()}


def _recursions(
    c: np.ndarray, h: np.ndarray, lo: np.ndarray, *, state: RecursiveState | None, lookback: int
) -> tuple[np.ndarray, ...]:
    """The recursive indicators (EMAs, MACD signal, Wilder averages, ATR) and bar index:
    seeded from the first row, or continued from ``state`` for rows ``lookback:``."""
    n = len(c)
    gain, loss = ind.gains_losses(c)
    tr = ind.true_range(h, lo, c)
    wilder = 1.0 / RSI_N
    if state is None:
        ema_fast = ind.seeded_recursion(c, n=MACD_FAST, alpha=ind.ema_alpha(MACD_FAST))
        ema_slow = ind.seeded_recursion(c, n=MACD_SLOW, alpha=ind.ema_alpha(MACD_SLOW))
        macd = ema_fast - ema_slow
        signal = ind.seeded_recursion(
            macd, n=MACD_SIGNAL, alpha=ind.ema_alpha(MACD_SIGNAL), start=MACD_SLOW - 1
        )
        avg_gain = ind.seeded_recursion(gain, n=RSI_N, alpha=wilder, start=1)
        avg_loss = ind.seeded_recursion(loss, n=RSI_N, alpha=wilder, start=1)
        atr = ind.seeded_recursion(tr, n=ATR_N, alpha=1.0 / ATR_N)
        return (ema_fast, ema_slow, macd, signal, avg_gain, avg_loss, atr,
                np.arange(n, dtype=np.int64))  # fmt: skip
    new = slice(lookback, n)
    ema_fast, ema_slow, signal, avg_gain, avg_loss, atr = (ind._nan(n) for _ in range(6))
    ema_fast[new] = ind.recursive_filter(c[new], alpha=ind.ema_alpha(MACD_FAST), prev=state.ema_12)
    ema_slow[new] = ind.recursive_filter(c[new], alpha=ind.ema_alpha(MACD_SLOW), prev=state.ema_26)
    macd = ema_fast - ema_slow
    signal[new] = ind.recursive_filter(
        macd[new], alpha=ind.ema_alpha(MACD_SIGNAL), prev=state.macd_signal
    )
    avg_gain[new] = ind.recursive_filter(gain[new], alpha=wilder, prev=state.rsi_avg_gain)
    avg_loss[new] = ind.recursive_filter(loss[new], alpha=wilder, prev=state.rsi_avg_loss)
    atr[new] = ind.recursive_filter(tr[new], alpha=1.0 / ATR_N, prev=state.atr_14)
    bar_index = state.bar_index - lookback + 1 + np.arange(n, dtype=np.int64)
    return ema_fast, ema_slow, macd, signal, avg_gain, avg_loss, atr, bar_index


def compute_features(
    candles: pd.DataFrame, *, state: RecursiveState | None = None, lookback: int = 0
) -> pd.DataFrame:
    """Pandas convenience around :func:`compute_feature_arrays` (``ts`` kept as given)."""
    ts = candles["ts"]
    epoch_s = ((ts - pd.Timestamp(0, tz="UTC")) // pd.Timedelta(seconds=1)).to_numpy(dtype=np.int64)
    arrays = compute_feature_arrays(
        epoch_s=epoch_s,
        high=candles["high"].to_numpy(dtype=float),
        low=candles["low"].to_numpy(dtype=float),
        close=candles["close"].to_numpy(dtype=float),
        volume=candles["volume"].to_numpy(dtype=float),
        state=state,
        lookback=lookback,
    )
    columns = ["ts", *FEATURE_COLUMNS, *[c for c in STATE_COLUMNS if c not in FEATURE_COLUMNS]]
    data = {"ts": ts.iloc[lookback:].reset_index(drop=True), **arrays}
    return pd.DataFrame({k: data[k] for k in columns})
