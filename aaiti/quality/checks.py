"""Derived columns that turn stream-level rules into plain per-row values GX can judge.

GX's built-in expectations look at columns; rules such as "a one-bar return between
consecutive bars" or "a run of equal closes with zero volume" need the row's neighbours.
They are computed here, vectorised, so that each offending row is named by its ``ts``.
"""

from __future__ import annotations

import math
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from itertools import pairwise

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
    "ts_step_s",
    "volume_z",
    "volume_shift",
    "volume_unconfirmed",
    "timeframe_mismatch",
    "wick_unconfirmed",
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


@njit(cache=True)  # numba's decorator is untyped
def _moves_from_accepted(  # type: ignore[no-untyped-def]
    log_c, bar, bound, confirm, released
):
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
    volume_rule: VolumeRule | None = None,
    finer: pd.DataFrame | None = None,
    finer_timeframe: str | None = None,
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
    - ``ts_step_s``: seconds since the previous row (≤ 0: a duplicate or out of order).
    - ``volume_z`` / ``volume_shift`` / ``volume_unconfirmed``: see :func:`volume_outliers`
      (a released bar starts a new reference window, as it does for prices).
    - ``wick_unconfirmed``: 1 on the newest bar when its wick reaches past its body and the
      previous bar's extreme by more than ``max_move``: its next bar, which the wick rule
      also needs, has not come, so the stream waits (blocked) a bar rather than let it in.
    - ``timeframe_mismatch``: against ``finer`` bars of the same source, see
      :func:`cross_timeframe_diff` (NaN when there are none).
    """
    out = frame.sort_values("ts", kind="stable").reset_index(drop=True)
    step_s = timeframe_ms(timeframe) // 1000
    d = _time_columns(out, step_s=step_s, now=now)
    released_mask = (
        out["ts"].isin(pd.DatetimeIndex(list(released))).to_numpy()
        if released
        else (np.zeros(len(out), dtype=bool))
    )
    consecutive = np.zeros(len(out), dtype=bool)
    consecutive[1:] = d["gap_bars_before"][1:] == 0
    _price_columns(out, d, consecutive, step_s=step_s, max_move=max_move,
                   confirm_bars=confirm_bars, released_mask=released_mask)  # fmt: skip
    _volume_columns(out, d, consecutive, confirm_bars=confirm_bars, released_mask=released_mask,
                    volume_rule=volume_rule)  # fmt: skip
    d["timeframe_mismatch"] = (
        cross_timeframe_diff(out, finer, coarse_tf=timeframe, fine_tf=finer_timeframe)
        if finer is not None and finer_timeframe
        else np.full(len(out), np.nan)
    )
    derived = pd.DataFrame({k: d[k] for k in DERIVED}, index=out.index)
    return pd.concat([out, derived], axis=1)


#: The derived columns, in the order they follow the candle's own (volume_z, volume_shift
#: and volume_unconfirmed come right after the candle's columns).
DERIVED = (
    "ts_epoch_s", "ts_offset_s", "seconds_in_future", "max_open_close", "min_open_close",
    "gap_bars_before", "ts_step_s", "gap_hours_before", "move_from_accepted", "level_shift",
    "unconfirmed_jump", "spike", "stale_run", "zero_volume_run", "wick_beyond",
    "wick_unconfirmed", "frozen_run", "timeframe_mismatch",
)  # fmt: skip


def _time_columns(out: pd.DataFrame, *, step_s: int, now: datetime) -> dict[str, np.ndarray]:
    """The grid: offsets, steps and holes between the rows, and how far in the future."""
    d: dict[str, np.ndarray] = {}
    epoch = ((out["ts"] - pd.Timestamp(0, tz="UTC")) // pd.Timedelta(seconds=1)).to_numpy(np.int64)
    d["ts_epoch_s"] = epoch
    d["ts_offset_s"] = epoch % step_s
    d["seconds_in_future"] = np.maximum(epoch - int(pd.Timestamp(now).timestamp()), 0)
    d["max_open_close"] = np.maximum(out["open"], out["close"]).to_numpy()
    d["min_open_close"] = np.minimum(out["open"], out["close"]).to_numpy()
    gap = np.zeros(len(out), dtype=np.int64)
    gap[1:] = (np.diff(epoch) // step_s) - 1
    d["gap_bars_before"] = gap
    ts_step = np.full(len(out), np.nan)
    ts_step[1:] = np.diff(epoch)
    d["ts_step_s"] = ts_step
    d["gap_hours_before"] = gap * step_s / 3600.0
    return d


def _price_columns(
    out: pd.DataFrame,
    d: dict[str, np.ndarray],
    consecutive: np.ndarray,
    *,
    step_s: int,
    max_move: float,
    confirm_bars: int,
    released_mask: np.ndarray,
) -> None:
    """Moves from the accepted level, spikes, wicks and frozen runs."""
    close = out["close"].to_numpy(float)
    with np.errstate(divide="ignore", invalid="ignore"):
        log_c = np.log(close)
    move, shift, pending = _moves_from_accepted(
        log_c, d["ts_epoch_s"] // step_s, float(max_move), int(confirm_bars), released_mask
    )
    d["move_from_accepted"] = move
    d["level_shift"] = shift
    d["unconfirmed_jump"] = pending
    r = np.full(len(out), np.nan)
    r[1:] = log_c[1:] - log_c[:-1]
    r[~consecutive] = np.nan
    r_out = np.full(len(out), np.nan)
    r_out[:-1] = r[1:]  # into the next bar (NaN across a gap or at the edge)
    with np.errstate(invalid="ignore"):
        across = np.full(len(out), np.nan)
        across[1:-1] = np.abs(log_c[2:] - log_c[:-2])
        d["spike"] = np.minimum(np.abs(r), np.abs(r_out)) - across
    d["wick_beyond"] = _wick_beyond(out, d["max_open_close"], d["min_open_close"])
    d["wick_unconfirmed"] = _newest_wick(out, d, consecutive, max_move)
    o, h, lo = (out[k].to_numpy(float) for k in ("open", "high", "low"))
    flat = (o == close) & (h == close) & (lo == close)
    frozen = np.zeros(len(out), dtype=bool)
    frozen[1:] = flat[1:] & (close[1:] == close[:-1]) & consecutive[1:]
    frozen[:-1] |= frozen[1:] & flat[:-1]  # the run's first bar too
    d["frozen_run"] = _run_lengths(frozen)


def _volume_columns(
    out: pd.DataFrame,
    d: dict[str, np.ndarray],
    consecutive: np.ndarray,
    *,
    confirm_bars: int,
    released_mask: np.ndarray,
    volume_rule: VolumeRule | None,
) -> None:
    """Stale and zero-volume runs, and volume outliers (a released bar starts a new
    reference window, as it does for prices)."""
    close = out["close"].to_numpy(float)
    volume = out["volume"].to_numpy(float)
    same_close = np.zeros(len(out), dtype=bool)
    same_close[1:] = (close[1:] == close[:-1]) & consecutive[1:]
    zero = volume == 0
    # a stale run: zero-volume bars whose close does not move (its first bar included)
    stale = zero & (same_close | np.concatenate([same_close[1:], [False]]))
    d["stale_run"] = _run_lengths(stale)
    d["zero_volume_run"] = _run_lengths(zero)
    cuts = [0, *np.flatnonzero(released_mask).tolist(), len(out)]
    parts = [
        volume_outliers(volume[a:b], rule=volume_rule or VolumeRule(), confirm=confirm_bars)
        for a, b in pairwise(cuts)
        if b > a
    ]
    for k, name in enumerate(("volume_z", "volume_shift", "volume_unconfirmed")):
        out[name] = np.concatenate([p[k] for p in parts]) if parts else np.array([])


@dataclass(frozen=True)
class VolumeRule:
    """A bar's volume against the previous ``window`` bars', in log10 space.

    It counts only when the volume is at least ``min_factor`` × the window's median (two
    orders of magnitude: "off by orders of magnitude", as a unit error is) *and* its robust
    z-score (median and IQR / 1.349, scale at least ``min_scale`` decades) exceeds
    ``max_z`` (six robust deviations: ~1e-9 per bar were log volume normal, so the bound
    is set by the tails, not by the sample). Only upward: a volume too low reads as a
    quiet bar, which the features already meet every night."""

    window: int = 100
    min_factor: float = 100.0
    max_z: float = 6.0
    min_scale: float = 0.1


def volume_outliers(
    volume: np.ndarray, *, rule: VolumeRule, confirm: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per bar: ``volume_z`` (the robust z where the factor is reached, else 0; NaN for
    zero volume or too little history), and, like the price rule, whether a run of such
    bars persists beyond ``confirm`` bars (``volume_shift``: blocks) or reaches the newest
    bar without ``confirm`` bars after it (``volume_unconfirmed``: waits). Only the
    previous bars are the reference: nothing after a bar judges it but the run's end."""
    n = len(volume)
    with np.errstate(divide="ignore", invalid="ignore"):
        lv = pd.Series(np.where(volume > 0, np.log10(np.where(volume > 0, volume, 1.0)), np.nan))
    past = lv.shift(1).rolling(rule.window, min_periods=max(rule.window // 5, 5))
    med, q1, q3 = past.median(), past.quantile(0.25), past.quantile(0.75)
    scale = np.maximum(((q3 - q1) / 1.349).to_numpy(), rule.min_scale)
    dev = (lv - med).to_numpy()
    z = np.where(dev >= math.log10(rule.min_factor), dev / scale, 0.0)
    z[np.isnan(dev)] = np.nan
    out_mask = np.nan_to_num(z) > rule.max_z
    runs = _run_lengths(out_mask)
    shift = out_mask & (runs > confirm)
    at_end = np.zeros(n, dtype=bool)
    if n and out_mask[-1]:
        at_end[n - runs[-1] :] = True
    pending = out_mask & at_end & ~shift
    return z, shift.astype(np.int64), pending.astype(np.int64)


def cross_timeframe_diff(
    coarse: pd.DataFrame, fine: pd.DataFrame, *, coarse_tf: str, fine_tf: str
) -> np.ndarray:
    """Per coarse bar: the largest |log| difference of open, high, low and close from the
    same bucket resampled from the fine bars, where the bucket is complete (every fine bar
    present); NaN otherwise. Both come from the same trades, so they must agree."""
    step, sub = timeframe_ms(coarse_tf), timeframe_ms(fine_tf)
    res = np.full(len(coarse), np.nan)
    if fine.empty or step % sub or step == sub:
        return res
    f = fine.sort_values("ts")
    bucket = f["ts"].dt.floor(pd.Timedelta(milliseconds=step))
    agg = f.groupby(bucket).agg(
        open=("open", "first"), high=("high", "max"), low=("low", "min"),
        close=("close", "last"), n=("close", "size"),
    )  # fmt: skip
    agg = agg[agg["n"] == step // sub]
    joined = coarse[["ts", "open", "high", "low", "close"]].merge(
        agg, left_on="ts", right_index=True, how="left", suffixes=("", "_fine")
    )
    with np.errstate(divide="ignore", invalid="ignore"):
        diffs = [
            np.abs(np.log(joined[k].to_numpy(float) / joined[f"{k}_fine"].to_numpy(float)))
            for k in ("open", "high", "low", "close")
        ]
    worst: np.ndarray = np.max(np.vstack(diffs), axis=0)
    return worst


def _newest_wick(
    out: pd.DataFrame, d: dict[str, np.ndarray], consecutive: np.ndarray, max_move: float
) -> np.ndarray:
    """See ``wick_unconfirmed`` in :func:`raw_batch`."""
    res = np.zeros(len(out), dtype=np.int64)
    if len(out) < 2 or not consecutive[-1]:
        return res
    h, lo = out["high"].to_numpy(float), out["low"].to_numpy(float)
    with np.errstate(divide="ignore", invalid="ignore"):
        up = np.log(h[-1] / max(d["max_open_close"][-1], h[-2]))
        down = np.log(min(d["min_open_close"][-1], lo[-2]) / lo[-1])
    res[-1] = int(max(up, down) > max_move)
    return res


def _wick_beyond(out: pd.DataFrame, top: np.ndarray, bottom: np.ndarray) -> np.ndarray:
    """How far (log) a wick reaches past the bar's body *and* both neighbours' extremes.

    A real wick trades where the market was: the bars around it reach near it, or its
    body does. A bad tick stands alone. The larger of the upper and lower excess; 0 when
    a neighbour or the body reaches as far. Unknown (NaN) at the edges."""
    h, lo = out["high"].to_numpy(float), out["low"].to_numpy(float)
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
    ts_step = np.full(len(out), np.nan)
    ts_step[1:] = np.diff(epoch)
    numeric = out.select_dtypes("number")
    out["non_finite_values"] = np.isinf(numeric.to_numpy(dtype=float)).sum(axis=1)
    out["ts_step_s"] = ts_step
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
