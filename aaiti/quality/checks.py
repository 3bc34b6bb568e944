"""Derived columns that turn stream-level rules into plain per-row values GX can judge.

GX's built-in expectations look at columns; rules such as "a one-bar return between
consecutive bars" or "a run of equal closes with zero volume" need the row's neighbours.
They are computed here, vectorised, so that each offending row is named by its ``ts``.
"""

from __future__ import annotations

import math
from collections.abc import Collection
from datetime import datetime

import numpy as np
import pandas as pd
from numba import njit

from aaiti.market.timeframes import timeframe_ms

RAW_DERIVED = (
    "ts_epoch_s",
    "ts_offset_s",
    "seconds_in_future",
    "max_open_close",
    "min_open_close",
    "gap_bars_before",
    "gap_hours_before",
    "move_from_accepted",
    "level_shift",
    "unconfirmed_jump",
    "spike",
    "wick_beyond",
    "frozen_run",
    "stale_run",
    "zero_volume_run",
)


def _run_lengths(mask: np.ndarray) -> np.ndarray:
    """For each row, the length of the run of True it belongs to (0 where False)."""
    out = np.zeros(len(mask), dtype=np.int64)
    if not mask.any():
        return out
    m = mask.astype(np.int8)
    edges = np.diff(np.concatenate([[0], m, [0]]))
    starts, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
    for s, e in zip(starts, ends, strict=True):
        out[s:e] = e - s
    return out


@njit(cache=True)
def _moves_from_accepted(log_c, bar, bound, confirm, released):
    """Each bar against its nearest *accepted* predecessor (see :func:`raw_batch`)."""
    n = len(log_c)
    move = np.full(n, np.nan)
    shift = np.zeros(n, dtype=np.int64)
    pending = np.zeros(n, dtype=np.int64)
    ref = 0
    for i in range(1, n):
        if released[i]:  # an operator confirmed this level: it is the new reference
            move[i] = 0.0
            ref = i
            continue
        move[i] = abs(log_c[i] - log_c[ref]) / math.sqrt(max(bar[i] - bar[ref], 1))
        if not move[i] > bound:
            ref = i
            continue
        if i + confirm >= n:  # too few later bars to tell a bad print from a new level
            pending[i] = 1
            continue
        persists = True
        for j in range(i + 1, i + confirm + 1):
            if not abs(log_c[j] - log_c[ref]) / math.sqrt(max(bar[j] - bar[ref], 1)) > bound:
                persists = False
                break
        if persists:  # the series continues at another level: block, never drop one bar
            shift[i] = 1
            ref = i
    return move, shift, pending


