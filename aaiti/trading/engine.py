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
import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import TYPE_CHECKING, Any

import duckdb
import pandas as pd

from aaiti.config import Settings, TradingSettings
from aaiti.market.candles import instrument, split_instrument
from aaiti.market.errors import PermanentExchangeError
from aaiti.market.timeframes import bars_per_year, timeframe_ms
from aaiti.ml.tracking import model_name
from aaiti.ops import audit, raise_alert
from aaiti.risk.gate import RiskEvent, RiskGate, RiskLimits, RiskState
from aaiti.strategy.core import StreamState, params_of
from aaiti.strategy.session import LEGS, Intent, Session, StepResult, stream_bars
from aaiti.strategy.spec import StrategySpec, spec_from_settings
from aaiti.strategy.store import DeployedStrategy, load_state
from aaiti.strategy.switch import disabled_reason
from aaiti.trading.accounts import (
    BookSettingsError,
    Total,
    account_total,
    books,
    by_quote,
    number,
)
from aaiti.trading.broker import (
    OPEN_STATES,
    Fill,
    Order,
    OrderStatus,
    OrderType,
    PaperBroker,
    Position,
    Side,
    TimeInForce,
)
from aaiti.trading.costs import CostModel
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
from aaiti.warehouse import Warehouse
from aaiti.warehouse.sql import load_sql, one, run

Row = dict[str, Any]  # one warehouse row
Con = duckdb.DuckDBPyConnection

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
    blocked: list[str] = field(default_factory=list)  # streams a quality gate blocks
    strategy: str | None = None  # the version that traded
    qualified: bool | None = None
    strategy_reason: str = ""
    books: dict[str, TradingReport] = field(default_factory=dict)  # per quote currency
    total: Total | None = None  # the books in AAITI_TRADING_REPORT_CURRENCY, when set


def limits_from(cfg: TradingSettings) -> RiskLimits:
    r = cfg.risk
    return RiskLimits(
        max_order_notional=number(r.max_order_notional),
        max_position_notional=number(r.max_position_notional),
        per_symbol_position_notional=dict(r.position_limits),
        max_gross_exposure=r.max_gross_exposure,
        max_daily_loss=r.max_daily_loss,
        drawdown_warn=r.drawdown_warn,
        drawdown_halt=r.drawdown_halt,
        max_consecutive_failures=r.max_consecutive_failures,
    )


def load_gate(con: duckdb.DuckDBPyConnection, cfg: TradingSettings) -> RiskGate:
    return RiskGate(limits_from(cfg), _risk_state(con, cfg.account))


def _risk_state(con: duckdb.DuckDBPyConnection, account: str) -> RiskState:
    row = one(con, load_sql(_SQL, "risk_state_get"), [account])
    if not row:
        return RiskState()
    raw = json.loads(row[0])
    raw["day"] = pd.Timestamp(raw["day"]).date() if raw.get("day") else None
    return RiskState(**raw)


def save_gate(con: duckdb.DuckDBPyConnection, cfg: TradingSettings, gate: RiskGate) -> None:
    _save_state(con, cfg.account, gate.state)


def _save_state(con: duckdb.DuckDBPyConnection, account: str, state: RiskState) -> None:
    run(
        con,
        load_sql(_SQL, "risk_state_upsert"),
        [account, json.dumps(asdict(state), default=str), datetime.now(UTC)],
    )


def _order_from_row(r: Row) -> Order:
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


def _fill_row(f: Fill, *, venue: str, now: datetime) -> Row:
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


@dataclass
class Book:
    """The account as the warehouse holds it, loaded into the broker (which keys positions,
    marks and orders by instrument: ``exchange:symbol``)."""

    broker: PaperBroker
    ledger: list[Row]
    meta: dict[str, Row]
    live_orders: dict[str, Order]
    reconciliations: list[Row] = field(default_factory=list)


