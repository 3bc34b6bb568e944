"""An operator's hand on a stale position: one held on a stream its quality gate blocks.

The strategy cannot manage such a position (no accepted price, no orders), so it stays
marked at its last accepted close and is alerted every cycle. An operator may:

- **close** it: a paper fill at that last accepted close, with the fee and slippage of
  every other fill, recorded as an order, fill, ledger entries and a flat strategy state;
- **release** it: keep it, marked and counted in exposure, but stop the stale alert while
  the stream stays blocked (the cycle drops the release once the stream passes again).

Each cycle says which streams are blocked and alerts the stale positions on them
(:func:`alert_blocked_streams`). Both operator actions are audited (``audit.log``) with
who and why. Live positions are closed on the
exchange, where the next cycle reconciles them; these commands refuse them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import duckdb
import pandas as pd

from aaiti.books import book_of
from aaiti.config import Settings, TradingSettings
from aaiti.errors import RefusedError
from aaiti.execution.broker import Fill, Order, OrderType, PaperBroker, Side
from aaiti.market.candles import instrument, split_instrument
from aaiti.ops import audit, raise_alert
from aaiti.trading.book import Book, fill_row, ledger_row, load_book, order_row, write_book
from aaiti.warehouse import Warehouse
from aaiti.warehouse.sql import fetch_one, load_sql, run

_SQL = "aaiti.trading"


class NotStaleError(RefusedError, ValueError):
    """The position is not stale: no position, or its stream is not blocked."""


@dataclass(frozen=True)
class StaleAction:
    action: str  # close | release
    exchange: str
    symbol: str
    quantity: float
    price: float | None
    fee: float
    message: str


@dataclass(frozen=True)
class _Held:
    """A stale position: its instrument, quantity and last accepted mark."""

    exchange: str
    symbol: str
    quantity: float
    mark: float

    @property
    def key(self) -> str:
        return instrument(self.exchange, self.symbol)


def _held(book: Book, name: str) -> str:
    """The instrument held under ``name``: ``exchange:symbol``, or a symbol held on one
    exchange only (on several, the operator must say which)."""
    held = sorted(k for k, p in book.broker.positions.items() if abs(p.quantity) > 1e-12)
    found = [k for k in held if name in (k, split_instrument(k)[1])]
    if not found:
        raise NotStaleError(f"no position in {name}; positions held: {held or 'none'}")
    if len(found) > 1:
        raise NotStaleError(
            f"{name} is held on {len(found)} exchanges ({', '.join(found)}): name one as "
            "exchange:symbol"
        )
    return found[0]


def _stale(con: duckdb.DuckDBPyConnection, cfg: TradingSettings, book: Book, name: str) -> _Held:
    """The stale position held under ``name``, or NotStaleError."""
    if cfg.live:
        raise NotStaleError(
            "live trading is on: close the position on the exchange (the next cycle "
            "reconciles it); these commands act on paper positions"
        )
    key = _held(book, name)
    exchange, symbol = split_instrument(key)
    blocked = {
        instrument(ex, sym)
        for ex, sym, _, _ in con.execute(
            load_sql(_SQL, "blocked_streams"), [cfg.timeframe, [symbol]]
        ).fetchall()
    }
    if key not in blocked:
        raise NotStaleError(
            f"{key}'s stream is not blocked: the strategy manages its position "
            "(`aaiti halt` stops all new risk)"
        )
    pos = book.broker.positions[key]
    return _Held(exchange, symbol, pos.quantity, book.broker.marks.get(key, pos.average_price))


def close_stale(
    settings: Settings, symbol: str, *, actor: str, reason: str, warehouse: Warehouse | None = None
) -> StaleAction:
    """Close a stale paper position at its last accepted close, net of costs (audited)."""
    warehouse = warehouse or Warehouse.from_settings(settings)
    cfg = book_of(settings.trading, symbol)
    now, account = datetime.now(UTC), cfg.account
    with warehouse.writer(purpose=f"close stale {symbol}") as con:
        book = load_book(con, cfg, now)
        held = _stale(con, cfg, book, symbol)
        exchange, symbol, qty, mark = held.exchange, held.symbol, held.quantity, held.mark
        row = fetch_one(
            con, load_sql(_SQL, "cursor_get"), [account, exchange, symbol, cfg.timeframe]
        )
        bar_ts = pd.Timestamp(row[0]) if row else pd.Timestamp(now)
        broker = book.broker
        side = Side.SELL if qty > 0 else Side.BUY
        price = mark * ((1 - broker.costs.slippage) if qty > 0 else (1 + broker.costs.slippage))
        fee = broker.costs.fee_on(abs(qty) * price)
        cid = f"operator-close:{held.key}:{now:%Y%m%dT%H%M%S}"
        order = Order(cid, held.key, side, OrderType.MARKET, quantity=abs(qty), reason=reason)
        broker.orders[cid] = order
        book.meta[cid] = {
            "exchange": exchange, "timeframe": cfg.timeframe, "decided_at_bar": bar_ts,
            "created_at": now, "venue": "paper",
        }  # fmt: skip
        fill = broker.book_fill(order, ts=bar_ts, quantity=abs(qty), price=price, fee=fee)
        message = (
            f"{account}: stale {symbol} position of {qty:.8g} closed by {actor} at the last "
            f"accepted close {mark:.8g} (filled {price:.8g}, fee {fee:.2f}) — {reason}"
        )
        _save_close(con, cfg, book, fill, now)
        run(con, load_sql(_SQL, "stale_release_delete"), [account, exchange, symbol])
        audit(con, actor=actor, action="position close", detail=message, at=now)
    return StaleAction("close", exchange, symbol, qty, price, fee, message)


def _save_close(
    con: duckdb.DuckDBPyConnection,
    cfg: TradingSettings,
    book: Book,
    fill: Fill,
    now: datetime,
) -> None:
    account, broker = cfg.account, book.broker
    pos = broker.positions[fill.symbol]
    exchange, symbol = split_instrument(fill.symbol)
    tables = [
        ("orders_now", [order_row(fill.client_order_id, book, account, now)], "orders_upsert", _SQL),
        ("fills_now", [fill_row(fill, venue="paper", now=now)], "fills_insert", _SQL),
        ("ledger_now", [
            ledger_row(account, e.ts, e.kind, e.client_order_id, e.amount, e.balance, now)
            for e in broker.ledger
        ], "ledger_insert", _SQL),
        ("positions_now", [
            {"account": account, "exchange": exchange, "symbol": symbol,
             "quantity": pos.quantity, "average_price": pos.average_price,
             "realized_pnl": pos.realized_pnl, "mark_price": broker.marks.get(fill.symbol),
             "updated_at": now}
        ], "positions_replace", _SQL),
        ("streams_now", [
            {"account": account, "exchange": exchange, "symbol": symbol, "position": 0,
             "held": 0, "stop": None, "target": None, "updated_at": now}
        ], "streams_upsert", "aaiti.strategy"),
    ]  # fmt: skip
    write_book(con, cfg, cash=broker.cash, now=now, tables=tables)


def release_stale(
    settings: Settings, symbol: str, *, actor: str, reason: str, warehouse: Warehouse | None = None
) -> StaleAction:
    """Keep a stale position but stop alerting it while its stream stays blocked (audited)."""
    warehouse = warehouse or Warehouse.from_settings(settings)
    cfg = book_of(settings.trading, symbol)
    now, account = datetime.now(UTC), cfg.account
    with warehouse.writer(purpose=f"release stale {symbol}") as con:
        book = load_book(con, cfg, now)
        held = _stale(con, cfg, book, symbol)
        exchange, symbol, qty, mark = held.exchange, held.symbol, held.quantity, held.mark
        run(
            con,
            load_sql(_SQL, "stale_release_insert"),
            [account, exchange, symbol, qty, mark, actor, reason, now],
        )
        message = (
            f"{account}: stale {symbol} position of {qty:.8g} released by {actor}: kept, "
            f"marked at {mark:.8g} and counted in exposure, not alerted while the stream "
            f"stays blocked — {reason}"
        )
        audit(con, actor=actor, action="position release", detail=message, at=now)
    return StaleAction("release", exchange, symbol, qty, mark, 0.0, message)


def alert_blocked_streams(
    con: duckdb.DuckDBPyConnection, cfg: TradingSettings, timeframe: str, broker: PaperBroker
) -> tuple[list[str], list[str]]:
    """(the streams a gate blocks, what to say of each). A position held on one is alerted
    as stale, unless an operator released it (``aaiti position release``); a release
    ends when its stream passes again."""
    account = cfg.account
    released = {
        (ex, sym): (actor, why)
        for ex, sym, actor, why, _ in con.execute(
            load_sql(_SQL, "stale_releases_get"), [account]
        ).fetchall()
    }
    blocked = con.sql(load_sql(_SQL, "blocked_streams"), params=[timeframe, cfg.symbols]).fetchall()
    keys, said = [], []
    for exchange, symbol, reason, since in blocked:
        key = instrument(exchange, symbol)
        keys.append(key)
        message = f"{key} is blocked by its quality gate since {since} ({reason})"
        pos = broker.positions.get(key)
        if pos is not None and abs(pos.quantity) > 1e-12:
            mark = broker.marks.get(key, pos.average_price)
            message += (
                f"; the position of {pos.quantity:.8g} is STALE, marked at its last accepted "
                f"close {mark:.8g}; no orders until the stream passes again"
            )
            if (exchange, symbol) in released:
                actor, why = released[(exchange, symbol)]
                message += f" (released by {actor}: {why}; not alerted)"
            else:
                raise_alert(
                    con,
                    source="trading",
                    severity="critical",
                    dedup_key=f"trading:{account}:{exchange}:{symbol}:stale",
                    message=f"{account}: {message}",
                )
        said.append(message)
    still = {(ex, sym) for ex, sym, _, _ in blocked}
    for exchange, symbol in set(released) - still:  # the stream passes again
        run(con, load_sql(_SQL, "stale_release_delete"), [account, exchange, symbol])
    return keys, said
