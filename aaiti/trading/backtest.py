"""Vectorised backtests (numpy) for many symbols and parameter grids.

Signals decided at bar t's close execute at bar t+1's open — never at a price the signal
could not have seen. Long/flat and long/short, all-in per position (the fraction-of-equity
sizing lives in the paper broker), fees and slippage from :class:`CostModel`, an optional
cap on the traded volume as a share of the bar's volume (a trade that would exceed it is
skipped, since the vectorised engine does not split fills — the paper broker does).

Equity moves multiplicatively, bar by bar:

* holding long:   close_t / close_{t−1}
* entering long at open_t: close_t / (buy_price(open_t) · (1 + fee))
* exiting long at open_t:  sell_price(open_t) · (1 − fee) / close_{t−1}
* shorts mirror it on a fully collateralised short (see :func:`_short_growth`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

from aaiti.execution.costs import CostModel
from aaiti.market.timeframes import bars_per_year
from aaiti.risk.metrics import (
    Drawdown,
    annualised_sharpe,
    annualised_sortino,
    drawdown_of,
    simple_returns,
)


@dataclass(frozen=True)
class BacktestMetrics:
    total_return: float
    cagr: float
    annual_volatility: float
    sharpe: float
    sortino: float
    calmar: float
    max_drawdown: float
    drawdown_peak: int
    drawdown_trough: int
    drawdown_duration: int
    trades: int
    win_rate: float
    profit_factor: float
    exposure: float
    turnover: float  # traded notional / average equity, per year


@dataclass(frozen=True)
class BacktestResult:
    equity: np.ndarray  # mark-to-market at each bar's close
    position: np.ndarray  # -1, 0, 1 held during each bar
    trades: pd.DataFrame  # entry_bar, exit_bar, side, entry_price, exit_price, return
    metrics: BacktestMetrics


def held_positions(signal: np.ndarray) -> np.ndarray:
    """Position held during bar t = the signal decided at bar t−1's close."""
    s = np.asarray(signal, dtype=float)
    held = np.zeros_like(s)
    held[1:] = s[:-1]
    return held


@dataclass(frozen=True)
class Prepared:
    """Per-bar fill prices and growth factors that do not depend on the strategy."""

    open_: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    buy: np.ndarray  # fill price of a buy at each bar's open (slippage, clamped to the bar)
    sell: np.ndarray
    hold_long: np.ndarray  # close_t / close_{t-1}
    exit_long: np.ndarray  # sell_t (1 - fee) / close_{t-1}
    enter_long: np.ndarray  # close_t / (buy_t (1 + fee))
    costs: CostModel
    ones: np.ndarray | None = None

    @classmethod
    def of(
        cls,
        *,
        open_: ArrayLike,
        high: ArrayLike,
        low: ArrayLike,
        close: ArrayLike,
        costs: CostModel,
    ) -> Prepared:
        o, hi, lo, c = (np.asarray(x, dtype=float) for x in (open_, high, low, close))
        prev_c = np.concatenate([[c[0]], c[:-1]])
        buy, sell = costs.buy_price(o, hi), costs.sell_price(o, lo)
        return cls(
            o,
            hi,
            lo,
            c,
            buy,
            sell,
            c / prev_c,
            sell * (1 - costs.fee) / prev_c,
            c / (buy * (1 + costs.fee)),
            costs,
            np.ones(len(c)),
        )


def equity_from(prep: Prepared, held: np.ndarray, *, initial: float = 1.0) -> np.ndarray:
    """Mark-to-market equity at each close for positions ``held`` in {-1, 0, 1}."""
    h = np.asarray(held, dtype=float)
    prev_h = np.concatenate([[0.0], h[:-1]])
    is_long = h == 1
    was_long = np.concatenate([[False], is_long[:-1]])
    growth = prep.ones.copy() if prep.ones is not None else np.ones(len(h))
    m = is_long & was_long
    growth[m] = prep.hold_long[m]
    m = was_long & ~is_long
    growth[m] = prep.exit_long[m]
    m = is_long & ~was_long
    growth[m] = prep.enter_long[m]
    if h.min() < 0:
        growth = growth * _short_growth(
            buy=prep.buy, sell=prep.sell, c=prep.close, h=h, prev_h=prev_h, costs=prep.costs
        )
    return initial * np.cumprod(growth)


def equity_curve(
    *,
    open_: np.ndarray,
    high: np.ndarray,
    low: np.ndarray,
    close: np.ndarray,
    held: np.ndarray,
    costs: CostModel,
    initial: float = 1.0,
) -> np.ndarray:
    """Mark-to-market equity at each close for positions ``held`` in {-1, 0, 1}."""
    prep = Prepared.of(open_=open_, high=high, low=low, close=close, costs=costs)
    return equity_from(prep, held, initial=initial)


