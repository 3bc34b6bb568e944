"""Where a cycle's orders go: the paper book, or an exchange. One protocol, chosen once per
cycle (:func:`venue_for`), so the cycle never asks which one it runs on.

Live (opted in with an order client), approved orders at the newest close go to the
exchange instead of the simulated book, and the exchange's fills are booked through the
same accounting; orders still open there are reconciled at each later bar. Older catch-up
bars are marked but never traded live: an order decided on a stale close is not sent.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from functools import partial
from typing import TYPE_CHECKING, Any, Protocol

import pandas as pd

from aaiti.config import TradingSettings
from aaiti.execution.broker import OPEN_STATES, OrderStatus, Position
from aaiti.execution.session import LEGS, Intent, Router, Session
from aaiti.market.candles import instrument, split_instrument
from aaiti.market.errors import PermanentExchangeError
from aaiti.market.timeframes import timeframe_ms
from aaiti.ops import audit, raise_alert
from aaiti.trading.book import (
    SQL,
    Book,
    Con,
    fill_row,
    ledger_row,
    load_book,
    position_rows,
    write_book,
)
from aaiti.trading.live import book_exchange_state, exchange_client_id, place_for_cycle
from aaiti.trading.reconcile import (
    Opening,
    check_rows,
    ledger_balances,
    opening_from,
    opening_rows,
    quote_of,
    reconcile,
    with_unbooked,
)
from aaiti.trading.report import CycleRows, TradingReport, breach_row
from aaiti.warehouse import Warehouse
from aaiti.warehouse.sql import fetch_one, load_sql, run

if TYPE_CHECKING:
    from aaiti.market.exchange import CcxtOrderClient

log = logging.getLogger(__name__)


@dataclass
class Cycle:
    """One book's cycle: what every step of it reads and adds to."""

    con: Con
    cfg: TradingSettings
    timeframe: str
    book: Book
    rows: CycleRows
    report: TradingReport
    now: datetime


class Venue(Protocol):
    """Paper or live: how a cycle opens the book, whether a bar may decide, where the
    approved orders go."""

    def open(
        self, warehouse: Warehouse, cfg: TradingSettings, *, timeframe: str, now: datetime
    ) -> None:
        """Before the cycle, committed on its own."""

    def start(self, cx: Cycle) -> None:
        """After the book is loaded."""

    def at_bar(self, cx: Cycle, session: Session, group: pd.DataFrame, *, newest: bool) -> bool:
        """Before a bar time steps: whether its close may decide."""

    def router(self, cx: Cycle) -> Router | None:
        """Where approved orders go (None: the paper broker)."""

    def finish(self, cx: Cycle) -> None:
        """After the last bar."""


def venue_for(cfg: TradingSettings, order_client: CcxtOrderClient | None) -> Venue:
    if order_client is None:
        return PaperVenue()
    quote_of(cfg.symbols)  # live, an account keeps one quote currency
    return LiveVenue(order_client)


class PaperVenue:
    """The simulated book: every bar decides, orders fill in the paper broker."""

    def open(
        self, warehouse: Warehouse, cfg: TradingSettings, *, timeframe: str, now: datetime
    ) -> None:
        return None

    def start(self, cx: Cycle) -> None:
        if cx.book.live_orders:
            cx.report.events.append(
                f"{len(cx.book.live_orders)} live order(s) open on the exchange are not "
                "reconciled: live trading is off for this cycle"
            )

    def at_bar(self, cx: Cycle, session: Session, group: pd.DataFrame, *, newest: bool) -> bool:
        return True

    def router(self, cx: Cycle) -> Router | None:
        return None

    def finish(self, cx: Cycle) -> None:
        return None


