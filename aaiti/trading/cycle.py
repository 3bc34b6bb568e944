"""The paper-trading cycle: the broker and the risk gate over the newest closed bars.

One writer transaction per book and cycle (atomic; a rerun of the same bar changes
nothing), read like a backtest's main loop:

1. load the book (``book``), the deployed strategy and the bars to step (``sequencing``);
2. for each new closed bar time, in order: the venue prepares (``venue``: paper, or an
   exchange reconciled first), and the session steps — orders decided at the previous
   close fill at this bar's open, positions are marked at the close, equity is recorded and
   the drawdown kill switch watched; at the close, the champion's prediction for the bar
   becomes a target position, and the orders that reach it pass the pre-trade risk gate or
   are refused with the rule that refused them (``risk.breaches``);
3. save everything, with each order's lineage to the prediction and model behind it.
"""

from __future__ import annotations

import logging
import math
from dataclasses import replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import pandas as pd

from aaiti.books import BookSettingsError, books, by_quote
from aaiti.config import Settings, TradingSettings
from aaiti.execution.broker import OPEN_STATES
from aaiti.execution.core import StreamState, params_of
from aaiti.execution.session import Session, as_float, stream_bars
from aaiti.execution.spec import StrategySpec, spec_from_settings
from aaiti.market.candles import instrument, split_instrument
from aaiti.market.timeframes import bars_per_year
from aaiti.ml.tracking import model_name
from aaiti.ops import raise_alert
from aaiti.risk.gate import RiskGate
from aaiti.strategy.store import DeployedStrategy, load_state
from aaiti.strategy.switch import disabled_reason
from aaiti.trading.accounts import account_total
from aaiti.trading.book import (
    SQL,
    Con,
    ledger_row,
    load_book,
    load_gate,
    order_row,
    position_rows,
    save_risk_state,
    write_book,
)
from aaiti.trading.report import CycleRows, StepContext, TradingReport, collect, combined
from aaiti.trading.sequencing import bars_to_step, new_bars
from aaiti.trading.stale import alert_blocked_streams
from aaiti.trading.venue import Cycle, Venue, venue_for
from aaiti.warehouse import Warehouse
from aaiti.warehouse.sql import fetch_one, load_sql, run

if TYPE_CHECKING:
    from aaiti.market.exchange import CcxtOrderClient

log = logging.getLogger(__name__)


def trading_cycle(
    settings: Settings,
    *,
    warehouse: Warehouse | None = None,
    timeframe: str | None = None,
    order_client: CcxtOrderClient | None = None,
    now: datetime | None = None,
) -> TradingReport:
    """One cycle of each of the account's books (``books.books``: one per quote
    currency); ``order_client`` (from ``live.live_client``) routes orders to an exchange.
    Live, an account keeps one quote currency: the exchange's balance of a base bought
    through two quotes could not be told apart between two books. ``now`` is when the
    cycle runs (the clock, read here, by default)."""
    cfg = settings.trading
    now = now or datetime.now(UTC)
    venue = venue_for(cfg, order_client)
    parts = books(cfg)
    warehouse = warehouse or Warehouse.from_settings(settings)
    timeframe = timeframe or cfg.timeframe
    if len(parts) > 1:
        _refuse_unsplit(warehouse, cfg)
    reports = {book.account: _book_cycle(warehouse, book, timeframe, venue, now) for book in parts}
    report = combined(reports)
    if cfg.report_currency:
        with warehouse.writer(purpose=f"total of {cfg.account}") as con:
            report.total = account_total(con, cfg, currency=cfg.report_currency)
    return report


def _book_cycle(
    warehouse: Warehouse, cfg: TradingSettings, timeframe: str, venue: Venue, now: datetime
) -> TradingReport:
    venue.open(warehouse, cfg, timeframe=timeframe, now=now)
    with warehouse.writer(purpose=f"trade {cfg.account}") as con:
        report = _cycle(con, cfg, timeframe, venue, now)
    for message in report.events:
        log.warning("risk: %s", message)
    return report


def _refuse_unsplit(warehouse: Warehouse, cfg: TradingSettings) -> None:
    """An account that has traded one currency under its own name is not split into books
    silently: its positions and cash would be left where no cycle looks."""
    with warehouse.writer(purpose=f"books of {cfg.account}") as con:
        row = fetch_one(con, load_sql(SQL, "account_get"), [cfg.account])
    if row:
        raise BookSettingsError(
            f"account {cfg.account!r} holds one currency's cash and positions, and the traded "
            f"symbols now span {', '.join(by_quote(cfg.symbols))}: they would trade in new "
            f"books ({', '.join(b.account for b in books(cfg))}) and leave it behind; name a "
            "new account (AAITI_TRADING_ACCOUNT) for them"
        )


