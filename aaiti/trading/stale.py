"""An operator's hand on a stale position: one held on a stream its quality gate blocks.

The strategy cannot manage such a position (no accepted price, no orders), so it stays
marked at its last accepted close and is alerted every cycle. An operator may:

- **close** it: a paper fill at that last accepted close, with the fee and slippage of
  every other fill, recorded as an order, fill, ledger entries and a flat strategy state;
- **release** it: keep it, marked and counted in exposure, but stop the stale alert while
  the stream stays blocked (the cycle drops the release once the stream passes again).

Both are audited (``audit.log``) with who and why. Live positions are closed on the
exchange, where the next cycle reconciles them; these commands refuse them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import duckdb
import pandas as pd

from aaiti.config import Settings, TradingSettings
from aaiti.ops import audit
from aaiti.trading.broker import Fill, Order, OrderType, Side
from aaiti.trading.engine import (
    Book,
    _fill_row,
    _ledger_row,
    _load_book,
    _order_row,
    write_book,
)
from aaiti.warehouse import Warehouse
from aaiti.warehouse.sql import load_sql, one, run

_SQL = "aaiti.trading"


class NotStaleError(ValueError):
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


def _stale(
    con: duckdb.DuckDBPyConnection, cfg: TradingSettings, book: Book, symbol: str
) -> tuple[str, float, float]:
    """(exchange, quantity, last accepted mark) of a stale position, or NotStaleError."""
    if cfg.live:
        raise NotStaleError(
            "live trading is on: close the position on the exchange (the next cycle "
            "reconciles it); these commands act on paper positions"
        )
    pos = book.broker.positions.get(symbol)
    if pos is None or abs(pos.quantity) <= 1e-12:
        held = sorted(s for s, p in book.broker.positions.items() if abs(p.quantity) > 1e-12)
        raise NotStaleError(f"no position in {symbol}; positions held: {held or 'none'}")
    blocked = {
        sym: ex
        for ex, sym, _, _ in con.execute(
            load_sql(_SQL, "blocked_streams"), [cfg.timeframe, [symbol]]
        ).fetchall()
    }
    if symbol not in blocked:
        raise NotStaleError(
            f"{symbol}'s stream is not blocked: the strategy manages its position "
            "(`aaiti halt` stops all new risk)"
        )
    mark = book.broker.marks.get(symbol, pos.average_price)
    return blocked[symbol], pos.quantity, mark


def close_stale(
    settings: Settings, symbol: str, *, actor: str, reason: str, warehouse: Warehouse | None = None
) -> StaleAction:
    """Close a stale paper position at its last accepted close, net of costs (audited)."""
    warehouse, cfg = warehouse or Warehouse.from_settings(settings), settings.trading
    now, account = datetime.now(UTC), cfg.account
    with warehouse.writer(purpose=f"close stale {symbol}") as con:
        book = _load_book(con, cfg, now)
        exchange, qty, mark = _stale(con, cfg, book, symbol)
        row = one(con, load_sql(_SQL, "cursor_get"), [account, exchange, symbol, cfg.timeframe])
        bar_ts = pd.Timestamp(row[0]) if row else pd.Timestamp(now)
        broker = book.broker
        side = Side.SELL if qty > 0 else Side.BUY
        price = mark * ((1 - broker.costs.slippage) if qty > 0 else (1 + broker.costs.slippage))
        fee = broker.costs.fee_on(abs(qty) * price)
        cid = f"operator-close:{symbol}:{now:%Y%m%dT%H%M%S}"
        order = Order(cid, symbol, side, OrderType.MARKET, quantity=abs(qty), reason=reason)
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
        _save_close(con, cfg, book, fill, exchange, now)
        run(con, load_sql(_SQL, "stale_release_delete"), [account, exchange, symbol])
        audit(con, actor=actor, action="position close", detail=message, at=now)
    return StaleAction("close", exchange, symbol, qty, price, fee, message)


def _save_close(
    con: duckdb.DuckDBPyConnection,
    cfg: TradingSettings,
    book: Book,
    fill: Fill,
    exchange: str,
    now: datetime,
) -> None:
    account, broker = cfg.account, book.broker
    pos = broker.positions[fill.symbol]
    tables = [
        ("orders_now", [_order_row(fill.client_order_id, book, account, now)], "orders_upsert", _SQL),
        ("fills_now", [_fill_row(fill, exchange=exchange, venue="paper", now=now)], "fills_insert", _SQL),
        ("ledger_now", [
            _ledger_row(account, e.ts, e.kind, e.client_order_id, e.amount, e.balance, now)
            for e in broker.ledger
        ], "ledger_insert", _SQL),
        ("positions_now", [
            {"account": account, "exchange": exchange, "symbol": fill.symbol,
             "quantity": pos.quantity, "average_price": pos.average_price,
             "realized_pnl": pos.realized_pnl, "mark_price": broker.marks.get(fill.symbol),
             "updated_at": now}
        ], "positions_replace", _SQL),
        ("streams_now", [
            {"account": account, "exchange": exchange, "symbol": fill.symbol, "position": 0,
             "held": 0, "stop": None, "target": None, "updated_at": now}
        ], "streams_upsert", "aaiti.strategy"),
    ]  # fmt: skip
    write_book(con, cfg, cash=broker.cash, now=now, tables=tables)


def release_stale(
    settings: Settings, symbol: str, *, actor: str, reason: str, warehouse: Warehouse | None = None
) -> StaleAction:
    """Keep a stale position but stop alerting it while its stream stays blocked (audited)."""
    warehouse, cfg = warehouse or Warehouse.from_settings(settings), settings.trading
    now, account = datetime.now(UTC), cfg.account
    with warehouse.writer(purpose=f"release stale {symbol}") as con:
        book = _load_book(con, cfg, now)
        exchange, qty, mark = _stale(con, cfg, book, symbol)
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
