"""One stream traded by the decision core at compiled speed (evaluation, searches, benchmarks).

The accounting is the paper broker's for market orders, step for step: an order decided at
close t fills at open t+1 moved against the trader by the slippage and clamped to the bar;
a buy of notional N gets N / (price · (1 + fee)) units; a sale of u units returns
u · price · (1 − fee); a short sale of notional N sells N / price units. A buy that needs
more cash than there is is refused, as the broker refuses it. The tests hold it to the
event-driven :class:`aaiti.execution.session.Session` (broker and risk gate) to 1e-9 where
the gate refuses nothing.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numba import njit, prange

from aaiti.execution.core import decide_step


@njit(cache=True)
def _simulate(
    o, h, lo, c, score, prob, payoff, atr, vol, qualified, P, fee, slip, initial, allow_short
):
    n = len(c)
    equity = np.empty(n)
    held_side = np.zeros(n)
    cash, qty = initial, 0.0
    pos, held, stop, target = 0, 0, math.nan, math.nan
    exit_qty, entry_side, entry_notional = 0.0, 0, 0.0
    trades, fees, traded = 0, 0.0, 0.0
    for t in range(n):
        buy_px = min(o[t] * (1 + slip), h[t])
        sell_px = max(o[t] * (1 - slip), lo[t])
        if exit_qty != 0.0:  # close the position held (sign of exit_qty = side of the fill)
            if exit_qty < 0:  # sell a long
                u = -exit_qty
                cash += u * sell_px * (1 - fee)
                fees += u * sell_px * fee
                traded += u * sell_px
                qty -= u
            else:  # buy back a short
                u = exit_qty
                if u * buy_px * (1 + fee) <= cash * (1 + 1e-12):
                    cash -= u * buy_px * (1 + fee)
                    fees += u * buy_px * fee
                    traded += u * buy_px
                    qty += u
            if abs(qty) < 1e-15:
                qty = 0.0
            exit_qty = 0.0
        if entry_side == 1:
            u = entry_notional / (buy_px * (1 + fee))
            if u * buy_px * (1 + fee) <= cash * (1 + 1e-12):
                cash -= u * buy_px * (1 + fee)
                fees += u * buy_px * fee
                traded += u * buy_px
                qty += u
                trades += 1
        elif entry_side == -1 and allow_short:
            u = entry_notional / sell_px
            cash += u * sell_px * (1 - fee)
            fees += u * sell_px * fee
            traded += u * sell_px
            qty -= u
            trades += 1
        entry_side = 0
        held_side[t] = 1.0 if qty > 1e-12 else (-1.0 if qty < -1e-12 else 0.0)
        equity[t] = cash + qty * c[t]
        actual = int(held_side[t])
        if actual != pos:  # an entry the broker refused: the state follows the book
            pos, held, stop, target = actual, 0, math.nan, math.nan
        new, f, held, stop, target, _ = decide_step(
            score[t], prob[t], payoff[t], c[t], atr[t], vol[t], qualified[t],
            pos, held, stop, target, P,
        )  # fmt: skip
        if new != pos:
            if pos != 0:
                exit_qty = -qty
            if new != 0:
                entry_side = new
                entry_notional = f * equity[t]
            pos = new
    return equity, held_side, trades, fees, traded


@dataclass(frozen=True)
class StreamRun:
    equity: np.ndarray  # marked at each close
    held: np.ndarray  # side held during each bar (after its open's fills)
    trades: int  # entries filled
    fees: float
    traded_notional: float


def _inputs(open_, high, low, close, score, prob, payoff, atr, vol, qualified) -> tuple:
    """The kernels' arrays: contiguous float64, NaN for an absent payoff, ATR or volatility."""
    n = len(close)
    as_f = lambda x: np.ascontiguousarray(x, dtype=np.float64)  # noqa: E731
    nan = np.full(n, np.nan)
    return (
        as_f(open_), as_f(high), as_f(low), as_f(close), as_f(score), as_f(prob),
        nan if payoff is None else as_f(payoff),
        nan if atr is None else as_f(atr), nan if vol is None else as_f(vol),
        np.ones(n, dtype=np.bool_) if qualified is None else np.asarray(qualified, dtype=np.bool_),
    )  # fmt: skip


def simulate_stream(
    *,
    open_: np.ndarray,
    high: np.ndarray,
    low: np.ndarray,
    close: np.ndarray,
    score: np.ndarray,
    prob: np.ndarray,
    params: np.ndarray,
    fee: float,
    slippage: float,
    payoff: np.ndarray | None = None,
    atr: np.ndarray | None = None,
    vol: np.ndarray | None = None,
    qualified: np.ndarray | None = None,
    initial: float = 1.0,
    allow_short: bool = False,
) -> StreamRun:
    arrays = _inputs(open_, high, low, close, score, prob, payoff, atr, vol, qualified)
    eq, held, trades, fees, traded = _simulate(  # type: ignore[call-arg]  # numba dispatcher
        *arrays,
        np.ascontiguousarray(params, dtype=np.float64),
        float(fee),
        float(slippage),
        float(initial),
        bool(allow_short),
    )
    return StreamRun(eq, held, int(trades), float(fees), float(traded))


@njit(parallel=True, cache=True)
def _grid(
    o, h, lo, c, score, prob, payoff, atr, vol, qualified, Ps, fee, slip, initial, allow_short
):
    k = Ps.shape[0]
    final, mean, sd = np.empty(k), np.empty(k), np.empty(k)
    trades = np.zeros(k, dtype=np.int64)
    for j in prange(k):
        eq, _, tr, _, _ = _simulate(
            o, h, lo, c, score, prob, payoff, atr, vol, qualified, Ps[j], fee, slip, initial,
            allow_short,
        )  # fmt: skip
        r = eq[1:] / eq[:-1] - 1.0
        final[j], mean[j] = eq[-1], r.mean()
        sd[j] = r.std() * math.sqrt(len(r) / (len(r) - 1)) if len(r) > 1 else math.nan
        trades[j] = tr
    return final, mean, sd, trades


@dataclass(frozen=True)
class GridRun:
    """Per configuration (rows of the parameter matrix): what a search ranks them by."""

    final_equity: np.ndarray
    mean_return: np.ndarray  # per bar
    std_return: np.ndarray  # per bar, ddof 1
    trades: np.ndarray


def simulate_grid(
    *,
    open_: np.ndarray,
    high: np.ndarray,
    low: np.ndarray,
    close: np.ndarray,
    score: np.ndarray,
    prob: np.ndarray,
    params: np.ndarray,  # configurations × parameters (aaiti.execution.core.params_of rows)
    fee: float,
    slippage: float,
    payoff: np.ndarray | None = None,
    atr: np.ndarray | None = None,
    vol: np.ndarray | None = None,
    initial: float = 1.0,
    allow_short: bool = False,
) -> GridRun:
    """Many configurations of one stream in parallel on the machine's cores (same core)."""
    arrays = _inputs(open_, high, low, close, score, prob, payoff, atr, vol, None)
    final, mean, sd, trades = _grid(  # type: ignore[call-arg]  # numba dispatcher
        *arrays,
        np.ascontiguousarray(params, dtype=np.float64),
        float(fee),
        float(slippage),
        float(initial),
        bool(allow_short),
    )
    return GridRun(final, mean, sd, trades)