def raw_batch(
    frame: pd.DataFrame,
    *,
    timeframe: str,
    now: datetime,
    max_move: float = math.inf,
    confirm_bars: int = 3,
    released: Collection[pd.Timestamp] = (),
) -> pd.DataFrame:
    """One stream's candles (sorted by ts) with the derived check columns.

    - ``ts_offset_s``: seconds past the timeframe grid (0 when aligned).
    - ``gap_bars_before``: bars missing before the row.
    - ``move_from_accepted``: |ln(close / c_ref)| / √(bars since ref), where ref is the
      nearest *accepted* predecessor — the last earlier bar that was within ``max_move``
      itself. Holes don't hide a bar (it is judged across them, the allowed move growing
      with √time, as a random walk's does), and a bar after a rejected one is judged
      against the last good bar, not against the bad one.
    - ``level_shift``: 1 where such a jump persists: the next ``confirm_bars`` bars stay
      beyond ``max_move`` from ref (redenomination, wrong quote currency, unit error). It
      blocks the stream; an operator who confirms it is real releases it (``released``).
    - ``unconfirmed_jump``: 1 where a jump has fewer than ``confirm_bars`` bars after it:
      a bad print or a new level cannot be told apart yet, so the stream waits (blocked).
    - ``spike``: min(|r_in|, |r_out|) - |ln(next/prev)|: how far the close stands out from
      two consecutive neighbours that agree with each other; large for a print that jumps
      and comes back (a data error), near zero for a real move. Unknown at the newest bar.
    - ``stale_run``: length of the run of bars with unchanged close and zero volume.
    - ``zero_volume_run``: length of the run of zero-volume bars.
    """
    out = frame.sort_values("ts", kind="stable").reset_index(drop=True).copy()
    step_s = timeframe_ms(timeframe) // 1000
    epoch = ((out["ts"] - pd.Timestamp(0, tz="UTC")) // pd.Timedelta(seconds=1)).to_numpy(np.int64)
    out["ts_epoch_s"] = epoch
    out["ts_offset_s"] = epoch % step_s
    out["seconds_in_future"] = np.maximum(epoch - int(pd.Timestamp(now).timestamp()), 0)
    out["max_open_close"] = np.maximum(out["open"], out["close"])
    out["min_open_close"] = np.minimum(out["open"], out["close"])
    gap = np.zeros(len(out), dtype=np.int64)
    gap[1:] = (np.diff(epoch) // step_s) - 1
    out["gap_bars_before"] = gap
    out["gap_hours_before"] = gap * step_s / 3600.0

    close = out["close"].to_numpy(float)
    with np.errstate(divide="ignore", invalid="ignore"):
        log_c = np.log(close)
    released_mask = (
        out["ts"].isin(pd.DatetimeIndex(list(released))).to_numpy()
        if released
        else (np.zeros(len(out), dtype=bool))
    )
    move, shift, pending = _moves_from_accepted(
        log_c, epoch // step_s, float(max_move), int(confirm_bars), released_mask
    )
    out["move_from_accepted"] = move
    out["level_shift"] = shift
    out["unconfirmed_jump"] = pending
    r = np.full(len(out), np.nan)
    consecutive = np.zeros(len(out), dtype=bool)
    consecutive[1:] = gap[1:] == 0
    r[1:] = log_c[1:] - log_c[:-1]
    r[~consecutive] = np.nan
    r_out = np.full(len(out), np.nan)
    r_out[:-1] = r[1:]  # into the next bar (NaN across a gap or at the edge)
    with np.errstate(invalid="ignore"):
        across = np.full(len(out), np.nan)
        across[1:-1] = np.abs(log_c[2:] - log_c[:-2])
        spike = np.minimum(np.abs(r), np.abs(r_out)) - across
    out["spike"] = spike

    volume = out["volume"].to_numpy(float)
    same_close = np.zeros(len(out), dtype=bool)
    same_close[1:] = (close[1:] == close[:-1]) & consecutive[1:]
    zero = volume == 0
    # a stale run: zero-volume bars whose close does not move (its first bar included)
    stale = zero & (same_close | np.concatenate([same_close[1:], [False]]))
    out["stale_run"] = _run_lengths(stale)
    out["zero_volume_run"] = _run_lengths(zero)
    out["wick_beyond"] = _wick_beyond(out)
    o, h, lo = (out[k].to_numpy(float) for k in ("open", "high", "low"))
    flat = (o == close) & (h == close) & (lo == close)
    frozen = np.zeros(len(out), dtype=bool)
    frozen[1:] = flat[1:] & (close[1:] == close[:-1]) & consecutive[1:]
    frozen[:-1] |= frozen[1:] & flat[:-1]  # the run's first bar too
    out["frozen_run"] = _run_lengths(frozen)
    return out


def _wick_beyond(out: pd.DataFrame) -> np.ndarray:
    """How far (log) a wick reaches past the bar's body *and* both neighbours' extremes.

    A real wick trades where the market was: the bars around it reach near it, or its
    body does. A bad tick stands alone. The larger of the upper and lower excess; 0 when
    a neighbour or the body reaches as far. Unknown (NaN) at the edges."""
    h, lo = out["high"].to_numpy(float), out["low"].to_numpy(float)
    top, bottom = out["max_open_close"].to_numpy(float), out["min_open_close"].to_numpy(float)
    n = len(out)
    res = np.full(n, np.nan)
    if n < 3:
        return res
    with np.errstate(divide="ignore", invalid="ignore"):
        up_ref = np.maximum.reduce([top[1:-1], h[:-2], h[2:]])
        down_ref = np.minimum.reduce([bottom[1:-1], lo[:-2], lo[2:]])
        up = np.maximum(np.log(h[1:-1] / up_ref), 0.0)
        down = np.maximum(np.log(down_ref / lo[1:-1]), 0.0)
    res[1:-1] = np.maximum(up, down)
    return res


def feature_batch(frame: pd.DataFrame, *, now: datetime) -> pd.DataFrame:
    """One stream's feature rows with the columns the features suite needs."""
    out = frame.sort_values("ts", kind="stable").reset_index(drop=True).copy()
    epoch = ((out["ts"] - pd.Timestamp(0, tz="UTC")) // pd.Timedelta(seconds=1)).to_numpy(np.int64)
    out["seconds_in_future"] = np.maximum(epoch - int(pd.Timestamp(now).timestamp()), 0)
    numeric = out.select_dtypes("number")
    out["non_finite_values"] = np.isinf(numeric.to_numpy(dtype=float)).sum(axis=1)
    return out


def prediction_batch(frame: pd.DataFrame, *, blocked: set[tuple[str, str]]) -> pd.DataFrame:
    """Predictions about to be written, with the keys the predictions suite judges:
    ``prediction_key`` (stream, bar and model version) and ``stream_blocked``."""
    out = frame.reset_index(drop=True).copy()
    out["prediction_key"] = (
        out["exchange"].astype(str) + "|" + out["symbol"].astype(str) + "|"
        + out["timeframe"].astype(str) + "|" + out["ts"].astype(str) + "|"
        + out["model_name"].astype(str) + "|" + out["model_version"].astype(str)
    )  # fmt: skip
    pairs = zip(out["exchange"], out["symbol"], strict=True)
    out["stream_blocked"] = np.array([int(p in blocked) for p in pairs], dtype=np.int64)
    return out
