"""Bars in, orders out: the decision core, the paper broker and the pre-trade risk gate.

One :class:`Session` step is one bar time across the traded streams, with no I/O:

1. orders decided at the previous close fill at this bar's open (the broker's fill model),
   and positions are marked at the close;
2. equity is recorded and the drawdown kill switch watched;
3. at the close, :func:`aaiti.execution.core.decide_step` turns each stream's score into
   the position to hold, the held instruments first, then the strongest signals
   (:meth:`Session.by_priority`); the orders that reach it, sized into the cash and the
   risk room left, pass the risk gate or are refused with the rule that refused them.

The paper cycle (``aaiti.trading.cycle``) loads a session's state from the warehouse, steps
it over the new bars and saves it; the strategy backtest steps a fresh one over a whole
window. The same code makes both, which the strategy-level parity test holds to 1e-9.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from aaiti.execution.broker import Bar, Fill, Order, OrderStatus, PaperBroker, Side
from aaiti.execution.core import REASONS, StreamState, decide_step, entry_margin
from aaiti.execution.spec import StrategySpec
from aaiti.market.candles import instrument
from aaiti.risk.gate import Decision as GateDecision
from aaiti.risk.gate import RiskEvent, RiskGate


@dataclass(frozen=True)
class StreamBar:
    """One stream's closed bar with what the strategy knows at its close."""

    exchange: str
    symbol: str
    ts: pd.Timestamp
    open: float
    high: float
    low: float
    close: float
    volume: float
    proba: float = math.nan  # the model's raw probability for this bar (NaN: none)
    atr: float = math.nan
    vol: float = math.nan  # realised volatility per bar
    prediction: dict | None = None  # lineage: prediction_ts, model_name, model_version, run_id

    @property
    def instrument(self) -> str:
        """The broker's and the gate's key: the symbol on this exchange."""
        return instrument(self.exchange, self.symbol)


def as_float(x: Any) -> float:
    """A warehouse number, NULL or NA as NaN."""
    return math.nan if x is None or pd.isna(x) else float(x)


def stream_bars(group: pd.DataFrame) -> list[StreamBar]:
    """Rows of one bar time → :class:`StreamBar`: ``exchange, symbol, ts, open, high, low,
    close, volume`` and, where known, ``probability, atr_14, realized_vol_20`` and the
    prediction's lineage (``prediction_ts, model_name, model_version, run_id``)."""
    cols = set(group.columns)
    out = []
    for r in group.to_dict("records"):
        has = "probability" in cols and not pd.isna(r["probability"])
        out.append(
            StreamBar(
                r["exchange"], r["symbol"], pd.Timestamp(r["ts"]), r["open"], r["high"],
                r["low"], r["close"], r["volume"],
                proba=as_float(r["probability"]) if has else math.nan,
                atr=as_float(r.get("atr_14")),
                vol=as_float(r.get("realized_vol_20")),
                prediction={k: r.get(k) for k in ("prediction_ts", "model_name", "model_version", "run_id")}
                if has else None,
            )
        )  # fmt: skip
    return out


#: The decision shown when a long entry finds no cash left (see Session.buying_power).
NO_CASH = "no cash left for the entry"
#: The decision shown when the risk limits leave an entry no room (see RiskGate.room).
NO_ROOM = "no room left in the risk limits for the entry"
DUST = 1e-9  # of equity: a buying power below this is none

#: The orders a stream's decision at one bar can send.
LEGS: tuple[str, ...] = ("enter", "exit")


@dataclass
class Intent:
    """An order the core wanted, with the gate's word on it."""

    order: Order
    bar: StreamBar
    leg: str  # enter | exit (LEGS)
    notional: float
    gate: GateDecision
    why: str


@dataclass
class StepResult:
    fills: list[tuple[Fill, StreamBar]] = field(default_factory=list)
    intents: list[Intent] = field(default_factory=list)
    events: list[RiskEvent] = field(default_factory=list)
    changed: set[str] = field(default_factory=set)  # client order ids whose status moved
    equity: float = math.nan
    drawdown: float = math.nan
    decisions: dict[str, str] = field(default_factory=dict)  # instrument → reason


#: Sends an approved order somewhere other than the paper book (live routing); returns
#: nothing — it books what the exchange reports through the same broker.
Router = Callable[[Intent, "Session"], None]