def _load_book(
    con: duckdb.DuckDBPyConnection,
    cfg: TradingSettings,
    now: datetime,
    *,
    opening: Opening | None = None,
) -> Book:
    """The account; a new one starts from ``opening`` (a live account's exchange balances)
    or from the configured initial cash."""
    account = cfg.account
    acct = one(con, load_sql(_SQL, "account_get"), [account])
    start = opening or Opening(cash=number(cfg.initial_cash), positions={})
    broker = PaperBroker(
        cash=acct[1] if acct else start.cash,
        costs=CostModel(cfg.fee_bps, cfg.slippage_bps),
        participation_cap=cfg.participation_cap,
        allow_short=cfg.allow_short,
    )
    book = Book(broker, [], {}, {})
    if not acct:
        run(con, load_sql(_SQL, "account_upsert"), [account, start.equity, broker.cash, now])
        book.ledger.append(
            _ledger_row(account, now, "deposit", None, broker.cash, broker.cash, now)
        )
        for key, (quantity, mark) in start.positions.items():
            broker.positions[key] = Position(key, quantity, mark, 0.0)
            broker.marks[key] = mark
    for ex, sym, qty, avg, realized, mark in con.sql(
        load_sql(_SQL, "positions_get"), params=[account]
    ).fetchall():
        key = instrument(ex, sym)
        broker.positions[key] = Position(key, qty, avg, realized)
        if mark is not None:
            broker.marks[key] = mark
    for r in (
        con.sql(load_sql(_SQL, "open_orders_get"), params=[account]).to_arrow_table().to_pylist()
    ):
        target = book.live_orders if r["venue"] == "live" else broker.orders
        target[r["client_order_id"]] = _order_from_row(r)
        book.meta[r["client_order_id"]] = r
    return book