class LiveVenue:
    """An exchange: only the newest close decides, and only when the account agrees with
    the exchange; older bars are caught up without trading."""

    def __init__(self, client: CcxtOrderClient) -> None:
        self.client = client
        self.caught_up = 0

    def open(
        self, warehouse: Warehouse, cfg: TradingSettings, *, timeframe: str, now: datetime
    ) -> None:
        """At opt-in, committed before any order can be sent."""
        with warehouse.writer(purpose=f"open {cfg.account}") as con:
            open_live_account(con, cfg, timeframe=timeframe, client=self.client, now=now)

    def start(self, cx: Cycle) -> None:
        self.caught_up = 0

    def at_bar(self, cx: Cycle, session: Session, group: pd.DataFrame, *, newest: bool) -> bool:
        self._reconcile_open_orders(cx, group)
        self.caught_up += not newest
        return newest and self._account_agrees(cx, session, group)

    def router(self, cx: Cycle) -> Router | None:
        return _live_router(self.client, cx)

    def finish(self, cx: Cycle) -> None:
        if self.caught_up:
            cx.report.events.append(
                f"live: {self.caught_up} older closed bar(s) caught up without trading; "
                "only the newest close sends orders"
            )

    def _reconcile_open_orders(self, cx: Cycle, group: pd.DataFrame) -> None:
        """Orders still open on the exchange: book what it reports for this bar's streams."""
        book = cx.book
        for b in group.itertuples(index=False):
            for cid, o in book.live_orders.items():
                if o.symbol != instrument(b.exchange, b.symbol) or o.status not in OPEN_STATES:
                    continue
                state = self.client.fetch(
                    symbol=b.symbol, exchange_order_id=book.meta[cid]["exchange_order_id"]
                )
                fill, _ = book_exchange_state(
                    book.broker, o, state, ts=b.ts, fee_rate=book.broker.costs.fee
                )
                if fill is not None:
                    cx.rows.fills.append(fill_row(fill, venue="live", now=cx.now))
                    cx.report.fills += 1
                cx.rows.touched.add(cid)

    def _account_agrees(self, cx: Cycle, session: Session, group: pd.DataFrame) -> bool:
        """Before the newest close may send orders: the ledger against the exchange's
        balances and open orders. An operator's pending acceptance is adopted first; a
        difference stops new orders this cycle, alerted, until it is explained or accepted."""
        con, cfg, book, client = cx.con, cx.cfg, cx.book, self.client
        account, quote = cfg.account, quote_of(cfg.symbols)
        balances = client.balances()
        closes = {
            b.symbol: (instrument(b.exchange, b.symbol), float(b.close))
            for b in group.itertuples(index=False)
        }
        accepted = fetch_one(con, load_sql(SQL, "reconcile_accept_pending"), [account])
        if accepted:
            _adopt(cx, balances, closes, accepted)
        # one live exchange: its balances are per currency, the ledger's per instrument there
        positions = {split_instrument(k)[1]: p.quantity for k, p in book.broker.positions.items()}
        ledger = ledger_balances(cash=book.broker.cash, quote=quote, positions=positions)
        resent = _bar_order_ids(session, group)
        known = {exchange_client_id(cid) for cid in book.live_orders} | set(resent)
        compare = partial(
            reconcile,
            exchange=balances,
            currencies=[quote, *{s.partition("/")[0] for s in cfg.symbols}],
            tolerance=cfg.reconcile_tolerance,
            known_orders=known,
            open_orders=[o.client_order_id for o in client.open_orders(cfg.symbols)],
        )
        result = compare(ledger)
        if not result.ok:  # a crashed cycle's orders for this bar are adopted, not differences
            result = compare(with_unbooked(ledger, _sent_before(client, resent), quote=quote))
        book.reconciliations += check_rows(account, result, cx.now)
        if result.ok:
            return True
        message = (
            f"{account}: the live ledger differs from the exchange — {result.message()}; no "
            "new orders until it is explained or accepted (`aaiti live accept --reason …`)"
        )
        cx.rows.breaches.append(breach_row(account, cx.now, "reconciliation", result.message()))
        raise_alert(
            con,
            source="trading",
            severity="critical",
            dedup_key=f"trading:{account}:reconcile",
            message=message,
        )
        cx.report.events.append(message)
        return False


def open_live_account(
    con: Con, cfg: TradingSettings, *, timeframe: str, client: CcxtOrderClient, now: datetime
) -> Opening | None:
    """A live account's first cycle: its cash and positions from the exchange's balances
    (None when the account exists already)."""
    account = cfg.account
    if fetch_one(con, load_sql(SQL, "account_get"), [account]):
        return None
    closes = con.sql(load_sql(SQL, "latest_closes"), params=[timeframe, cfg.symbols]).fetchall()
    marks = {symbol: close for symbol, close, _ in closes}
    opening = opening_from(client.balances(), symbols=cfg.symbols, marks=marks)
    keys = {symbol: instrument(exchange, symbol) for symbol, _, exchange in closes}
    held = {keys[s]: position for s, position in opening.positions.items()}
    book = load_book(con, cfg, now, opening=replace(opening, positions=held))
    write_book(
        con,
        cfg,
        cash=book.broker.cash,
        now=now,
        tables=[
            ("ledger_now", book.ledger, "ledger_insert", SQL),
            ("positions_now", position_rows(book, account, now), "positions_replace", SQL),
            ("reconciliation_rows", opening_rows(account, opening, cfg.symbols, now),
             "reconciliations_insert", SQL),
        ],
    )  # fmt: skip
    log.info("live account %s opens from the exchange: %s", account, opening)
    return opening