@dataclass
class Session:
    spec: StrategySpec
    params: np.ndarray  # aaiti.execution.core.params_of(spec, …)
    account: str
    timeframe: str
    broker: PaperBroker
    gate: RiskGate
    states: dict[str, StreamState] = field(default_factory=dict)
    qualified: bool = True
    risk_known: bool = True
    busy: Callable[[str], bool] = lambda key: False  # an instrument's order open elsewhere

    def fill(self, bar: StreamBar) -> tuple[list[Fill], set[str]]:
        before = {cid: o.status for cid, o in self.broker.orders.items()}
        fills = self.broker.on_bar(
            bar.instrument, Bar(bar.ts, bar.open, bar.high, bar.low, bar.close, bar.volume)
        )
        changed = {cid for cid, o in self.broker.orders.items() if before.get(cid) != o.status}
        return fills, changed

    def step(
        self,
        ts: pd.Timestamp,
        bars: list[StreamBar],
        *,
        decide: bool = True,
        route: Router | None = None,
    ) -> StepResult:
        out = StepResult()
        for b in bars:
            fills, changed = self.fill(b)
            out.fills += [(f, b) for f in fills]
            for _ in fills:
                self.gate.on_order_result(ok=True)
            for cid in changed:
                out.changed.add(cid)
                if self.broker.orders[cid].status == OrderStatus.REJECTED:
                    out.events += self.gate.on_order_result(ok=False)
        out.equity = self.broker.equity()
        out.events += self.gate.on_equity(out.equity, day=pd.Timestamp(ts).date())
        out.drawdown = self.gate.drawdown(out.equity)
        if decide:
            for b in self.by_priority(bars):
                self._decide(b, out, route)
        return out

    def by_priority(self, bars: list[StreamBar]) -> list[StreamBar]:
        """The order a bar time's decisions are made in, since the earlier take the cash
        and the risk room first: the instruments held (an exit or a hold asks for none),
        then the rest by how far their signal is past its entry threshold, strongest
        first. In the bars' order (by symbol), the first symbols took the room whatever
        their signal. Ties keep the bars' order."""

        def rank(b: StreamBar) -> tuple[int, float]:
            held = self.broker.positions.get(b.instrument)
            if held is not None and abs(held.quantity) > 1e-12:
                return 0, 0.0
            return 1, -entry_margin(self.score(b), self.params)

        return sorted(bars, key=rank)

    def _decide(self, b: StreamBar, out: StepResult, route: Router | None) -> None:
        key = b.instrument
        pos = self.broker.positions.get(key)
        qty = pos.quantity if pos else 0.0
        actual = 1 if qty > 1e-12 else (-1 if qty < -1e-12 else 0)
        state = self.states.get(key, StreamState())
        if state.position != actual:  # an entry refused or not filled: follow the book
            state = StreamState(actual)
        if self.broker.open_orders(key) or self.busy(key):
            self.states[key] = state
            return
        score = self.score(b)
        new, f, held, stop, target, reason = decide_step(
            score, self.prob(b), self.spec.edge_model.payoff_ratio, b.close, b.atr, b.vol,
            self.qualified,
            actual, state.held, state.stop, state.target, self.params,
        )  # fmt: skip
        out.decisions[key] = REASONS[reason]
        self.states[key] = StreamState(int(new), int(held), stop, target)
        if new == actual:
            return
        legs: list[tuple[str, Side, dict, float]] = []
        if actual != 0:
            side = Side.SELL if actual == 1 else Side.BUY
            legs.append(("exit", side, {"quantity": abs(qty)}, abs(qty) * b.close))
        if new != 0:
            notional = f * out.equity
            side = Side.BUY if new == 1 else Side.SELL
            legs.append(("enter", side, {"notional": notional}, notional))
        for leg, side, size, notional in legs:
            exposures = self.exposures()  # the exit's order, once sent, counts for the entry
            if leg == "enter":
                notional, short_of = self._entry_size(key, side, notional, out.equity, exposures)
                if short_of:  # nothing left to enter with at this bar
                    out.decisions[key] = short_of
                    self.states[key] = StreamState()
                    continue
                size = {"notional": notional}
            self._order(b, leg, side, size, notional, REASONS[reason], out, route, exposures)

    def _entry_size(
        self, key: str, side: Side, wanted: float, equity: float, exposures: dict[str, float]
    ) -> tuple[float, str | None]:
        """An entry sized to what is left: the cash not promised (a buy) and the room the
        risk limits leave. Sized past either, it was sent and refused at every bar (217 of
        237 orders in a 200-bar soak were the broker's cash refusals; the gate's gross
        exposure refusals came next). Returns the notional, or the reason there is none."""
        notional = wanted
        if side == Side.BUY:
            notional = min(notional, self.buying_power())
            if notional <= DUST * equity:
                return 0.0, NO_CASH
        room = self.gate.room(
            symbol=key, side=1 if side == Side.BUY else -1, positions=exposures, equity=equity,
        )  # fmt: skip
        if room <= DUST * equity:
            return 0.0, NO_ROOM
        return min(notional, room), None

    def buying_power(self) -> float:
        """Cash not yet promised to the open buy orders. First decided, first served."""
        return self.broker.cash - sum(
            self._cash_held(o) for o in self.broker.open_orders() if o.side == Side.BUY
        )

    def _cash_held(self, order: Order) -> float:
        """The cash an open buy will take: a notional spends itself, fee included; a
        quantity (a short's cover) costs its value plus slippage and fee. Valued at the
        mark alone, a cover took 0.15 % more than promised and the last entry sized to the
        rest was refused for want of 72 in 52,596 (the lagging-stream test found it)."""
        value = self._promised(order)
        if _unfilled_notional(order) is not None:
            return value
        costs = self.broker.costs
        return value * (1 + costs.slippage + costs.fee)

    def _promised(self, order: Order) -> float:
        """What an open order is still worth: its notional before any fill, else its
        remaining quantity at the instrument's last mark, or at the position's cost where
        none is known, as positions are valued (without either: an error, not 0)."""
        if (notional := _unfilled_notional(order)) is not None:
            return notional  # partly filled, the rest is its remaining quantity
        held = self.broker.positions.get(order.symbol)
        price = self.broker.marks.get(order.symbol, held.average_price if held else None)
        if price is None:
            raise ValueError(
                f"open order {order.client_order_id} on {order.symbol} has no notional and no "
                "mark to value it at"
            )
        return order.remaining * price

    def exposures(self) -> dict[str, float]:
        """Each symbol's signed value once its working orders fill: the position at its last
        mark (its cost where none is known) plus the open orders. Without the orders, two
        entries decided at one close each saw the room the other was about to take."""
        out = {
            s: q.quantity * self.broker.marks.get(s, q.average_price)
            for s, q in self.broker.positions.items()
        }
        for o in self.broker.open_orders():
            sign = 1.0 if o.side == Side.BUY else -1.0
            out[o.symbol] = out.get(o.symbol, 0.0) + sign * self._promised(o)
        return out

    def order_id(self, *, exchange: str, symbol: str, ts: object, leg: str) -> str:
        """The client order id of a decision: one per strategy, account, stream, bar and leg
        (a rerun of the bar decides the same id, which the exchange refuses twice)."""
        return (
            f"{self.spec.name}@{self.spec.version}:{self.account}:{exchange}:{symbol}:"
            f"{self.timeframe}:{pd.Timestamp(ts).isoformat()}:{leg}"
        )

    def _order(self, b, leg, side, size, notional, why, out: StepResult, route, exposures) -> None:
        cid = self.order_id(exchange=b.exchange, symbol=b.symbol, ts=b.ts, leg=leg)
        decision = self.gate.check(
            symbol=b.instrument,
            side=1 if side == Side.BUY else -1,
            notional=notional,
            positions=exposures,
            equity=out.equity,
            risk_known=self.risk_known,
        )
        order = Order(cid, b.instrument, side, **size)
        intent = Intent(order, b, leg, notional, decision, why)
        out.intents.append(intent)
        if not decision.approved:
            order.status, order.reason = OrderStatus.REJECTED, f"risk: {decision.reason}"
            self.broker.orders.setdefault(cid, order)
            if leg == "enter":  # the core's state must not believe in a refused entry
                self.states[b.instrument] = StreamState()
        elif route is not None:
            route(intent, self)
        else:
            self.broker.submit(order)

    def score(self, b: StreamBar) -> float:
        return float(self.spec.score(np.array([b.proba]))[0])

    def prob(self, b: StreamBar) -> float:
        return float(self.spec.calibrated(np.array([b.proba]))[0])


def _unfilled_notional(order: Order) -> float | None:
    """A notional order's notional while nothing of it has filled: what it is worth and
    spends (fee included); None once it is a remaining quantity, or for a quantity order."""
    return order.notional if not order.filled_quantity else None
