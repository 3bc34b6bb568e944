"""Live account reconciliation: the ledger's cash and positions per currency against the
exchange's balances, and the exchange's open orders against the ledger's.

A pure core: the trade cycle fetches the balances and open orders, calls ``reconcile`` and
acts on the result (no new orders while it differs, an alert, a row per currency in
``trading.reconciliations``). A deposit, a withdrawal, a manual trade or a missed fill shows
up here as a difference until it is explained (the next fetch agrees) or an operator
accepts the exchange's figures (``aaiti live accept``), which the next cycle adopts.

The tolerance is relative to the larger of the two figures, with a floor of 1e-8 (the
exchanges' own precision): rounding of amounts and fees to the exchange's precision stays
under it, while a transfer or a trade the ledger did not make does not.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from aaiti.errors import InputError, StateError

DUST = 1e-8


class MixedQuoteError(InputError):
    """Traded symbols priced in more than one quote currency: the ledger holds one cash."""


@dataclass(frozen=True)
class Difference:
    currency: str
    ledger: float
    exchange: float

    @property
    def amount(self) -> float:
        return self.exchange - self.ledger


@dataclass(frozen=True)
class Reconciliation:
    """The figures compared per currency and what did not agree."""

    compared: tuple[Difference, ...]  # every currency looked at, agreeing or not
    differences: tuple[Difference, ...]  # beyond the tolerance
    foreign_orders: tuple[str, ...]  # open on the exchange, unknown to the ledger

    @property
    def ok(self) -> bool:
        return not self.differences and not self.foreign_orders

    def message(self) -> str:
        parts = [
            f"{d.currency}: ledger {d.ledger:.8g}, exchange {d.exchange:.8g} ({d.amount:+.8g})"
            for d in self.differences
        ]
        if self.foreign_orders:
            parts.append(
                f"{len(self.foreign_orders)} open order(s) on the exchange the ledger does "
                f"not know: {', '.join(self.foreign_orders)}"
            )
        return "; ".join(parts) if parts else "the ledger agrees with the exchange"


def quote_of(symbols: list[str]) -> str:
    """The one quote currency of a live account's symbols (BASE/QUOTE). A paper account of
    several keeps a book per currency (``accounts.books``); live, the exchange's balance of
    a base bought through two quotes could not be told apart between two books."""
    quotes = sorted({s.partition("/")[2] for s in symbols})
    if len(quotes) != 1 or not quotes[0]:
        raise MixedQuoteError(
            f"the traded symbols {symbols} are quoted in {quotes or 'nothing'}; a live account "
            "reconciles one exchange balance per currency, so every symbol it trades "
            "(AAITI_SYMBOLS) must share one quote currency"
        )
    return quotes[0]


def ledger_balances(*, cash: float, quote: str, positions: dict[str, float]) -> dict[str, float]:
    """What the ledger says the exchange should hold, per currency."""
    out = {quote: cash}
    for symbol, quantity in positions.items():
        base = symbol.partition("/")[0]
        out[base] = out.get(base, 0.0) + quantity
    return out


def with_unbooked(
    ledger: dict[str, float], fills: list[tuple[str, str, float, float, float]], *, quote: str
) -> dict[str, float]:
    """The ledger plus fills the exchange made that the ledger will book this cycle (an
    order a crashed cycle sent, adopted when its bar decides again): (symbol, side,
    quantity, average price, fee in the quote)."""
    out = dict(ledger)
    for symbol, side, quantity, price, fee in fills:
        sign = 1.0 if side == "buy" else -1.0
        base = symbol.partition("/")[0]
        out[base] = out.get(base, 0.0) + sign * quantity
        out[quote] = out.get(quote, 0.0) - sign * quantity * price - fee
    return out


def within(ledger: float, exchange: float, *, tolerance: float) -> bool:
    return abs(exchange - ledger) <= max(DUST, tolerance * max(abs(ledger), abs(exchange)))


def reconcile(
    ledger: dict[str, float],
    exchange: dict[str, float],
    *,
    currencies: list[str],
    tolerance: float,
    known_orders: set[str],
    open_orders: list[str],
) -> Reconciliation:
    """Compare the ``currencies`` the ledger trades; an exchange order is known when its
    client order id is one the ledger sent."""
    compared = tuple(
        Difference(c, ledger.get(c, 0.0), exchange.get(c, 0.0)) for c in sorted(currencies)
    )
    return Reconciliation(
        compared=compared,
        differences=tuple(
            d for d in compared if not within(d.ledger, d.exchange, tolerance=tolerance)
        ),
        foreign_orders=tuple(sorted(o for o in open_orders if o not in known_orders)),
    )


@dataclass(frozen=True)
class Opening:
    """A live account's first figures, taken from the exchange at opt-in."""

    cash: float
    positions: dict[str, tuple[float, float]]  # symbol -> (quantity, mark used as its cost)

    @property
    def equity(self) -> float:
        return self.cash + sum(q * m for q, m in self.positions.values())


def opening_from(
    balances: dict[str, float], *, symbols: list[str], marks: dict[str, float]
) -> Opening:
    """The quote balance as cash; each traded base balance as a position at its last close
    (its cost before opt-in is unknown: P&L counts from opt-in)."""
    quote = quote_of(symbols)
    positions = {}
    for symbol in symbols:
        quantity = balances.get(symbol.partition("/")[0], 0.0)
        if abs(quantity) > DUST:
            if symbol not in marks:
                raise StateError(
                    f"no accepted close for {symbol} to value its opening balance at "
                    "(none stored, or a quality gate blocks its stream)"
                )
            positions[symbol] = (quantity, marks[symbol])
    return Opening(cash=balances.get(quote, 0.0), positions=positions)


def check_rows(account: str, result: Reconciliation, at: datetime) -> list[dict[str, object]]:
    """``trading.reconciliations`` rows of one live check."""
    rows: list[dict[str, object]] = [
        {"account": account, "checked_at": at, "kind": "check", "currency": d.currency,
         "ledger": d.ledger, "exchange": d.exchange, "agrees": d not in result.differences}
        for d in result.compared
    ]  # fmt: skip
    rows += [
        {"account": account, "checked_at": at, "kind": "foreign_order", "currency": cid,
         "ledger": None, "exchange": None, "agrees": False}
        for cid in result.foreign_orders
    ]  # fmt: skip
    return rows


def opening_rows(
    account: str, opening: Opening, symbols: list[str], at: datetime
) -> list[dict[str, object]]:
    """The balances a live account opened with, as ``trading.reconciliations`` rows."""
    quote = quote_of(symbols)
    rows: list[dict[str, object]] = [
        {"account": account, "checked_at": at, "kind": "opening", "currency": quote,
         "ledger": opening.cash, "exchange": opening.cash, "agrees": True}
    ]  # fmt: skip
    for symbol, (quantity, _) in opening.positions.items():
        base = symbol.partition("/")[0]
        rows.append({"account": account, "checked_at": at, "kind": "opening", "currency": base,
                     "ledger": quantity, "exchange": quantity, "agrees": True})  # fmt: skip
    return rows
