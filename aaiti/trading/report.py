"""What a cycle did: the report a caller reads, and the rows it gathered while stepping."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from aaiti.execution.session import Intent, StepResult
from aaiti.risk.gate import RiskEvent
from aaiti.trading.accounts import Total
from aaiti.trading.book import Book, Row, fill_row


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


def combined(reports: dict[str, TradingReport]) -> TradingReport:
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


@dataclass
class CycleRows:
    """The rows a cycle writes at its end, gathered bar by bar."""

    fills: list[Row] = field(default_factory=list)
    equity: list[Row] = field(default_factory=list)
    breaches: list[Row] = field(default_factory=list)
    touched: set[str] = field(default_factory=set)  # orders whose row changes
    risk_events: list[RiskEvent] = field(default_factory=list)


def breach_row(
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


@dataclass(frozen=True)
class StepContext:
    account: str
    timeframe: str
    now: datetime  # when the cycle runs (recorded_at, created_at)
    ts: object  # the bar time stepped


def collect(
    step: StepResult, rows: CycleRows, book: Book, report: TradingReport, at: StepContext
) -> None:
    """One step's fills, equity, breaches and orders (with each order's lineage)."""
    for fill, _ in step.fills:
        rows.fills.append(fill_row(fill, venue="paper", now=at.now))
    report.fills += len(step.fills)
    rows.touched |= step.changed
    rows.risk_events += step.events
    for e in step.events:
        if e.kind in ("drawdown_warn", "kill_switch"):
            rows.breaches.append(breach_row(at.account, at.now, e.kind, e.message))
    rows.equity.append(
        {
            "account": at.account,
            "ts": at.ts,
            "cash": book.broker.cash,
            "position_value": book.broker.position_value(),
            "equity": step.equity,
            "drawdown": step.drawdown,
        }
    )
    for it in step.intents:
        _collect_intent(it, rows, book, report, at)


def _collect_intent(
    it: Intent, rows: CycleRows, book: Book, report: TradingReport, at: StepContext
) -> None:
    cid = it.order.client_order_id
    rows.touched.add(cid)
    report.orders += 1
    if not it.gate.approved:
        report.rejected += 1
        rows.breaches.append(breach_row(at.account, at.now, it.gate.rule, it.gate.reason, it))
    p = it.bar.prediction or {}
    book.meta[cid] = {
        "exchange": it.bar.exchange,
        "timeframe": at.timeframe,
        "decided_at_bar": it.bar.ts,
        "prediction_ts": p.get("prediction_ts"),
        "model_name": p.get("model_name"),
        "model_version": p.get("model_version"),
        "run_id": p.get("run_id"),
        "created_at": at.now,
        "venue": "live" if cid in book.live_orders else "paper",
        "exchange_order_id": book.meta.get(cid, {}).get("exchange_order_id"),
        "reason": it.why,
    }
