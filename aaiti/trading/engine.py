"""The paper-trading cycle: the broker and the risk gate over the newest closed bars.

One writer transaction per cycle (atomic; a rerun of the same bar changes nothing):

1. load the account, positions, open orders and risk state;
2. for each new closed bar, in time order: orders decided at the previous close fill at this
   bar's open (the broker's fill model), positions are marked at the close, equity is
   recorded and the drawdown kill switch watched;
3. at each bar's close, the champion's prediction for that bar becomes a target position
   (hysteresis); the orders that reach it pass the pre-trade risk gate or are refused with
   the rule that refused them (``risk.breaches``);
4. save everything, with each order's lineage to the prediction and model behind it.

With an order client (live trading, opted in), approved orders at the newest close go to the
exchange instead of the simulated book, and the exchange's fills are booked through the same
accounting; orders still open there are reconciled at each later bar. Older catch-up bars are
marked but never traded live: an order decided on a stale close is not sent.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import duckdb
import pandas as pd

from aaiti.config import Settings
from aaiti.market.errors import PermanentExchangeError
from aaiti.market.timeframes import timeframe_ms
from aaiti.ml.tracking import model_name
from aaiti.monitoring.alerts import raise_alert
from aaiti.risk.gate import RiskEvent, RiskGate, RiskLimits, RiskState
from aaiti.trading.broker import (
    OPEN_STATES,
    Bar,
    Order,
    OrderStatus,
    OrderType,
    PaperBroker,
    Position,
    Side,
    TimeInForce,
)
from aaiti.trading.costs import CostModel
from aaiti.trading.live import book_exchange_state, place_for_cycle
from aaiti.trading.signals import Hysteresis
from aaiti.warehouse import Warehouse
from aaiti.warehouse.sql import load_sql, one, run

if TYPE_CHECKING:
    from aaiti.market.exchange import CcxtOrderClient

log = logging.getLogger(__name__)
_SQL = "aaiti.trading"


@dataclass
class TradingReport:
    bars: int = 0
    fills: int = 0
    orders: int = 0
    rejected: int = 0
    equity: float | None = None
    halted: bool = False
    events: list[str] = field(default_factory=list)


def limits_from(settings: Settings) -> RiskLimits:
    return RiskLimits(
        max_order_notional=settings.risk_max_order_notional,
        max_position_notional=settings.risk_max_position_notional,
        max_gross_exposure=settings.risk_max_gross_exposure,
        max_daily_loss=settings.risk_max_daily_loss,
        drawdown_warn=settings.risk_drawdown_warn,
        drawdown_halt=settings.risk_drawdown_halt,
        max_consecutive_failures=settings.risk_max_consecutive_failures,
    )


def load_gate(con: duckdb.DuckDBPyConnection, settings: Settings) -> RiskGate:
    row = one(con, load_sql(_SQL, "risk_state_get"), [settings.trading_account])
    state = RiskState()
    if row:
        raw = json.loads(row[0])
        raw["day"] = pd.Timestamp(raw["day"]).date() if raw.get("day") else None
        state = RiskState(**raw)
    return RiskGate(limits_from(settings), state)


def save_gate(con: duckdb.DuckDBPyConnection, settings: Settings, gate: RiskGate) -> None:
    run(
        con,
        load_sql(_SQL, "risk_state_upsert"),
        [settings.trading_account, json.dumps(asdict(gate.state), default=str), datetime.now(UTC)],
    )


def _order_from_row(r: dict) -> Order:
    return Order(
        client_order_id=r["client_order_id"],
        symbol=r["symbol"],
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


def _fill_row(f, *, exchange: str, venue: str, now: datetime) -> dict:
    return {
        "client_order_id": f.client_order_id,
        "exchange": exchange,
        "symbol": f.symbol,
        "bar_ts": f.ts,
        "side": str(f.side),
        "quantity": f.quantity,
        "price": f.price,
        "fee": f.fee,
        "recorded_at": now,
        "venue": venue,
    }


def trading_cycle(
    settings: Settings,
    *,
    warehouse: Warehouse | None = None,
    timeframe: str | None = None,
    order_client: CcxtOrderClient | None = None,
) -> TradingReport:
    """One cycle; ``order_client`` (from ``live.live_client``) routes orders to an exchange."""
    warehouse = warehouse or Warehouse.from_settings(settings)
    timeframe = timeframe or settings.timeframe
    account = settings.trading_account
    name = model_name(timeframe)
    report = TradingReport()
    now = datetime.now(UTC)
    with warehouse.writer(purpose=f"trade {account}") as con:
        acct = one(con, load_sql(_SQL, "account_get"), [account])
        costs = CostModel(settings.trading_fee_bps, settings.trading_slippage_bps)
        broker = PaperBroker(
            cash=acct[1] if acct else settings.trading_initial_cash,
            costs=costs,
            participation_cap=settings.trading_participation_cap,
            allow_short=settings.trading_allow_short,
        )
        ledger_rows: list[dict] = []
        if not acct:
            run(con, load_sql(_SQL, "account_upsert"), [account, broker.cash, broker.cash, now])
            ledger_rows.append(
                {
                    "account": account,
                    "at_bar": now,
                    "kind": "deposit",
                    "client_order_id": None,
                    "amount": broker.cash,
                    "balance": broker.cash,
                    "recorded_at": now,
                }
            )
        exchange_of: dict[str, str] = {}
        for ex, sym, qty, avg, realized, mark in con.sql(
            load_sql(_SQL, "positions_get"), params=[account]
        ).fetchall():
            broker.positions[sym] = Position(sym, qty, avg, realized)
            if mark is not None:
                broker.marks[sym] = mark
            exchange_of[sym] = ex
        meta: dict[str, dict] = {}
        live_orders: dict[str, Order] = {}  # open on the exchange, reconciled bar by bar
        for r in (
            con.sql(load_sql(_SQL, "open_orders_get"), params=[account])
            .to_arrow_table()
            .to_pylist()
        ):
            book = live_orders if r["venue"] == "live" else broker.orders
            book[r["client_order_id"]] = _order_from_row(r)
            meta[r["client_order_id"]] = r
        if live_orders and order_client is None:
            report.events.append(
                f"{len(live_orders)} live order(s) open on the exchange are not reconciled: "
                "live trading is off for this cycle"
            )
        gate = load_gate(con, settings)
        history = dict(
            con.sql(
                load_sql(_SQL, "instrument_history"), params=[timeframe, settings.symbols]
            ).fetchall()
        )
        risk_known = all(
            history.get(s, 0) >= settings.risk_min_history_bars for s in settings.symbols
        )
        peak = one(con, load_sql(_SQL, "equity_peak"), [account])[0]
        if peak:
            gate.state.peak_equity = max(gate.state.peak_equity or peak, peak)

        bars = (
            con.sql(load_sql(_SQL, "new_bars"), params=[timeframe, settings.symbols, name, account])
            .to_arrow_table()
            .to_pandas()
        )
        if bars.empty:
            save_gate(con, settings, gate)
            report.halted = gate.state.halted
            return report
        preds = (
            con.sql(
                load_sql(_SQL, "predictions_at"),
                params=[timeframe, name, bars["ts"].min().to_pydatetime()],
            )
            .to_arrow_table()
            .to_pandas()
        )
        pred_by = {(r.symbol, pd.Timestamp(r.ts)): r for r in preds.itertuples(index=False)}
        hysteresis = Hysteresis(
            enter_long=settings.trading_enter_long, exit_long=settings.trading_exit_long
        )
        fills_rows, equity_rows, breach_rows, touched = [], [], [], set(meta)
        risk_events: list[RiskEvent] = []
        newest = bars["ts"].max()
        bar_length = timedelta(milliseconds=timeframe_ms(timeframe))
        stale_bars_skipped = 0

        for ts, group in bars.groupby("ts", sort=True):
            for b in group.itertuples(index=False):
                exchange_of[b.symbol] = b.exchange
                if order_client is not None:
                    for cid, o in live_orders.items():
                        if o.symbol != b.symbol or o.status not in OPEN_STATES:
                            continue
                        state = order_client.fetch(
                            symbol=o.symbol, exchange_order_id=meta[cid]["exchange_order_id"]
                        )
                        fill, _ = book_exchange_state(broker, o, state, ts=b.ts, fee_rate=costs.fee)
                        if fill is not None:
                            fills_rows.append(
                                _fill_row(fill, exchange=b.exchange, venue="live", now=now)
                            )
                            report.fills += 1
                        touched.add(cid)
                before = {cid: o.status for cid, o in broker.orders.items()}
                fills = broker.on_bar(b.symbol, Bar(b.ts, b.open, b.high, b.low, b.close, b.volume))
                for f in fills:
                    fills_rows.append(_fill_row(f, exchange=b.exchange, venue="paper", now=now))
                    gate.on_order_result(ok=True)
                for cid, o in broker.orders.items():
                    if before.get(cid) != o.status:
                        touched.add(cid)
                        if o.status == OrderStatus.REJECTED:
                            risk_events += gate.on_order_result(ok=False)
                report.fills += len(fills)
            equity = broker.equity()
            events = gate.on_equity(equity, day=pd.Timestamp(ts).date())
            risk_events += events
            for e in events:
                breach_rows.append(
                    {
                        "breached_at": now,
                        "account": account,
                        "rule": e.kind,
                        "symbol": None,
                        "side": None,
                        "notional": None,
                        "client_order_id": None,
                        "reason": e.message,
                    }
                )
            equity_rows.append(
                {
                    "account": account,
                    "ts": ts,
                    "cash": broker.cash,
                    "position_value": broker.position_value(),
                    "equity": equity,
                    "drawdown": gate.drawdown(equity),
                }
            )
            # decisions at this close (live: only the newest close is ever traded)
            deciding = group
            if order_client is not None and ts != newest:
                stale_bars_skipped += 1
                deciding = group.iloc[0:0]
            for b in deciding.itertuples(index=False):
                p = pred_by.get((b.symbol, pd.Timestamp(ts)))
                pos = broker.positions.get(b.symbol)
                held = pos.quantity if pos else 0.0
                current = 1 if held > 1e-12 else (-1 if held < -1e-12 else 0)
                target = hysteresis.step(current, p.probability if p is not None else float("nan"))
                if (
                    target == current
                    or any(o.symbol == b.symbol for o in broker.open_orders())
                    or any(
                        o.symbol == b.symbol and o.status in OPEN_STATES
                        for o in live_orders.values()
                    )
                ):
                    continue
                legs = []
                if current == 1:
                    legs.append(("exit", Side.SELL, {"quantity": held}, held * b.close))
                if target == 1:
                    legs.append(
                        (
                            "enter",
                            Side.BUY,
                            {"notional": settings.trading_fraction_per_symbol * equity},
                            settings.trading_fraction_per_symbol * equity,
                        )
                    )
                for leg, side, size, notional in legs:
                    cid = f"{settings.trading_strategy}:{account}:{b.exchange}:{b.symbol}:{timeframe}:{pd.Timestamp(ts).isoformat()}:{leg}"
                    positions_value = {
                        s: q.quantity * broker.marks.get(s, q.average_price)
                        for s, q in broker.positions.items()
                    }
                    decision = gate.check(
                        symbol=b.symbol,
                        side=1 if side == Side.BUY else -1,
                        notional=notional,
                        positions=positions_value,
                        equity=equity,
                        risk_known=risk_known,
                    )
                    order = Order(cid, b.symbol, side, **size)
                    venue = "paper"
                    if decision.approved and order_client is not None:
                        venue = "live"
                        live_orders[cid] = order
                        try:
                            placed = place_for_cycle(
                                order_client, order, reference_price=b.close, fee_rate=costs.fee
                            )
                        except PermanentExchangeError as err:
                            order.move(OrderStatus.REJECTED, str(err))
                            report.rejected += 1
                            risk_events += gate.on_order_result(ok=False)
                        else:
                            gate.on_order_result(ok=True)
                            fill, _ = book_exchange_state(
                                broker, order, placed, ts=ts + bar_length, fee_rate=costs.fee
                            )
                            if fill is not None:
                                fills_rows.append(
                                    _fill_row(fill, exchange=b.exchange, venue="live", now=now)
                                )
                                report.fills += 1
                            meta_extra = {"exchange_order_id": placed.exchange_order_id}
                    elif decision.approved:
                        broker.submit(order)
                    else:
                        order.status, order.reason = (
                            OrderStatus.REJECTED,
                            f"risk: {decision.reason}",
                        )
                        broker.orders.setdefault(cid, order)
                        report.rejected += 1
                        breach_rows.append(
                            {
                                "breached_at": now,
                                "account": account,
                                "rule": decision.rule,
                                "symbol": b.symbol,
                                "side": str(side),
                                "notional": notional,
                                "client_order_id": cid,
                                "reason": decision.reason,
                            }
                        )
                    touched.add(cid)
                    meta[cid] = {
                        "exchange": b.exchange,
                        "timeframe": timeframe,
                        "decided_at_bar": ts,
                        "prediction_ts": p.ts if p is not None else None,
                        "model_name": p.model_name if p is not None else None,
                        "model_version": p.model_version if p is not None else None,
                        "run_id": p.run_id if p is not None else None,
                        "created_at": now,
                        "venue": venue,
                        "exchange_order_id": None,
                    }
                    if venue == "live" and order.status != OrderStatus.REJECTED:
                        meta[cid].update(meta_extra)
                    report.orders += 1
            for b in group.itertuples(index=False):
                run(
                    con,
                    load_sql(_SQL, "cursor_upsert"),
                    [account, b.exchange, b.symbol, timeframe, ts],
                )
            report.bars += len(group)

        for entry in broker.ledger:
            ledger_rows.append(
                {
                    "account": account,
                    "at_bar": entry.ts,
                    "kind": entry.kind,
                    "client_order_id": entry.client_order_id,
                    "amount": entry.amount,
                    "balance": entry.balance,
                    "recorded_at": now,
                }
            )
        if stale_bars_skipped:
            report.events.append(
                f"live: {stale_bars_skipped} older closed bar(s) caught up without trading; "
                "only the newest close sends orders"
            )
        orders_rows = []
        for cid in touched:
            o, m = broker.orders.get(cid) or live_orders[cid], meta[cid]
            orders_rows.append(
                {
                    "client_order_id": cid,
                    "account": account,
                    "exchange": m["exchange"],
                    "symbol": o.symbol,
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
            )
        positions_rows = [
            {
                "account": account,
                "exchange": exchange_of.get(s, ""),
                "symbol": s,
                "quantity": q.quantity,
                "average_price": q.average_price,
                "realized_pnl": q.realized_pnl,
                "mark_price": broker.marks.get(s),
                "updated_at": now,
            }
            for s, q in broker.positions.items()
        ]
        for table, rows, sql in (
            ("orders_now", orders_rows, "orders_upsert"),
            ("fills_now", fills_rows, "fills_insert"),
            ("ledger_now", ledger_rows, "ledger_insert"),
            ("equity_now", equity_rows, "equity_insert"),
            ("positions_now", positions_rows, "positions_replace"),
            ("breaches_now", breach_rows, "breaches_insert"),
        ):
            if rows:
                con.register(table, pd.DataFrame(rows))
                run(con, load_sql(_SQL, sql))
                con.unregister(table)
        run(
            con,
            load_sql(_SQL, "account_upsert"),
            [account, settings.trading_initial_cash, broker.cash, now],
        )
        for e in risk_events:
            report.events.append(e.message)
            raise_alert(
                con,
                source="risk",
                severity="warning" if e.kind == "drawdown_warn" else "critical",
                dedup_key=f"risk:{account}:{e.kind}",
                message=f"{account}: {e.message}",
            )
        save_gate(con, settings, gate)
        report.equity = broker.equity()
        report.halted = gate.state.halted
    for message in report.events:
        log.warning("risk: %s", message)
    return report


def halt(settings: Settings, *, actor: str, reason: str, warehouse: Warehouse | None = None) -> str:
    """Emergency halt: no new risk from the next bar on; written to audit.log."""
    warehouse = warehouse or Warehouse.from_settings(settings)
    with warehouse.writer(purpose="halt") as con:
        gate = load_gate(con, settings)
        event = gate.halt(reason=f"{reason} (by {actor})")
        save_gate(con, settings, gate)
        run(con, load_sql(_SQL, "audit_insert"), [datetime.now(UTC), actor, "halt", reason])
        raise_alert(
            con,
            source="risk",
            severity="critical",
            dedup_key=f"risk:{settings.trading_account}:halt",
            message=f"{settings.trading_account}: {event.message}",
        )
    return event.message


def resume(settings: Settings, *, actor: str, warehouse: Warehouse | None = None) -> str:
    """Lift halts and the kill switch — refused until the drawdown has recovered."""
    warehouse = warehouse or Warehouse.from_settings(settings)
    with warehouse.writer(purpose="resume") as con:
        gate = load_gate(con, settings)
        equity_row = con.sql(
            load_sql(_SQL, "latest_equity"), params=[settings.trading_account]
        ).fetchall()
        equity = equity_row[0][0] if equity_row else settings.trading_initial_cash
        try:
            event = gate.resume(equity=equity)
        except PermissionError as err:
            run(
                con,
                load_sql(_SQL, "audit_insert"),
                [datetime.now(UTC), actor, "resume refused", str(err)],
            )
            raise
        save_gate(con, settings, gate)
        run(
            con, load_sql(_SQL, "audit_insert"), [datetime.now(UTC), actor, "resume", event.message]
        )
    return event.message