def _short_growth(
    *,
    buy: np.ndarray,
    sell: np.ndarray,
    c: np.ndarray,
    h: np.ndarray,
    prev_h: np.ndarray,
    costs: CostModel,
) -> np.ndarray:
    """Growth of an all-in short: short notional = equity at entry.

    Entering at fill F with equity E sells u = E / F units; the proceeds net of the fee join
    the collateral: C = E + u·F·(1 − fee). Marked at close M the equity is C − u·M; covering
    at fill F' leaves C − u·F'·(1 + fee). Computed per segment, relative to E.
    """
    fee = costs.fee
    g = np.ones_like(c)
    n = len(c)
    i = 0
    while i < n:
        if h[i] == -1 and prev_h[i] != -1:
            start = i
            end = start
            while end + 1 < n and h[end + 1] == -1:
                end += 1
            entry = sell[start]
            units = 1.0 / entry  # per unit of equity at entry
            collateral = 1.0 + units * entry * (1 - fee)  # equity + short sale proceeds
            marks = collateral - units * c[start : end + 1]
            prev = np.concatenate([[1.0], marks[:-1]])
            g[start : end + 1] = marks / prev
            if end + 1 < n and h[end + 1] != -1:  # cover at the next open
                cover = buy[end + 1]
                after = collateral - units * cover * (1 + fee)
                g[end + 1] = after / marks[-1]
            i = end + 1
        else:
            i += 1
    return g


def _round_trips(prep: Prepared, held: np.ndarray) -> dict[str, np.ndarray]:
    """Entries, exits, fill prices and net returns of the round trips in ``held``."""
    h = np.asarray(held, dtype=float)
    prev = np.concatenate([[0.0], h[:-1]])
    changes = np.flatnonzero(h != prev)
    entries = changes[h[changes] != 0]
    nxt = np.searchsorted(changes, entries, side="right")
    closed = nxt < len(changes)
    exits = np.where(closed, changes[np.minimum(nxt, len(changes) - 1)], 0)
    side = h[entries]
    entry_px = np.where(side > 0, prep.buy[entries], prep.sell[entries])
    exit_px = np.where(side > 0, prep.sell[exits], prep.buy[exits])
    fee = prep.costs.fee
    long_ret = exit_px * (1 - fee) / (entry_px * (1 + fee)) - 1
    short_ret = (entry_px * (1 - fee) - exit_px * (1 + fee)) / entry_px
    ret = np.where(closed, np.where(side > 0, long_ret, short_ret), np.nan)
    return {
        "entries": entries,
        "exits": exits,
        "closed": closed,
        "side": side,
        "entry_px": entry_px,
        "exit_px": exit_px,
        "ret": ret,
    }


def trade_list(prep: Prepared, held: np.ndarray) -> pd.DataFrame:
    """Round trips (vectorised): entry and exit bars, fill prices, net return."""
    t = _round_trips(prep, held)
    closed = t["closed"]
    return pd.DataFrame(
        {
            "entry_bar": t["entries"],
            "exit_bar": pd.Series(t["exits"], dtype="Int64").mask(~closed),
            "side": t["side"].astype(int),
            "entry_price": t["entry_px"],
            "exit_price": np.where(closed, t["exit_px"], np.nan),
            "return": t["ret"],
        }
    )


def _drawdown(e: np.ndarray) -> Drawdown:
    """max_drawdown() of the curve with its initial value first (indices shifted by one)."""
    from dataclasses import replace

    dd = drawdown_of(e)
    return replace(
        dd,
        peak=dd.peak + 1,
        trough=dd.trough + 1,
        recovery=None if dd.recovery is None else dd.recovery + 1,
    )


def metrics_of(
    equity: np.ndarray, held: np.ndarray, trades: pd.DataFrame, *, timeframe: str
) -> BacktestMetrics:
    e = np.asarray(equity, dtype=float)
    per_year = bars_per_year(timeframe)
    r = simple_returns(e)
    years = len(e) / per_year
    total = e[-1] / e[0] - 1
    sd = r.std(ddof=1) if len(r) > 1 else 0.0
    dd = _drawdown(e)
    returns = (
        trades["return"].to_numpy(float)
        if isinstance(trades, pd.DataFrame)
        else np.asarray(trades, float)
    )
    closed = returns[~np.isnan(returns)]
    gains, losses = closed[closed > 0].sum(), -closed[closed < 0].sum()
    switches = np.abs(np.diff(np.concatenate([[0.0], held])))
    return BacktestMetrics(
        total_return=float(total),
        cagr=float((1 + total) ** (1 / years) - 1) if years > 0 and total > -1 else float("nan"),
        annual_volatility=float(sd * np.sqrt(per_year)),
        sharpe=annualised_sharpe(r, periods_per_year=per_year),
        sortino=annualised_sortino(r, periods_per_year=per_year),
        calmar=float(((1 + total) ** (1 / years) - 1) / -dd.depth)
        if dd.depth < 0 and years > 0 and total > -1
        else float("nan"),
        max_drawdown=dd.depth,
        drawdown_peak=max(dd.peak - 1, 0),
        drawdown_trough=max(dd.trough - 1, 0),
        drawdown_duration=dd.duration,
        trades=len(returns),
        win_rate=float((closed > 0).mean()) if len(closed) else float("nan"),
        profit_factor=float(gains / losses)
        if losses > 0
        else float("inf")
        if gains > 0
        else float("nan"),
        exposure=float((held != 0).mean()),
        turnover=float(switches.sum() / years) if years > 0 else float("nan"),
    )


