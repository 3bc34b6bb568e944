"""Event-driven paper broker: orders wait for the next bar and fill against its OHLC.

Fill rules (the same :class:`CostModel` as the backtester; every fill price lies within the
bar's [low, high]):

* **market** — at the open, moved by the slippage (clamped to the bar's range);
* **limit** buy at L — at min(open, L) if the bar trades at or below L (sell mirrored);
* **stop** buy at S — triggered when the high reaches S, filled at max(open, S) plus
  slippage (sell mirrored);
* **stop-limit** — triggered like a stop, then filled like a limit at L if the bar reaches it.

Time in force: GTC orders wait until filled or cancelled; IOC orders get one bar and their
remainder is cancelled. With a participation cap, at most cap × the bar's volume fills per
bar (the rest waits: partially filled). Orders are idempotent by ``client_order_id``:
submitting the same id again returns the existing order and trades nothing.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from enum import StrEnum

from aaiti.execution.costs import CostModel


class Side(StrEnum):
    BUY = "buy"
    SELL = "sell"


class OrderType(StrEnum):
    MARKET = "market"
    LIMIT = "limit"
    STOP = "stop"
    STOP_LIMIT = "stop_limit"


class TimeInForce(StrEnum):
    GTC = "gtc"
    IOC = "ioc"


class OrderStatus(StrEnum):
    NEW = "new"
    PARTIALLY_FILLED = "partially_filled"
    FILLED = "filled"
    CANCELLED = "cancelled"
    REJECTED = "rejected"


OPEN_STATES = (OrderStatus.NEW, OrderStatus.PARTIALLY_FILLED)
TRANSITIONS = {
    OrderStatus.NEW: {
        OrderStatus.PARTIALLY_FILLED,
        OrderStatus.FILLED,
        OrderStatus.CANCELLED,
        OrderStatus.REJECTED,
    },
    OrderStatus.PARTIALLY_FILLED: {
        OrderStatus.PARTIALLY_FILLED,
        OrderStatus.FILLED,
        OrderStatus.CANCELLED,
    },
    OrderStatus.FILLED: set(),
    OrderStatus.CANCELLED: set(),
    OrderStatus.REJECTED: set(),
}


class IllegalTransitionError(RuntimeError):
    pass


@dataclass(frozen=True)
class Bar:
    ts: object
    open: float
    high: float
    low: float
    close: float
    volume: float


@dataclass
class Order:
    client_order_id: str
    symbol: str
    side: Side
    type: OrderType = OrderType.MARKET
    quantity: float | None = None  # units; or
    notional: float | None = None  # cash to spend (buy) / raise (sell), sized at the fill price
    limit_price: float | None = None
    stop_price: float | None = None
    tif: TimeInForce = TimeInForce.GTC
    status: OrderStatus = OrderStatus.NEW
    filled_quantity: float = 0.0
    average_price: float = 0.0
    triggered: bool = False
    reason: str | None = None
    target_quantity: float | None = None  # fixed at the first fill for notional orders

    def move(self, status: OrderStatus, reason: str | None = None) -> None:
        if status not in TRANSITIONS[self.status]:
            raise IllegalTransitionError(
                f"order {self.client_order_id}: {self.status} → {status} is not allowed"
            )
        self.status = status
        if reason:
            self.reason = reason

    @property
    def remaining(self) -> float:
        target = self.target_quantity if self.target_quantity is not None else self.quantity
        return max((target or 0.0) - self.filled_quantity, 0.0)


@dataclass(frozen=True)
class Fill:
    client_order_id: str
    symbol: str
    ts: object
    side: Side
    quantity: float
    price: float
    fee: float


@dataclass
class Position:
    symbol: str
    quantity: float = 0.0
    average_price: float = 0.0
    realized_pnl: float = 0.0

    def apply(self, side: Side, quantity: float, price: float) -> float:
        """Update with a fill; returns the realised P&L of the part that closed exposure."""
        signed = quantity if side == Side.BUY else -quantity
        realized = 0.0
        if self.quantity == 0 or math.copysign(1, signed) == math.copysign(1, self.quantity):
            new = self.quantity + signed
            self.average_price = (self.average_price * abs(self.quantity) + price * quantity) / abs(
                new
            )
            self.quantity = new
            return 0.0
        closing = min(abs(signed), abs(self.quantity))
        direction = 1 if self.quantity > 0 else -1
        realized = closing * (price - self.average_price) * direction
        self.realized_pnl += realized
        rest = abs(signed) - closing
        self.quantity += signed
        if abs(self.quantity) < 1e-15:
            self.quantity, self.average_price = 0.0, 0.0
        elif rest > 0:  # flipped: the remainder opens the other side at this price
            self.average_price = price
        return realized


@dataclass(frozen=True)
class LedgerEntry:
    ts: object
    kind: str  # fill | fee | deposit
    client_order_id: str | None
    amount: float  # signed cash change
    balance: float


@dataclass
class PaperBroker:
    cash: float
    costs: CostModel = field(default_factory=CostModel)
    participation_cap: float | None = None
    allow_short: bool = True
    orders: dict[str, Order] = field(default_factory=dict)
    positions: dict[str, Position] = field(default_factory=dict)
    fills: list[Fill] = field(default_factory=list)
    ledger: list[LedgerEntry] = field(default_factory=list)
    marks: dict[str, float] = field(default_factory=dict)

    # ------------------------------------------------------------------ orders
    def submit(self, order: Order) -> Order:
        """Accept an order for the next bar; the same client order id is never traded twice."""
        if order.client_order_id in self.orders:
            return self.orders[order.client_order_id]
        problem = self._invalid(order)
        self.orders[order.client_order_id] = order
        if problem:
            order.move(OrderStatus.REJECTED, problem)
        return order

    def _invalid(self, o: Order) -> str | None:
        if (o.quantity is None) == (o.notional is None):
            return "give exactly one of quantity or notional"
        size = o.quantity if o.quantity is not None else o.notional
        if not size or size <= 0 or not math.isfinite(size):
            return f"size must be a positive number, got {size}"
        if o.type in (OrderType.LIMIT, OrderType.STOP_LIMIT) and not (
            o.limit_price and o.limit_price > 0
        ):
            return f"{o.type} orders need a positive limit price"
        if o.type in (OrderType.STOP, OrderType.STOP_LIMIT) and not (
            o.stop_price and o.stop_price > 0
        ):
            return f"{o.type} orders need a positive stop price"
        return None

    def cancel(self, client_order_id: str, reason: str = "cancelled") -> Order:
        order = self.orders[client_order_id]
        if order.status in OPEN_STATES:
            order.move(OrderStatus.CANCELLED, reason)
        return order

    def open_orders(self, symbol: str | None = None) -> list[Order]:
        return [
            o
            for o in self.orders.values()
            if o.status in OPEN_STATES and (symbol is None or o.symbol == symbol)
        ]

    # ------------------------------------------------------------------ bars
    def on_bar(self, symbol: str, bar: Bar) -> list[Fill]:
        """Process the symbol's open orders against this bar, then mark at its close."""
        fills = []
        available = (
            self.participation_cap * bar.volume if self.participation_cap is not None else math.inf
        )
        for order in self.open_orders(symbol):
            price = self._fill_price(order, bar)
            if price is not None:
                fill = self._execute(order, bar, price, available)
                if fill is not None:
                    fills.append(fill)
                    available -= fill.quantity
            if order.status in OPEN_STATES and order.tif == TimeInForce.IOC:
                order.move(OrderStatus.CANCELLED, "IOC: not filled within its bar")
        self.marks[symbol] = bar.close
        return fills

    def _fill_price(self, o: Order, bar: Bar) -> float | None:
        c = self.costs
        buy = o.side == Side.BUY
        triggered_now = False
        # an order's type says which prices it has (checked when it is made); NaN compares false
        stop = math.nan if o.stop_price is None else o.stop_price
        limit = math.nan if o.limit_price is None else o.limit_price
        if o.type in (OrderType.STOP, OrderType.STOP_LIMIT) and not o.triggered:
            hit = bar.high >= stop if buy else bar.low <= stop
            if not hit:
                return None
            o.triggered, triggered_now = True, True
            if o.type == OrderType.STOP:
                ref = max(bar.open, stop) if buy else min(bar.open, stop)
                return c.buy_price(ref, bar.high) if buy else c.sell_price(ref, bar.low)
        if o.type == OrderType.MARKET or (o.type == OrderType.STOP and o.triggered):
            return c.buy_price(bar.open, bar.high) if buy else c.sell_price(bar.open, bar.low)
        if triggered_now:
            # a stop-limit triggered inside this bar: only prices from the trigger on are
            # reachable, the open came before it (a buy: stop ≤ price ≤ limit, and the bar
            # must have traded there; a sell mirrored)
            if buy:
                lo = max(stop, bar.open)
                return lo if lo <= limit and bar.high >= lo else None
            hi = min(stop, bar.open)
            return hi if hi >= limit and bar.low <= hi else None
        if buy:
            return min(bar.open, limit) if bar.low <= limit else None
        return max(bar.open, limit) if bar.high >= limit else None

    def _execute(self, o: Order, bar: Bar, price: float, available: float) -> Fill | None:
        fee_rate = self.costs.fee
        if o.target_quantity is None:
            if o.notional is not None:
                o.target_quantity = (
                    o.notional / (price * (1 + fee_rate))
                    if o.side == Side.BUY
                    else o.notional / price
                )
            else:
                o.target_quantity = o.quantity
        quantity = min(o.remaining, max(available, 0.0))
        if quantity <= 0:
            return None
        notional = quantity * price
        fee = notional * fee_rate
        position = self.positions.setdefault(o.symbol, Position(o.symbol))
        if o.side == Side.BUY:
            if notional + fee > self.cash * (1 + 1e-12):
                o.move(
                    OrderStatus.REJECTED if o.filled_quantity == 0 else OrderStatus.CANCELLED,
                    f"insufficient cash: {notional + fee:.2f} needed, {self.cash:.2f} available",
                )
                return None
        else:
            if not self.allow_short and position.quantity - quantity < -1e-12:
                o.move(
                    OrderStatus.REJECTED if o.filled_quantity == 0 else OrderStatus.CANCELLED,
                    "short selling is not allowed",
                )
                return None
        return self.book_fill(o, ts=bar.ts, quantity=quantity, price=price, fee=fee)

    def book_fill(self, o: Order, *, ts: object, quantity: float, price: float, fee: float) -> Fill:
        """Account for a fill: cash, position, the order's progress and the ledger.

        The one booking path for simulated fills and for fills an exchange reports.
        """
        notional = quantity * price
        self.cash += -(notional + fee) if o.side == Side.BUY else notional - fee
        self.positions.setdefault(o.symbol, Position(o.symbol)).apply(o.side, quantity, price)
        o.average_price = (o.average_price * o.filled_quantity + price * quantity) / (
            o.filled_quantity + quantity
        )
        o.filled_quantity += quantity
        o.move(OrderStatus.FILLED if o.remaining <= 1e-12 else OrderStatus.PARTIALLY_FILLED)
        fill = Fill(o.client_order_id, o.symbol, ts, o.side, quantity, price, fee)
        self.fills.append(fill)
        signed = -notional if o.side == Side.BUY else notional
        self.ledger.append(LedgerEntry(ts, "fill", o.client_order_id, signed, self.cash + fee))
        self.ledger.append(LedgerEntry(ts, "fee", o.client_order_id, -fee, self.cash))
        return fill

    # ------------------------------------------------------------------ valuation
    def position_value(self) -> float:
        return sum(
            p.quantity * self.marks.get(s, p.average_price) for s, p in self.positions.items()
        )

    def equity(self) -> float:
        return self.cash + self.position_value()

    def unrealized_pnl(self, symbol: str) -> float:
        p = self.positions.get(symbol)
        if p is None or p.quantity == 0:
            return 0.0
        return p.quantity * (self.marks.get(symbol, p.average_price) - p.average_price)
