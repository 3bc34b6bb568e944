"""The account's book as the warehouse holds it: loaded into the paper broker at the start
of a cycle, written back at its end, and the risk gate's state beside it. The one way a
cycle or an operator's action reads and writes the book."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

import duckdb
import pandas as pd

from aaiti.books import plain_amount
from aaiti.config import TradingSettings
from aaiti.execution.broker import (
    Fill,
    Order,
    OrderStatus,
    OrderType,
    PaperBroker,
    Position,
    Side,
    TimeInForce,
)
from aaiti.execution.costs import CostModel
from aaiti.market.candles import instrument, split_instrument
from aaiti.risk.gate import RiskGate, RiskState
from aaiti.trading.reconcile import Opening
from aaiti.warehouse.sql import fetch_one, load_sql, run

Row = dict[str, Any]  # one warehouse row
Con = duckdb.DuckDBPyConnection
SQL = "aaiti.trading"


@dataclass
class Book:
    """The account as the warehouse holds it, loaded into the broker (which keys positions,
    marks and orders by instrument: ``exchange:symbol``)."""

    broker: PaperBroker
    ledger: list[Row]
    meta: dict[str, Row]
    live_orders: dict[str, Order]
    reconciliations: list[Row] = field(default_factory=list)


def load_book(
    con: Con, cfg: TradingSettings, now: datetime, *, opening: Opening | None = None
) -> Book:
    """The account; a new one starts from ``opening`` (a live account's exchange balances)
    or from the configured initial cash."""
    account = cfg.account
    acct = fetch_one(con, load_sql(SQL, "account_get"), [account])
    start = opening or Opening(cash=plain_amount(cfg.initial_cash), positions={})
    broker = PaperBroker(
        cash=acct[1] if acct else start.cash,
        costs=CostModel(cfg.fee_bps, cfg.slippage_bps),
        participation_cap=cfg.participation_cap,
        allow_short=cfg.allow_short,
    )
    book = Book(broker, [], {}, {})
    if not acct:
        run(con, load_sql(SQL, "account_upsert"), [account, start.equity, broker.cash, now])
        book.ledger.append(ledger_row(account, now, "deposit", None, broker.cash, broker.cash, now))
        for key, (quantity, mark) in start.positions.items():
            broker.positions[key] = Position(key, quantity, mark, 0.0)
            broker.marks[key] = mark
    for ex, sym, qty, avg, realized, mark in con.sql(
        load_sql(SQL, "positions_get"), params=[account]
    ).fetchall():
        key = instrument(ex, sym)
        broker.positions[key] = Position(key, qty, avg, realized)
        if mark is not None:
            broker.marks[key] = mark
    for r in (
        con.sql(load_sql(SQL, "open_orders_get"), params=[account]).to_arrow_table().to_pylist()
    ):
        target = book.live_orders if r["venue"] == "live" else broker.orders
        target[r["client_order_id"]] = order_from_row(r)
        book.meta[r["client_order_id"]] = r
    return book


def order_from_row(r: Row) -> Order:
    return Order(
        client_order_id=r["client_order_id"],
        symbol=instrument(r["exchange"], r["symbol"]),
        side=Side(r["side"]),
        type=OrderType(r["order_type"]),
        quantity=r["quantity"],
        notional=r["notional"],
        limit_price=r["limit_price"],
        stop_price=r["stop_price"],
        tif=TimeInForce(r["time_in_force"]),
        status=OrderStatus(r["status"]),
        filled_quantity=r["filled_quantity"],
        average_price=r["average_price"],
        reason=r["reason"],
    )


def fill_row(f: Fill, *, venue: str, now: datetime) -> Row:
    exchange, symbol = split_instrument(f.symbol)
    return {
        "client_order_id": f.client_order_id,
        "exchange": exchange,
        "symbol": symbol,
        "bar_ts": f.ts,
        "side": str(f.side),
        "quantity": f.quantity,
        "price": f.price,
        "fee": f.fee,
        "recorded_at": now,
        "venue": venue,
    }


def ledger_row(
    account: str,
    at_bar: object,
    kind: str,
    cid: str | None,
    amount: float,
    balance: float,
    now: datetime,
) -> Row:
    return {
        "account": account,
        "at_bar": at_bar,
        "kind": kind,
        "client_order_id": cid,
        "amount": amount,
        "balance": balance,
        "recorded_at": now,
    }


def position_rows(book: Book, account: str, now: datetime) -> list[Row]:
    broker = book.broker
    return [
        {
            "account": account,
            "exchange": split_instrument(key)[0],
            "symbol": split_instrument(key)[1],
            "quantity": q.quantity,
            "average_price": q.average_price,
            "realized_pnl": q.realized_pnl,
            "mark_price": broker.marks.get(key),
            "updated_at": now,
        }
        for key, q in broker.positions.items()
    ]


def order_row(cid: str, book: Book, account: str, now: datetime) -> Row:
    o, m = book.broker.orders.get(cid) or book.live_orders[cid], book.meta[cid]
    return {
        "client_order_id": cid,
        "account": account,
        "exchange": split_instrument(o.symbol)[0],
        "symbol": split_instrument(o.symbol)[1],
        "timeframe": m["timeframe"],
        "side": str(o.side),
        "order_type": str(o.type),
        "quantity": o.quantity,
        "notional": o.notional,
        "limit_price": o.limit_price,
        "stop_price": o.stop_price,
        "time_in_force": str(o.tif),
        "status": str(o.status),
        "filled_quantity": o.filled_quantity,
        "average_price": o.average_price,
        "reason": o.reason,
        "decided_at_bar": m["decided_at_bar"],
        "prediction_ts": m.get("prediction_ts"),
        "model_name": m.get("model_name"),
        "model_version": m.get("model_version"),
        "run_id": m.get("run_id"),
        "created_at": m.get("created_at", now),
        "updated_at": now,
        "venue": m.get("venue", "paper"),
        "exchange_order_id": m.get("exchange_order_id"),
    }


def write_book(
    con: Con,
    cfg: TradingSettings,
    *,
    cash: float,
    now: datetime,
    tables: list[tuple[str, list[Row], str, str]],
) -> None:
    """The account's rows, each (view, rows, named SQL, package) that has any, and its cash:
    the one way a cycle or an operator's action writes the book."""
    for table, data, sql, package in tables:
        if data:
            con.register(table, pd.DataFrame(data))
            run(con, load_sql(package, sql))
            con.unregister(table)
    run(
        con,
        load_sql(SQL, "account_upsert"),
        [cfg.account, plain_amount(cfg.initial_cash), cash, now],
    )


def load_gate(con: Con, cfg: TradingSettings) -> RiskGate:
    return RiskGate(cfg.risk, risk_state(con, cfg.account))


def risk_state(con: Con, account: str) -> RiskState:
    row = fetch_one(con, load_sql(SQL, "risk_state_get"), [account])
    if not row:
        return RiskState()
    raw = json.loads(row[0])
    raw["day"] = pd.Timestamp(raw["day"]).date() if raw.get("day") else None
    return RiskState(**raw)


def save_risk_state(con: Con, account: str, state: RiskState, *, now: datetime) -> None:
    run(
        con,
        load_sql(SQL, "risk_state_upsert"),
        [account, json.dumps(asdict(state), default=str), now],
    )