def backtest(
    *,
    open_: np.ndarray,
    high: np.ndarray,
    low: np.ndarray,
    close: np.ndarray,
    signal: np.ndarray,
    costs: CostModel,
    timeframe: str,
    volume: np.ndarray | None = None,
    participation_cap: float | None = None,
    allow_short: bool = False,
    initial: float = 1.0,
) -> BacktestResult:
    """One symbol: ``signal`` in {-1, 0, 1} decided at each bar's close."""
    s = np.clip(np.asarray(signal, dtype=float), -1 if allow_short else 0, 1)
    prep = Prepared.of(open_=open_, high=high, low=low, close=close, costs=costs)
    held = held_positions(s)
    if participation_cap is not None:
        if volume is None:
            raise ValueError("a participation cap needs the bars' volume")
        held = _apply_participation(
            held, prep=prep, volume=volume, cap=participation_cap, initial=initial
        )
    equity = equity_from(prep, held, initial=initial)
    trades = trade_list(prep, held)
    return BacktestResult(
        equity, held, trades, metrics_of(equity, held, trades, timeframe=timeframe)
    )


def _apply_participation(
    held: np.ndarray, *, prep: Prepared, volume: np.ndarray, cap: float, initial: float
) -> np.ndarray:
    """Skip position changes whose traded units would exceed cap × the bar's volume."""
    h = held.copy()
    prev = 0.0
    equity = equity_from(prep, h, initial=initial)
    for t in range(len(h)):
        if h[t] != prev:
            eq = equity[t - 1] if t > 0 else initial
            if eq / prep.buy[t] > cap * volume[t]:
                h[t] = prev  # cannot trade it in this bar: keep the old position
                equity = equity_from(prep, h, initial=initial)
        prev = h[t]
    return h


def _sma_from_cumsum(cs: np.ndarray, window: int) -> np.ndarray:
    """SMA at each bar from a cumulative sum with a leading 0 (NaN during the warm-up)."""
    out = np.full(len(cs) - 1, np.nan)
    out[window - 1 :] = (cs[window:] - cs[:-window]) / window
    return out


def sma_crossover_signals(close: np.ndarray, fast: int, slow: int) -> np.ndarray:
    """1 while SMA(fast) > SMA(slow) at the close, else 0 (NaN warm-up → 0)."""
    cs = np.concatenate([[0.0], np.cumsum(np.asarray(close, dtype=float))])
    with np.errstate(invalid="ignore"):
        return (_sma_from_cumsum(cs, fast) > _sma_from_cumsum(cs, slow)).astype(float)


def sma_grid(
    *,
    open_: np.ndarray,
    high: np.ndarray,
    low: np.ndarray,
    close: np.ndarray,
    fasts: list[int],
    slows: list[int],
    costs: CostModel,
    timeframe: str,
    workers: int | None = None,
) -> pd.DataFrame:
    """Every (fast < slow) SMA crossover on one symbol; each SMA is computed once.

    Combinations are independent and numpy releases the GIL, so they run on ``workers``
    threads (default: the machine's cores, at most 4); results keep the grid's order.
    """
    import os
    from concurrent.futures import ThreadPoolExecutor

    c = np.asarray(close, dtype=float)
    prep = Prepared.of(open_=open_, high=high, low=low, close=c, costs=costs)
    cs = np.concatenate([[0.0], np.cumsum(c)])
    smas = {w: _sma_from_cumsum(cs, w) for w in sorted({*fasts, *slows})}
    combos = [(f, s) for f in fasts for s in slows if f < s]

    def one(combo: tuple[int, int]) -> dict[str, Any]:
        f, s = combo
        with np.errstate(invalid="ignore"):
            signal = (smas[f] > smas[s]).astype(float)
        held = held_positions(signal)
        equity = equity_from(prep, held)
        returns = _round_trips(prep, held)["ret"]
        return {
            "fast": f,
            "slow": s,
            **metrics_of(equity, held, returns, timeframe=timeframe).__dict__,
        }

    workers = workers or min(os.cpu_count() or 1, 4)
    if workers == 1:
        return pd.DataFrame([one(c_) for c_ in combos])
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return pd.DataFrame(list(pool.map(one, combos)))