def _cycle(
    con: Con, cfg: TradingSettings, timeframe: str, venue: Venue, now: datetime
) -> TradingReport:
    """Load the book, the strategy and the new bars; step through them; save."""
    cx = Cycle(con, cfg, timeframe, load_book(con, cfg, now), CycleRows(), TradingReport(), now)
    venue.start(cx)
    gate = load_gate(con, cfg)
    spec, qualified, why = _strategy(cx)
    blocked, said = alert_blocked_streams(con, cfg, timeframe, cx.book.broker)
    cx.report.blocked += blocked
    cx.report.events += said
    peak = (fetch_one(con, load_sql(SQL, "equity_peak"), [cfg.account]) or (None,))[0]
    if peak:
        gate.state.peak_equity = max(gate.state.peak_equity or peak, peak)
    bars = _bars(cx, spec, qualified=qualified)
    if bars.empty:
        save_risk_state(con, cfg.account, gate.state, now=now)
        cx.report.halted = gate.state.halted
        return cx.report
    session = _session(cx, spec, qualified, gate)
    _step_bars(cx, session, bars, venue)
    if not qualified:
        cx.report.events.append(f"strategy {spec.name}@{spec.version} stands aside: {why}")
    _save(cx, session)
    return cx.report


def strategy_for(
    deployed: DeployedStrategy | None, cfg: TradingSettings, timeframe: str
) -> tuple[StrategySpec, bool, str]:
    """The strategy that trades, whether it may, and why (fails closed without a record)."""
    if deployed is None:
        spec = spec_from_settings(cfg.strategy, timeframe=timeframe)
        return spec, False, "no evaluated strategy: train a model first (`aaiti train`)"
    # the settings may restrict what was evaluated (no shorts, a smaller stake), never widen it
    spec = replace(
        deployed.spec,
        allow_short=deployed.spec.allow_short and cfg.allow_short,
        fraction=min(deployed.spec.fraction, cfg.fraction_per_symbol),
    )
    return spec, deployed.qualified, deployed.reason


def _strategy(cx: Cycle) -> tuple[StrategySpec, bool, str]:
    """The deployed strategy, whether it may trade and why (an operator's switch outranks
    its qualification)."""
    name, timeframe = cx.cfg.strategy_name, cx.timeframe
    spec, qualified, why = strategy_for(
        load_state(cx.con, name=name, timeframe=timeframe), cx.cfg, timeframe
    )
    off = disabled_reason(cx.con, name=name, timeframe=timeframe)
    if off is not None:
        qualified, why = False, off
    cx.report.strategy, cx.report.qualified, cx.report.strategy_reason = (
        spec.version,
        qualified,
        why,
    )
    return spec, qualified, why


def _bars(cx: Cycle, spec: StrategySpec, *, qualified: bool) -> pd.DataFrame:
    """The new bars with the pinned model's predictions, those the account steps now."""
    bars, predicted = new_bars(cx.con, cx.cfg, cx.timeframe, model_version=spec.model_version)
    if qualified and not predicted:
        cx.report.events.append(
            f"no predictions of the strategy's pinned {model_name(cx.timeframe)} "
            f"v{spec.model_version} for the new bars: no entries (is another version "
            "champion? `aaiti train` evaluates it)"
        )
    bars, said = bars_to_step(cx.con, cx.cfg, cx.timeframe, bars, cx.book.broker)
    cx.report.events += said
    return bars


def _session(cx: Cycle, spec: StrategySpec, qualified: bool, gate: RiskGate) -> Session:
    con, cfg, book = cx.con, cx.cfg, cx.book
    history = {
        instrument(ex, sym): n
        for ex, sym, n in con.execute(
            load_sql(SQL, "instrument_history"), [cx.timeframe, cfg.symbols]
        ).fetchall()
    }
    states = {
        instrument(ex, sym): StreamState(int(p), int(h), as_float(st), as_float(tg))
        for ex, sym, p, h, st, tg in con.execute(
            load_sql(SQL, "streams_get"), [cfg.account]
        ).fetchall()
    }
    return Session(
        spec=spec,
        params=params_of(spec, bars_per_year=bars_per_year(cx.timeframe)),
        account=cfg.account,
        timeframe=cx.timeframe,
        broker=book.broker,
        gate=gate,
        states=states,
        qualified=qualified,
        risk_known=_history_known(history, cfg),
        busy=lambda sym: any(
            o.symbol == sym and o.status in OPEN_STATES for o in book.live_orders.values()
        ),
    )


def _history_known(history: dict[str, int], cfg: TradingSettings) -> bool:
    """Every traded symbol has an instrument, and every instrument enough bars to judge
    the portfolio's risk (too few: the gate refuses new risk)."""
    symbols = {split_instrument(key)[1] for key in history}
    return set(cfg.symbols) <= symbols and all(n >= cfg.min_history_bars for n in history.values())


