"""The one decision core: (bar, prediction, carried state, strategy) → what to hold next.

``decide_step`` is compiled with numba and has no I/O. The paper cycle and the live cycle
call it once per stream and new bar (through :class:`aaiti.execution.session.Session`), the
walk-forward evaluation calls it inside compiled loops over millions of bars
(:mod:`aaiti.strategy.fastsim`). There is no second implementation of the rule.

Per bar, at its close, in this order:

1. not qualified → flat (stand aside: exits whatever the holding period);
2. an ATR stop or target crossed by the close → flat;
3. no score (no prediction) → flat once the minimum holding period has passed;
4. the hysteresis on the score gives the wanted side; a signal exit or reversal waits for
   the minimum holding period;
5. an entry is sized (fixed fraction, volatility target or capped fractional Kelly); an
   entry that cannot be sized (unknown volatility or ATR where needed) is not taken.

Orders decided at a close fill at the next bar's open (the broker's fill model).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numba import njit

from aaiti.execution.spec import SIZING_CODES, StrategySpec

KELLY_CAP = 0.25

# reasons (named in REASONS)
NONE, ENTER, EXIT, STOP, TARGET, HOLDING, NO_SIGNAL, NO_SIZE, STAND_ASIDE = range(9)
REASONS = (
    "unchanged",
    "enter",
    "signal exit",
    "ATR stop",
    "ATR target",
    "minimum holding period",
    "no prediction",
    "cannot size the entry",
    "strategy not qualified: standing aside",
)

# the parameter vector
(
    P_ENTER_L,
    P_EXIT_L,
    P_ENTER_S,
    P_EXIT_S,
    P_SHORT,
    P_MIN_HOLD,
    P_SIZING,
    P_FRACTION,
    P_TARGET_VOL,
    P_BARS_YEAR,
    P_KELLY,
    P_STOP_ATR,
    P_TARGET_ATR,
) = range(13)


def params_of(spec: StrategySpec, *, bars_per_year: float) -> np.ndarray:
    el, xl, es, xs = spec.thresholds()
    return np.array(
        [
            el,
            xl,
            es,
            xs,
            1.0 if spec.allow_short else 0.0,
            float(spec.min_hold_bars),
            float(SIZING_CODES[spec.sizing]),
            spec.fraction,
            spec.target_vol,
            bars_per_year,
            spec.kelly_fraction,
            math.nan if spec.stop_atr is None else spec.stop_atr,
            math.nan if spec.target_atr is None else spec.target_atr,
        ]
    )


@njit(cache=True)
def _wanted(pos, score, P):
    if pos == 1 and score >= P[P_EXIT_L]:
        return 1
    if pos == -1 and score <= P[P_EXIT_S]:
        return -1
    if score >= P[P_ENTER_L]:
        return 1
    if P[P_SHORT] > 0 and score <= P[P_ENTER_S]:
        return -1
    return 0


def entry_margin(score: float, P: np.ndarray) -> float:
    """How far a score is past the nearer entry threshold (long, or short where allowed):
    the strength by which entries competing for the same cash and risk room are ranked.
    Negative: no entry; NaN score: none at all (-inf)."""
    if math.isnan(score):
        return -math.inf
    short = P[P_ENTER_S] - score if P[P_SHORT] > 0 else -math.inf
    return float(max(score - P[P_ENTER_L], short))


@njit(cache=True)
def _size(side, prob, payoff, vol, P):
    code = P[P_SIZING]
    if code == 0:
        return P[P_FRACTION]
    if code == 1:
        if not (vol > 0):
            return 0.0
        return min(P[P_TARGET_VOL] / (vol * math.sqrt(P[P_BARS_YEAR])), P[P_FRACTION])
    b = payoff
    if not (b > 0) or not (prob >= 0):
        return 0.0
    p = prob if side == 1 else 1.0 - prob
    f = (p - (1.0 - p) / b) * P[P_KELLY]
    return max(0.0, min(f, KELLY_CAP, P[P_FRACTION]))


@njit(cache=True)
def decide_step(score, prob, payoff, close, atr, vol, qualified, pos, held, stop, target, P):
    """One stream, one closed bar → (position, entry fraction, held, stop, target, reason).

    ``prob`` is the calibrated probability and ``payoff`` Kelly's win/loss ratio, both from
    the edge model that scored the bar. ``pos``/``held``/``stop``/``target`` are the
    carried state (``held``: bars the position has been held at this close). The entry
    fraction is of equity, for a new position only.
    """
    nan = math.nan
    if pos != 0:
        held += 1
    if not qualified:
        return 0, 0.0, 0, nan, nan, STAND_ASIDE
    if pos != 0:
        if pos == 1 and (close <= stop or close >= target):
            return 0, 0.0, 0, nan, nan, STOP if close <= stop else TARGET
        if pos == -1 and (close >= stop or close <= target):
            return 0, 0.0, 0, nan, nan, STOP if close >= stop else TARGET
    if math.isnan(score):
        if pos != 0 and held >= P[P_MIN_HOLD]:
            return 0, 0.0, 0, nan, nan, NO_SIGNAL
        return pos, 0.0, held, stop, target, NO_SIGNAL
    want = _wanted(pos, score, P)
    if want == pos:
        return pos, 0.0, held, stop, target, NONE
    if pos != 0 and held < P[P_MIN_HOLD]:
        return pos, 0.0, held, stop, target, HOLDING
    if want == 0:
        return 0, 0.0, 0, nan, nan, EXIT
    f = _size(want, prob, payoff, vol, P)
    new_stop, new_target = nan, nan
    if not math.isnan(P[P_STOP_ATR]) or not math.isnan(P[P_TARGET_ATR]):
        if not (atr > 0):
            f = 0.0
        else:
            if not math.isnan(P[P_STOP_ATR]):
                new_stop = close - want * P[P_STOP_ATR] * atr
            if not math.isnan(P[P_TARGET_ATR]):
                new_target = close + want * P[P_TARGET_ATR] * atr
    if not (f > 0):
        return 0, 0.0, 0, nan, nan, NO_SIZE
    return want, f, 0, new_stop, new_target, ENTER


@dataclass
class StreamState:
    """What the core carries from one bar to the next for one stream."""

    position: int = 0
    held: int = 0
    stop: float = math.nan
    target: float = math.nan


@dataclass(frozen=True)
class Decision:
    position: int
    fraction: float
    state: StreamState
    reason: str


def decide(
    *,
    score: float,
    prob: float,
    close: float,
    atr: float,
    vol: float,
    qualified: bool,
    state: StreamState,
    params: np.ndarray,
    payoff: float = math.nan,
) -> Decision:
    """The compiled core for one bar, with named results."""
    pos, f, held, stop, target, reason = decide_step(
        float(score),
        float(prob),
        float(payoff),
        float(close),
        float(atr),
        float(vol),
        bool(qualified),
        int(state.position),
        int(state.held),
        float(state.stop),
        float(state.target),
        params,
    )
    return Decision(
        int(pos), float(f), StreamState(int(pos), int(held), stop, target), REASONS[reason]
    )