def _ledger_row(
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


def _num(x: Any) -> float:
    return float("nan") if x is None or pd.isna(x) else float(x)


def with_predictions(bars: pd.DataFrame, preds: pd.DataFrame) -> pd.DataFrame:
    """Each bar with its prediction of the pinned model version (NaN where none)."""
    p = preds.rename(columns={"ts": "prediction_ts"}).assign(ts=lambda f: f["prediction_ts"])
    cols = ["exchange", "symbol", "ts", "prediction_ts", "probability", "model_name",
            "model_version", "run_id", "atr_14", "realized_vol_20"]  # fmt: skip
    return bars.merge(p[cols], on=["exchange", "symbol", "ts"], how="left")


def _blocked(
    con: Con, cfg: TradingSettings, timeframe: str, book: Book, report: TradingReport
) -> None:
    """Streams a gate blocks: said, and a position held there alerted as stale (unless an
    operator released it: ``aaiti position release``; a release ends when the stream passes)."""
    account = cfg.account
    released = {
        (ex, sym): (actor, why)
        for ex, sym, actor, why, _ in con.execute(
            load_sql(_SQL, "stale_releases_get"), [account]
        ).fetchall()
    }
    blocked = con.sql(load_sql(_SQL, "blocked_streams"), params=[timeframe, cfg.symbols]).fetchall()
    for exchange, symbol, reason, since in blocked:
        key = instrument(exchange, symbol)
        report.blocked.append(key)
        pos = book.broker.positions.get(key)
        message = f"{key} is blocked by its quality gate since {since} ({reason})"
        if pos is not None and abs(pos.quantity) > 1e-12:
            mark = book.broker.marks.get(key, pos.average_price)
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
        report.events.append(message)
    still = {(ex, sym) for ex, sym, _, _ in blocked}
    for exchange, symbol in set(released) - still:  # the stream passes again
        run(con, load_sql(_SQL, "stale_release_delete"), [account, exchange, symbol])


def _breach(
    account: str, now: datetime, rule: str, reason: str, intent: Intent | None = None
) -> Row:
    return {
        "breached_at": now,
        "account": account,
        "rule": rule,
        "symbol": intent.bar.symbol if intent else None,
        "side": str(intent.order.side) if intent else None,
        "notional": intent.notional if intent else None,
        "client_order_id": intent.order.client_order_id if intent else None,
        "reason": reason,
    }


def trading_cycle(
    settings: Settings,
    *,
    warehouse: Warehouse | None = None,
    timeframe: str | None = None,
    order_client: CcxtOrderClient | None = None,
) -> TradingReport:
    """One cycle of each of the account's books (``accounts.books``: one per quote
    currency); ``order_client`` (from ``live.live_client``) routes orders to an exchange.
    Live, an account keeps one quote currency: the exchange's balance of a base bought
    through two quotes could not be told apart between two books."""
    cfg = settings.trading
    if order_client is not None:
        quote_of(cfg.symbols)
    parts = books(cfg)
    warehouse = warehouse or Warehouse.from_settings(settings)
    timeframe = timeframe or cfg.timeframe
    if len(parts) > 1:
        _refuse_unsplit(warehouse, cfg)
    reports = {
        book.account: _book_cycle(warehouse, book, timeframe, order_client) for book in parts
    }
    report = merged(reports)
    if cfg.report_currency:
        with warehouse.writer(purpose=f"total of {cfg.account}") as con:
            report.total = account_total(con, cfg, currency=cfg.report_currency)
    return report


def _book_cycle(
    warehouse: Warehouse,
    cfg: TradingSettings,
    timeframe: str,
    order_client: CcxtOrderClient | None,
) -> TradingReport:
    if order_client is not None:  # at opt-in, committed before any order can be sent
        with warehouse.writer(purpose=f"open {cfg.account}") as con:
            open_live_account(con, cfg, timeframe=timeframe, client=order_client)
    with warehouse.writer(purpose=f"trade {cfg.account}") as con:
        report = _cycle(con, cfg, timeframe, order_client)
    for message in report.events:
        log.warning("risk: %s", message)
    return report


def _refuse_unsplit(warehouse: Warehouse, cfg: TradingSettings) -> None:
    """An account that has traded one currency under its own name is not split into books
    silently: its positions and cash would be left where no cycle looks."""
    with warehouse.writer(purpose=f"books of {cfg.account}") as con:
        row = one(con, load_sql(_SQL, "account_get"), [cfg.account])
    if row:
        raise BookSettingsError(
            f"account {cfg.account!r} holds one currency's cash and positions, and the traded "
            f"symbols now span {', '.join(by_quote(cfg.symbols))}: they would trade in new "
            f"books ({', '.join(b.account for b in books(cfg))}) and leave it behind; name a "
            "new account (AAITI_TRADING_ACCOUNT) for them"
        )


def merged(reports: dict[str, TradingReport]) -> TradingReport:
    """The books' reports as one: counts summed, events named by book. Equity is given
    only for one book: equities in different currencies do not add up."""
    if len(reports) == 1:
        return next(iter(reports.values()))
    first = next(iter(reports.values()))
    out = TradingReport(
        strategy=first.strategy,
        qualified=first.qualified,
        strategy_reason=first.strategy_reason,
        books=reports,
    )
    for name, r in reports.items():
        out.bars += r.bars
        out.fills += r.fills
        out.orders += r.orders
        out.rejected += r.rejected
        out.halted = out.halted or r.halted
        out.events += [f"{name}: {e}" for e in r.events]
        out.blocked += [b for b in r.blocked if b not in out.blocked]
    return out


def _cycle(
    con: Con, cfg: TradingSettings, timeframe: str, order_client: CcxtOrderClient | None
) -> TradingReport:
    """Load the book, the strategy and the new bars; step through them; save."""
    account, now = cfg.account, datetime.now(UTC)
    report = TradingReport()
    book = _load_book(con, cfg, now)
    if book.live_orders and order_client is None:
        report.events.append(
            f"{len(book.live_orders)} live order(s) open on the exchange are not reconciled: "
            "live trading is off for this cycle"
        )
    gate = load_gate(con, cfg)
    spec, qualified, why = _strategy(con, cfg, timeframe, report)
    _blocked(con, cfg, timeframe, book, report)
    peak = (one(con, load_sql(_SQL, "equity_peak"), [account]) or (None,))[0]
    if peak:
        gate.state.peak_equity = max(gate.state.peak_equity or peak, peak)
    bars = _new_bars(con, cfg, timeframe, spec, qualified=qualified, report=report)
    bars = _in_order(con, cfg, timeframe, bars, book, report)
    if bars.empty:
        save_gate(con, cfg, gate)
        report.halted = gate.state.halted
        return report
    session = _session(con, cfg, timeframe, spec, qualified, book, gate)
    rows = _Rows()
    _step_bars(con, cfg, timeframe, session, book, bars, order_client, rows, report, now)
    if not qualified:
        report.events.append(f"strategy {spec.name}@{spec.version} stands aside: {why}")
    _save(con, cfg, book, session, rows, report, now=now)
    return report


def _strategy(
    con: Con, cfg: TradingSettings, timeframe: str, report: TradingReport
) -> tuple[StrategySpec, bool, str]:
    """The deployed strategy, whether it may trade and why (an operator's switch outranks
    its qualification)."""
    spec, qualified, why = strategy_for(
        load_state(con, name=cfg.strategy_name, timeframe=timeframe), cfg, timeframe
    )
    off = disabled_reason(con, name=cfg.strategy_name, timeframe=timeframe)
    if off is not None:
        qualified, why = False, off
    report.strategy, report.qualified, report.strategy_reason = spec.version, qualified, why
    return spec, qualified, why


def _new_bars(
    con: Con,
    cfg: TradingSettings,
    timeframe: str,
    spec: StrategySpec,
    *,
    qualified: bool,
    report: TradingReport,
) -> pd.DataFrame:
    """The closed bars this account has not stepped through, with the pinned model's
    predictions."""
    account, name = cfg.account, model_name(timeframe)
    bars = (
        con.sql(load_sql(_SQL, "new_bars"), params=[timeframe, cfg.symbols, name, account])
        .to_arrow_table()
        .to_pandas()
    )
    if bars.empty:
        return bars
    preds = (
        con.sql(
            load_sql(_SQL, "predictions_at"),
            params=[timeframe, name, bars["ts"].min().to_pydatetime(), spec.model_version or -1],
        )
        .to_arrow_table()
        .to_pandas()
    )
    if qualified and preds.empty:
        report.events.append(
            f"no predictions of the strategy's pinned {name} v{spec.model_version} for the new "
            "bars: no entries (is another version champion? `aaiti train` evaluates it)"
        )
    return with_predictions(bars, preds)


@dataclass(frozen=True)
class InOrder:
    """The new bars by what the account may do with them this cycle."""

    now: pd.DataFrame  # stepped now, in bar-time order
    late: pd.DataFrame  # older than a bar time the account has stepped: skipped
    waiting: pd.DataFrame  # past a slower stream's newest bar: left for a later cycle
    until: pd.Timestamp | None  # the newest bar time stepped now (None: no bound)


def in_order(
    bars: pd.DataFrame,
    *,
    stepped: pd.Timestamp | None,
    newest: list[pd.Timestamp],
    bar: pd.Timedelta,
    max_wait: int,
) -> InOrder:
    """Keep the account in bar time. Streams' bars arrive at different cycles; stepped as
    they come, a late stream's fill met the cash other streams' later fills had left, and
    the equity rows between mixed bar times. So a bar time is stepped once every traded
    stream has reached it (``newest``: each one's newest bar); a stream more than
    ``max_wait`` bars behind the fastest is not waited for (it is down, not late). A bar
    older than one the account has stepped (``stepped``) is never stepped: it is late,
    and skipped."""
    late = bars["ts"] < stepped if stepped is not None else pd.Series(False, index=bars.index)
    until = min(t for t in newest if t >= max(newest) - max_wait * bar) if newest else None
    waiting = bars["ts"] > until if until is not None else pd.Series(False, index=bars.index)
    return InOrder(bars[~late & ~waiting], bars[late], bars[waiting & ~late], until)


def _in_order(
    con: Con,
    cfg: TradingSettings,
    timeframe: str,
    bars: pd.DataFrame,
    book: Book,
    report: TradingReport,
) -> pd.DataFrame:
    """The new bars the account steps now (see :func:`in_order`); the late ones are
    skipped (their streams' cursors move past them, alerted, and their closes restate the
    equity rows of their times where the instrument is held), the waiting ones said."""
    if bars.empty:
        return bars
    (stepped,) = one(con, load_sql(_SQL, "account_stepped"), [cfg.account, timeframe]) or (None,)
    bar = pd.Timedelta(milliseconds=timeframe_ms(timeframe))
    since = bars["ts"].min() - cfg.max_wait_bars * bar
    newest = con.execute(
        load_sql(_SQL, "stream_newest"), [timeframe, cfg.symbols, model_name(timeframe), since]
    ).fetchall()
    split = in_order(
        bars,
        stepped=None if stepped is None else pd.Timestamp(stepped),
        newest=[pd.Timestamp(ts) for _, _, ts in newest],
        bar=bar,
        max_wait=cfg.max_wait_bars,
    )
    late = _skip_late(con, cfg, timeframe, split.late, stepped)
    if not late.empty:
        _restate(con, cfg.account, late_marks(late, book.broker))
        report.events.append(_late_message(late, stepped))
    if not split.waiting.empty:
        slow = sorted(f"{ex}:{sym}" for ex, sym, ts in newest if pd.Timestamp(ts) == split.until)
        report.events.append(
            f"{len(split.waiting)} bar(s) after {split.until} wait for {', '.join(slow)} "
            f"(at most {cfg.max_wait_bars} bar(s) behind the others before they step on)"
        )
    return split.now


def _late_message(late: pd.DataFrame, stepped: object) -> str:
    streams = sorted(
        {f"{ex}:{sym}" for ex, sym in zip(late["exchange"], late["symbol"], strict=True)}
    )
    return (
        f"{len(late)} late bar(s) of {', '.join(streams)} skipped: they arrived after the "
        f"account had stepped {stepped}; their orders fill at the next bar stepped in order"
    )


def late_marks(late: pd.DataFrame, broker: PaperBroker) -> pd.DataFrame:
    """``ts, delta``: what each late close of a held instrument adds to the position value
    of its bar time's equity row, which marked it at its mark then (the broker's now: the
    instrument has not been stepped since)."""
    rows = []
    for b in stream_bars(late):
        pos = broker.positions.get(b.instrument)
        if pos is not None and abs(pos.quantity) > 1e-12:
            mark = broker.marks.get(b.instrument, pos.average_price)
            rows.append({"ts": b.ts, "delta": pos.quantity * (b.close - mark)})
    return pd.DataFrame(rows, columns=["ts", "delta"])


def _restate(con: Con, account: str, marks: pd.DataFrame) -> None:
    if marks.empty:
        return
    con.register("late_marks", marks)
    try:
        run(con, load_sql(_SQL, "equity_restate"), [account])
        run(con, load_sql(_SQL, "equity_drawdowns"), [account, marks["ts"].min()])
    finally:
        con.unregister("late_marks")


def _skip_late(
    con: Con, cfg: TradingSettings, timeframe: str, late: pd.DataFrame, stepped: object
) -> pd.DataFrame:
    """Move each stream's cursor past its bars older than the account's; alert those of
    streams it had stepped before (see :func:`sort_late`). Returns those streams' bars."""
    if late.empty:
        return late
    known = {
        (ex, sym)
        for ex, sym in late[["exchange", "symbol"]].drop_duplicates().itertuples(index=False)
        if one(con, load_sql(_SQL, "cursor_get"), [cfg.account, ex, sym, timeframe]) is not None
    }
    sorted_ = sort_late(late, known)
    for (ex, sym), ts in sorted_.cursors.items():
        run(con, load_sql(_SQL, "cursor_upsert"), [cfg.account, ex, sym, timeframe, ts])
    for ex, sym in sorted_.joining:
        log.info("%s: %s:%s joins at %s", cfg.account, ex, sym, stepped)
    for (ex, sym), group in sorted_.late.groupby(["exchange", "symbol"]):
        raise_alert(
            con,
            source="trading",
            severity="warning",
            dedup_key=f"trading:{cfg.account}:{ex}:{sym}:late",
            message=f"{cfg.account}: {_late_message(group, stepped)}",
        )
    return sorted_.late


@dataclass(frozen=True)
class LateBars:
    cursors: dict[tuple[str, str], pd.Timestamp]  # each stream's cursor: past its late bars
    joining: list[tuple[str, str]]  # streams new to the account
    late: pd.DataFrame  # the bars of streams it had stepped before


def sort_late(late: pd.DataFrame, known: set[tuple[str, str]]) -> LateBars:
    """Bars older than the account's, by stream. A stream with no cursor (``known`` lacks
    it: a symbol just added) joins at the account's bar time, and its history is not late:
    alerted, each added symbol raised a warning."""
    cursors, joining, kept = {}, [], []
    for (ex, sym), group in late.groupby(["exchange", "symbol"]):
        cursors[(ex, sym)] = group["ts"].max()
        if (ex, sym) in known:
            kept.append(group)
        else:
            joining.append((ex, sym))
    return LateBars(cursors, joining, pd.concat(kept) if kept else late.iloc[:0])


def _session(
    con: Con,
    cfg: TradingSettings,
    timeframe: str,
    spec: StrategySpec,
    qualified: bool,
    book: Book,
    gate: RiskGate,
) -> Session:
    account = cfg.account
    history = {
        instrument(ex, sym): n
        for ex, sym, n in con.execute(
            load_sql(_SQL, "instrument_history"), [timeframe, cfg.symbols]
        ).fetchall()
    }
    states = {
        instrument(ex, sym): StreamState(int(p), int(h), _num(st), _num(tg))
        for ex, sym, p, h, st, tg in con.execute(
            load_sql(_SQL, "streams_get"), [account]
        ).fetchall()
    }
    return Session(
        spec=spec,
        params=params_of(spec, bars_per_year=bars_per_year(timeframe)),
        account=account,
        timeframe=timeframe,
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


def _step_bars(
    con: Con,
    cfg: TradingSettings,
    timeframe: str,
    session: Session,
    book: Book,
    bars: pd.DataFrame,
    order_client: CcxtOrderClient | None,
    rows: _Rows,
    report: TradingReport,
    now: datetime,
) -> None:
    """Each new bar in time order. Live, only the newest close decides, and only when the
    account agrees with the exchange; older bars are caught up without trading."""
    account, newest, caught_up = cfg.account, bars["ts"].max(), 0
    router = (
        _live_router(order_client, book, rows, report, now, timeframe) if order_client else None
    )
    closes = _closes_between(con, cfg, timeframe, bars["ts"].min(), newest)
    for ts, group in bars.groupby("ts", sort=True):
        now_bars = stream_bars(group)
        _mark_at(session.broker, closes, ts, stepped={b.instrument for b in now_bars})
        decide = True
        if order_client is not None:
            _reconcile_live(order_client, book, group, rows, report, now)
            caught_up += ts != newest
            decide = ts == newest and _account_agrees(
                con, cfg, order_client, book, session, group, rows, report, now
            )
        step = session.step(ts, now_bars, decide=decide, route=router)
        _collect(step, rows, book, report, account=account, timeframe=timeframe, now=now, ts=ts)
        for b in group.itertuples(index=False):
            run(
                con, load_sql(_SQL, "cursor_upsert"), [account, b.exchange, b.symbol, timeframe, ts]
            )
        report.bars += len(group)
    if caught_up:
        report.events.append(
            f"live: {caught_up} older closed bar(s) caught up without trading; "
            "only the newest close sends orders"
        )


def _closes_between(
    con: Con, cfg: TradingSettings, timeframe: str, first: pd.Timestamp, last: pd.Timestamp
) -> dict[tuple[str, int], float]:
    """(instrument, ts in ns since the epoch) → close."""
    rows = con.sql(
        load_sql(_SQL, "closes_between"),
        params=[timeframe, cfg.symbols, first.to_pydatetime(), last.to_pydatetime()],
    ).fetchall()
    return {
        (instrument(exchange, symbol), pd.Timestamp(ts).value): float(close)
        for exchange, symbol, ts, close in rows
    }


def _mark_at(
    broker: PaperBroker,
    closes: dict[tuple[str, int], float],
    ts: pd.Timestamp,
    *,
    stepped: set[str],
) -> None:
    """Mark the held instruments that have no new bar at ``ts`` at their close at ``ts``.

    Streams' bars reach the warehouse at different cycles (another exchange, a replay a
    bar behind): a step at ``ts`` then carries only some of them, and the others' marks
    were from another bar time, so the equity row of ``ts`` mixed times (the soak's ledger
    check caught it once a lagging stream filled)."""
    for key in broker.positions:
        close = closes.get((key, pd.Timestamp(ts).value))
        if key not in stepped and close is not None:
            broker.marks[key] = close


@dataclass
class _Rows:
    fills: list[Row] = field(default_factory=list)
    equity: list[Row] = field(default_factory=list)
    breaches: list[Row] = field(default_factory=list)
    touched: set[str] = field(default_factory=set)
    risk_events: list[RiskEvent] = field(default_factory=list)


def _collect(step: StepResult, rows: _Rows, book: Book, report: TradingReport, **ctx: Any) -> None:
    account, timeframe, now, ts = ctx["account"], ctx["timeframe"], ctx["now"], ctx["ts"]
    for fill, _ in step.fills:
        rows.fills.append(_fill_row(fill, venue="paper", now=now))
    report.fills += len(step.fills)
    rows.touched |= step.changed
    rows.risk_events += step.events
    for e in step.events:
        if e.kind in ("drawdown_warn", "kill_switch"):
            rows.breaches.append(_breach(account, now, e.kind, e.message))
    rows.equity.append(
        {
            "account": account,
            "ts": ts,
            "cash": book.broker.cash,
            "position_value": book.broker.position_value(),
            "equity": step.equity,
            "drawdown": step.drawdown,
        }
    )
    for it in step.intents:
        cid = it.order.client_order_id
        rows.touched.add(cid)
        report.orders += 1
        if not it.gate.approved:
            report.rejected += 1
            rows.breaches.append(_breach(account, now, it.gate.rule, it.gate.reason, it))
        p = it.bar.prediction or {}
        book.meta[cid] = {
            "exchange": it.bar.exchange,
            "timeframe": timeframe,
            "decided_at_bar": it.bar.ts,
            "prediction_ts": p.get("prediction_ts"),
            "model_name": p.get("model_name"),
            "model_version": p.get("model_version"),
            "run_id": p.get("run_id"),
            "created_at": now,
            "venue": "live" if cid in book.live_orders else "paper",
            "exchange_order_id": book.meta.get(cid, {}).get("exchange_order_id"),
            "reason": it.why,
        }


def _reconcile_live(
    client: CcxtOrderClient,
    book: Book,
    group: pd.DataFrame,
    rows: _Rows,
    report: TradingReport,
    now: datetime,
) -> None:
    """Orders still open on the exchange: book what it reports for this bar's streams."""
    for b in group.itertuples(index=False):
        for cid, o in book.live_orders.items():
            if o.symbol != instrument(b.exchange, b.symbol) or o.status not in OPEN_STATES:
                continue
            state = client.fetch(
                symbol=b.symbol, exchange_order_id=book.meta[cid]["exchange_order_id"]
            )
            fill, _ = book_exchange_state(
                book.broker, o, state, ts=b.ts, fee_rate=book.broker.costs.fee
            )
            if fill is not None:
                rows.fills.append(_fill_row(fill, venue="live", now=now))
                report.fills += 1
            rows.touched.add(cid)


def open_live_account(
    con: duckdb.DuckDBPyConnection, cfg: TradingSettings, *, timeframe: str, client: CcxtOrderClient
) -> Opening | None:
    """A live account's first cycle: its cash and positions from the exchange's balances
    (None when the account exists already)."""
    account, now = cfg.account, datetime.now(UTC)
    if one(con, load_sql(_SQL, "account_get"), [account]):
        return None
    closes = con.sql(load_sql(_SQL, "latest_closes"), params=[timeframe, cfg.symbols]).fetchall()
    marks = {symbol: close for symbol, close, _ in closes}
    opening = opening_from(client.balances(), symbols=cfg.symbols, marks=marks)
    keys = {symbol: instrument(exchange, symbol) for symbol, _, exchange in closes}
    held = {keys[s]: position for s, position in opening.positions.items()}
    book = _load_book(con, cfg, now, opening=replace(opening, positions=held))
    write_book(
        con,
        cfg,
        cash=book.broker.cash,
        now=now,
        tables=[
            ("ledger_now", book.ledger, "ledger_insert", _SQL),
            ("positions_now", _position_rows(book, account, now), "positions_replace", _SQL),
            ("reconciliation_rows", opening_rows(account, opening, cfg.symbols, now),
             "reconciliations_insert", _SQL),
        ],
    )  # fmt: skip
    log.info("live account %s opens from the exchange: %s", account, opening)
    return opening


def _account_agrees(
    con: Con,
    cfg: TradingSettings,
    client: CcxtOrderClient,
    book: Book,
    session: Session,
    group: pd.DataFrame,
    rows: _Rows,
    report: TradingReport,
    now: datetime,
) -> bool:
    """Before the newest close may send orders: the ledger against the exchange's balances
    and open orders. An operator's pending acceptance is adopted first; a difference stops
    new orders this cycle, alerted, until it is explained or accepted."""
    account, quote = cfg.account, quote_of(cfg.symbols)
    balances = client.balances()
    closes = {
        b.symbol: (instrument(b.exchange, b.symbol), float(b.close))
        for b in group.itertuples(index=False)
    }
    accepted = one(con, load_sql(_SQL, "reconcile_accept_pending"), [account])
    if accepted:
        _adopt(con, cfg, book, balances, closes, accepted, now)
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
    book.reconciliations += check_rows(account, result, now)
    if result.ok:
        return True
    message = (
        f"{account}: the live ledger differs from the exchange — {result.message()}; no new "
        "orders until it is explained or accepted (`aaiti live accept --reason …`)"
    )
    rows.breaches.append(_breach(account, now, "reconciliation", result.message()))
    raise_alert(
        con,
        source="trading",
        severity="critical",
        dedup_key=f"trading:{account}:reconcile",
        message=message,
    )
    report.events.append(message)
    return False


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
    con: Con,
    cfg: TradingSettings,
    book: Book,
    balances: dict[str, float],
    closes: dict[str, tuple[str, float]],  # symbol → (its instrument, this bar's close)
    accepted: tuple[Any, ...],
    now: datetime,
) -> None:
    """An operator accepted the exchange's figures: the ledger takes them (a cash
    adjustment in the ledger; positions set to the balances, new ones at this close)."""
    account, broker = cfg.account, book.broker
    quote = quote_of(cfg.symbols)
    before = {"cash": broker.cash, **{s: p.quantity for s, p in broker.positions.items()}}
    delta = balances.get(quote, 0.0) - broker.cash
    broker.cash += delta
    book.ledger.append(_ledger_row(account, now, "adjustment", None, delta, broker.cash, now))
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
    run(con, load_sql(_SQL, "reconcile_accept_applied"), [account, now])
    detail = {"account": account, "reason": reason, "accepted_at": str(at),
              "before": before, "after": after}  # fmt: skip
    audit(con, actor=actor, action="reconcile adopt", detail=json.dumps(detail), at=now)


def _live_router(
    client: CcxtOrderClient,
    book: Book,
    rows: _Rows,
    report: TradingReport,
    now: datetime,
    timeframe: str,
) -> Callable[[Intent, Session], None]:
    """Approved orders go to the exchange; its fills are booked through the same broker."""
    bar_length = timedelta(milliseconds=timeframe_ms(timeframe))

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
            rows.fills.append(_fill_row(fill, venue="live", now=now))
            report.fills += 1

    return route


def _save(
    con: Con,
    cfg: TradingSettings,
    book: Book,
    session: Session,
    rows: _Rows,
    report: TradingReport,
    *,
    now: datetime,
) -> None:
    account, broker = cfg.account, book.broker
    ledger = book.ledger + [
        _ledger_row(account, e.ts, e.kind, e.client_order_id, e.amount, e.balance, now)
        for e in broker.ledger
    ]
    orders = [_order_row(cid, book, account, now) for cid in rows.touched]
    positions = _position_rows(book, account, now)
    streams = [
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
    write_book(
        con,
        cfg,
        cash=broker.cash,
        now=now,
        tables=[
            ("orders_now", orders, "orders_upsert", _SQL),
            ("fills_now", rows.fills, "fills_insert", _SQL),
            ("ledger_now", ledger, "ledger_insert", _SQL),
            ("equity_now", rows.equity, "equity_insert", _SQL),
            ("positions_now", positions, "positions_replace", _SQL),
            ("breaches_now", rows.breaches, "breaches_insert", _SQL),
            ("streams_now", streams, "streams_upsert", "aaiti.strategy"),
            ("reconciliation_rows", book.reconciliations, "reconciliations_insert", _SQL),
        ],
    )
    for e in rows.risk_events:
        report.events.append(e.message)
        raise_alert(
            con,
            source="risk",
            severity="warning" if e.kind == "drawdown_warn" else "critical",
            dedup_key=f"risk:{account}:{e.kind}",
            message=f"{account}: {e.message}",
        )
    save_gate(con, cfg, session.gate)
    report.equity = broker.equity()
    report.halted = session.gate.state.halted


def _position_rows(book: Book, account: str, now: datetime) -> list[Row]:
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


def write_book(
    con: duckdb.DuckDBPyConnection,
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
        load_sql(_SQL, "account_upsert"),
        [cfg.account, number(cfg.initial_cash), cash, now],
    )


def _order_row(cid: str, book: Book, account: str, now: datetime) -> Row:
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


def halt(settings: Settings, *, actor: str, reason: str, warehouse: Warehouse | None = None) -> str:
    """Emergency halt of every book: no new risk from the next bar on; written to
    audit.log. Never refused: settings that name no book still halt the account and every
    book of it the warehouse holds."""
    warehouse, cfg = warehouse or Warehouse.from_settings(settings), settings.trading
    messages = []
    with warehouse.writer(purpose="halt") as con:
        accounts = _halt_accounts(con, cfg)
        for account in accounts:
            state = _risk_state(con, account)
            event = RiskGate(RiskLimits(), state).halt(reason=f"{reason} (by {actor})")
            _save_state(con, account, state)
            audit(con, actor=actor, action="halt", detail=_named(accounts, account, reason))
            raise_alert(
                con,
                source="risk",
                severity="critical",
                dedup_key=f"risk:{account}:halt",
                message=f"{account}: {event.message}",
            )
            messages.append((account, event.message))
    return _said(messages)


def _halt_accounts(con: Con, cfg: TradingSettings) -> list[str]:
    """The settings' books and every book of the account already in the warehouse."""
    try:
        named = {b.account for b in books(cfg)}
    except BookSettingsError:  # an emergency halt is not refused for a settings mistake
        named = set()
    known = {a for (a,) in con.execute(load_sql(_SQL, "books_known"), [cfg.account]).fetchall()}
    return sorted(named | known) or [cfg.account]


def resume(settings: Settings, *, actor: str, warehouse: Warehouse | None = None) -> str:
    """Lift halts and the kill switch of each book — refused for a book whose drawdown has
    not recovered (the others resume)."""
    warehouse = warehouse or Warehouse.from_settings(settings)
    parts, messages, refused = books(settings.trading), [], []
    accounts = [b.account for b in parts]
    with warehouse.writer(purpose="resume") as con:
        for cfg in parts:
            gate = load_gate(con, cfg)
            latest = one(con, load_sql(_SQL, "latest_equity"), [cfg.account])
            equity = latest[1] if latest else number(cfg.initial_cash)
            try:
                event = gate.resume(equity=equity)
            except PermissionError as err:  # audited and committed: raising here rolls back
                refused.append((cfg.account, str(err)))
                detail = _named(accounts, cfg.account, str(err))
                audit(con, actor=actor, action="resume refused", detail=detail)
            else:
                save_gate(con, cfg, gate)
                detail = _named(accounts, cfg.account, event.message)
                audit(con, actor=actor, action="resume", detail=detail)
                messages.append((cfg.account, event.message))
    if refused:
        raise PermissionError(_said(refused if len(parts) == 1 else refused + messages))
    return _said(messages)


def _named(accounts: list[str], account: str, text: str) -> str:
    """An audit line: named by its book when the account has several."""
    return text if len(accounts) == 1 else f"{account}: {text}"


def _said(messages: list[tuple[str, str]]) -> str:
    """One book's message as it is; several, each named by its book."""
    if len(messages) == 1:
        return messages[0][1]
    return "; ".join(f"{account}: {message}" for account, message in messages)