def _step_bars(cx: Cycle, session: Session, bars: pd.DataFrame, venue: Venue) -> None:
    """Each new bar time in order: the venue prepares (and says whether the close may
    decide), the session steps, the step's rows are gathered and the cursors move."""
    con, cfg, newest = cx.con, cx.cfg, bars["ts"].max()
    router = venue.router(cx)
    closes = _closes_between(cx, bars["ts"].min(), newest)
    for ts, group in bars.groupby("ts", sort=True):
        now_bars = stream_bars(group)
        _mark_at(session, closes, ts, stepped={b.instrument for b in now_bars})
        decide = venue.at_bar(cx, session, group, newest=ts == newest)
        step = session.step(ts, now_bars, decide=decide, route=router)
        collect(
            step, cx.rows, cx.book, cx.report, StepContext(cfg.account, cx.timeframe, cx.now, ts)
        )
        for b in group.itertuples(index=False):
            run(
                con,
                load_sql(SQL, "cursor_upsert"),
                [cfg.account, b.exchange, b.symbol, cx.timeframe, ts],
            )
        cx.report.bars += len(group)
    venue.finish(cx)


def _closes_between(
    cx: Cycle, first: pd.Timestamp, last: pd.Timestamp
) -> dict[tuple[str, int], float]:
    """(instrument, ts in ns since the epoch) → close."""
    rows = cx.con.sql(
        load_sql(SQL, "closes_between"),
        params=[cx.timeframe, cx.cfg.symbols, first.to_pydatetime(), last.to_pydatetime()],
    ).fetchall()
    return {
        (instrument(exchange, symbol), pd.Timestamp(ts).value): float(close)
        for exchange, symbol, ts, close in rows
    }


def _mark_at(
    session: Session, closes: dict[tuple[str, int], float], ts: pd.Timestamp, *, stepped: set[str]
) -> None:
    """Mark the held instruments that have no new bar at ``ts`` at their close at ``ts``.

    Streams' bars reach the warehouse at different cycles (another exchange, a replay a
    bar behind): a step at ``ts`` then carries only some of them, and the others' marks
    were from another bar time, so the equity row of ``ts`` mixed times (the soak's ledger
    check caught it once a lagging stream filled)."""
    broker = session.broker
    for key in broker.positions:
        close = closes.get((key, pd.Timestamp(ts).value))
        if key not in stepped and close is not None:
            broker.marks[key] = close


def _save(cx: Cycle, session: Session) -> None:
    """The book's rows, the strategy's stream states, the risk events alerted, the gate."""
    con, account, broker, now = cx.con, cx.cfg.account, cx.book.broker, cx.now
    ledger = cx.book.ledger + [
        ledger_row(account, e.ts, e.kind, e.client_order_id, e.amount, e.balance, now)
        for e in broker.ledger
    ]
    write_book(
        con,
        cx.cfg,
        cash=broker.cash,
        now=now,
        tables=[
            ("orders_now", [order_row(c, cx.book, account, now) for c in cx.rows.touched],
             "orders_upsert", SQL),
            ("fills_now", cx.rows.fills, "fills_insert", SQL),
            ("ledger_now", ledger, "ledger_insert", SQL),
            ("equity_now", cx.rows.equity, "equity_insert", SQL),
            ("positions_now", position_rows(cx.book, account, now), "positions_replace", SQL),
            ("breaches_now", cx.rows.breaches, "breaches_insert", SQL),
            ("streams_now", _stream_rows(session, account, now), "streams_upsert", "aaiti.strategy"),
            ("reconciliation_rows", cx.book.reconciliations, "reconciliations_insert", SQL),
        ],
    )  # fmt: skip
    for e in cx.rows.risk_events:
        cx.report.events.append(e.message)
        raise_alert(
            con,
            source="risk",
            severity="warning" if e.kind == "drawdown_warn" else "critical",
            dedup_key=f"risk:{account}:{e.kind}",
            message=f"{account}: {e.message}",
        )
    save_risk_state(con, account, session.gate.state, now=now)
    cx.report.equity = broker.equity()
    cx.report.halted = session.gate.state.halted


def _stream_rows(session: Session, account: str, now: datetime) -> list[dict[str, Any]]:
    return [
        {
            "account": account,
            "exchange": split_instrument(key)[0],
            "symbol": split_instrument(key)[1],
            "position": st.position,
            "held": st.held,
            "stop": None if math.isnan(st.stop) else st.stop,
            "target": None if math.isnan(st.target) else st.target,
            "updated_at": now,
        }
        for key, st in session.states.items()
    ]