def _bar_order_ids(session: Session, group: pd.DataFrame) -> dict[str, str]:
    """Every order this bar's decisions can send (each stream, each leg): exchange id →
    symbol."""
    return {
        exchange_client_id(
            session.order_id(exchange=b.exchange, symbol=b.symbol, ts=b.ts, leg=leg)
        ): b.symbol
        for b in group.itertuples(index=False)
        for leg in LEGS
    }


def _sent_before(
    client: CcxtOrderClient, ids: dict[str, str]
) -> list[tuple[str, str, float, float, float]]:
    """Fills of orders the exchange holds under this bar's ids: a cycle that crashed after
    sending them; this cycle adopts them when the bar decides again."""
    fills = []
    for exchange_id, symbol in ids.items():
        found = client.find(symbol=symbol, client_order_id=exchange_id)
        if found is not None and found.filled:
            fee, _ = found.fee_in_quote()
            fills.append((found.symbol, found.side, found.filled, found.average or 0.0, fee))
    return fills


def _adopt(
    cx: Cycle,
    balances: dict[str, float],
    closes: dict[str, tuple[str, float]],  # symbol → (its instrument, this bar's close)
    accepted: tuple[Any, ...],
) -> None:
    """An operator accepted the exchange's figures: the ledger takes them (a cash
    adjustment in the ledger; positions set to the balances, new ones at this close)."""
    cfg, broker, now = cx.cfg, cx.book.broker, cx.now
    account, quote = cfg.account, quote_of(cfg.symbols)
    before = {"cash": broker.cash, **{s: p.quantity for s, p in broker.positions.items()}}
    delta = balances.get(quote, 0.0) - broker.cash
    broker.cash += delta
    cx.book.ledger.append(ledger_row(account, now, "adjustment", None, delta, broker.cash, now))
    held_as = {split_instrument(k)[1]: k for k in broker.positions}
    for symbol in cfg.symbols:
        quantity = balances.get(symbol.partition("/")[0], 0.0)
        held = broker.positions.get(held_as.get(symbol, ""))
        if held is not None:
            held.quantity = quantity
        elif abs(quantity) > 1e-8:
            key, close = closes[symbol]
            broker.positions[key] = Position(key, quantity, close, 0.0)
    after = {"cash": broker.cash, **{s: p.quantity for s, p in broker.positions.items()}}
    at, actor, reason = accepted
    run(cx.con, load_sql(SQL, "reconcile_accept_applied"), [account, now])
    detail = {"account": account, "reason": reason, "accepted_at": str(at),
              "before": before, "after": after}  # fmt: skip
    audit(cx.con, actor=actor, action="reconcile adopt", detail=json.dumps(detail), at=now)


def _live_router(client: CcxtOrderClient, cx: Cycle) -> Router:
    """Approved orders go to the exchange; its fills are booked through the same broker."""
    bar_length = timedelta(milliseconds=timeframe_ms(cx.timeframe))
    book, rows, report = cx.book, cx.rows, cx.report

    def route(intent: Intent, session: Session) -> None:
        order, b, broker, gate = intent.order, intent.bar, session.broker, session.gate
        book.live_orders[order.client_order_id] = order
        try:
            placed = place_for_cycle(
                client, order, symbol=b.symbol, reference_price=b.close, fee_rate=broker.costs.fee
            )
        except PermanentExchangeError as err:
            order.move(OrderStatus.REJECTED, str(err))
            report.rejected += 1
            rows.risk_events.extend(gate.on_order_result(ok=False))
            return
        gate.on_order_result(ok=True)
        book.meta.setdefault(order.client_order_id, {})["exchange_order_id"] = (
            placed.exchange_order_id
        )
        fill, _ = book_exchange_state(
            broker, order, placed, ts=b.ts + bar_length, fee_rate=broker.costs.fee
        )
        if fill is not None:
            rows.fills.append(fill_row(fill, venue="live", now=cx.now))
            cx.report.fills += 1

    return route
