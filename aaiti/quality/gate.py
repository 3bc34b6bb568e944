"""Gate semantics: stop bad data, show it, explain it — and let the rest flow.

For one stream at one checkpoint:

1. validate the stream's batch (taken from DuckDB) with the checkpoint's suite;
2. if critical expectations fail on named rows (raw checkpoint), move those rows to
   ``raw.ohlcv_quarantine`` with the failing expectations as the reason, request a full
   rebuild of the derived tables, raise an alert, and validate again;
3. the stream's gate is ``passed`` when no critical expectation fails any more, ``blocked``
   otherwise. A blocked stream gets no new features (and later no training, predictions or
   trades) until a run passes again. Warnings are recorded and shown, and block nothing.

Every expectation's result of every attempt goes to ``ops.quality_results``.
"""

from __future__ import annotations

import json
import logging
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime

import pandas as pd

from aaiti.config import Settings
from aaiti.market.candles import Stream
from aaiti.quality.checks import feature_batch, raw_batch
from aaiti.quality.gx import GxValidator, SuiteOutcome
from aaiti.warehouse import Warehouse
from aaiti.warehouse.sql import load_sql, one, run

log = logging.getLogger(__name__)
_SQL = "aaiti.quality"
RAW, FEATURES = "raw", "features"
SUITES = {RAW: "raw_ohlcv", FEATURES: "features"}


@dataclass(frozen=True)
class GateResult:
    stream: Stream
    checkpoint: str
    status: str  # passed | blocked
    run_id: str
    attempts: list[SuiteOutcome] = field(default_factory=list)
    quarantined: int = 0
    reason: str | None = None

    @property
    def passed(self) -> bool:
        return self.status == "passed"

    @property
    def final(self) -> SuiteOutcome:
        return self.attempts[-1]


def raw_parameters(settings: Settings, stream: Stream) -> dict:
    """The raw suite's $PARAMETERs for a stream, from the settings."""
    bounds = settings.quality_max_abs_log_return
    if stream.timeframe not in bounds:
        raise ValueError(
            f"no one-bar return bound for timeframe {stream.timeframe}; "
            f"AAITI_QUALITY_MAX_ABS_LOG_RETURN has {sorted(bounds)}"
        )
    return {
        "symbols": [stream.symbol],
        "max_abs_log_return": bounds[stream.timeframe],
        "max_spike": settings.quality_max_spike,
        "max_stale_run": settings.quality_max_stale_run,
        "max_zero_volume_run": settings.quality_max_zero_volume_run,
        "max_gap_hours": settings.quality_max_gap_hours,
    }


def validator_for(settings: Settings, *, docs: bool = True) -> GxValidator:
    return GxValidator(
        expectations_dir=settings.expectations_dir, gx_dir=settings.gx_dir, docs=docs
    )


def _read(warehouse: Warehouse, name: str, stream: Stream) -> pd.DataFrame:
    with warehouse.writer(purpose=f"validate {stream}") as con:
        return (
            con.sql(load_sql(_SQL, name), params=[stream.exchange, stream.symbol, stream.timeframe])
            .to_arrow_table()
            .to_pandas()
        )


def _released(warehouse: Warehouse, stream: Stream) -> list[pd.Timestamp]:
    """Bars an operator confirmed as a real new level (``aaiti quality release``)."""
    with warehouse.writer(purpose=f"validate {stream}") as con:
        rows = con.execute(
            load_sql(_SQL, "released_bars"), [stream.exchange, stream.symbol, stream.timeframe]
        ).fetchall()
    return [pd.Timestamp(r[0]) for r in rows]


def _result_rows(
    run_id: str, checkpoint: str, stream: Stream, attempt: int, outcome: SuiteOutcome, at: datetime
) -> list[dict]:
    return [
        {
            "run_id": run_id,
            "checkpoint": checkpoint,
            "exchange": stream.exchange,
            "symbol": stream.symbol,
            "timeframe": stream.timeframe,
            "attempt": attempt,
            "expectation": o.expectation,
            "column_name": o.column,
            "description": o.description,
            "severity": o.severity,
            "success": o.success,
            "rows_validated": outcome.rows,
            "unexpected_count": o.unexpected_count,
            "unexpected_ts": json.dumps(o.unexpected_ts[:100]) if o.unexpected_ts else None,
            "observed": o.observed,
            "validated_at": at,
        }
        for o in outcome.outcomes
    ]


MAX_PASSES = 3
#: Failures that block the stream rather than quarantine a row: one bar cannot be blamed
#: for a level the series keeps, or for a jump whose next bars have not arrived.
BLOCKING_COLUMNS = frozenset({"level_shift", "unconfirmed_jump"})


def _rejects(outcome: SuiteOutcome) -> pd.DataFrame:
    """ts → reason for the rows to quarantine in this pass (never a blocking row)."""
    reasons: dict[pd.Timestamp, list[str]] = {}
    blocking: set[pd.Timestamp] = set()
    for o in outcome.critical_failures:
        for ts in o.unexpected_ts:
            if o.column in BLOCKING_COLUMNS:
                blocking.add(pd.Timestamp(ts))
            reasons.setdefault(pd.Timestamp(ts), []).append(
                f"gate: {o.description} ({o.expectation})"
            )
    keep = {ts: r for ts, r in reasons.items() if ts not in blocking}
    return pd.DataFrame({"ts": list(keep), "reason": ["; ".join(r) for r in keep.values()]})


def run_gate(
    warehouse: Warehouse,
    settings: Settings,
    stream: Stream,
    *,
    checkpoint: str,
    validator: GxValidator,
    run_id: str | None = None,
    now: datetime | None = None,
) -> GateResult:
    """Validate one stream at one checkpoint and record the verdict (see module doc)."""
    run_id = run_id or f"validate-{datetime.now(UTC):%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:8]}"
    now = now or datetime.now(UTC)
    suite = SUITES[checkpoint]
    if checkpoint == RAW:
        params = raw_parameters(settings, stream)
        released = _released(warehouse, stream)
        prepare = lambda frame: raw_batch(  # noqa: E731
            frame,
            timeframe=stream.timeframe,
            now=now,
            max_move=params["max_abs_log_return"],
            confirm_bars=settings.quality_shift_confirm_bars,
            released=released,
        )
        source = "stream_candles"
    else:
        params = {}
        prepare = lambda frame: feature_batch(frame, now=now)  # noqa: E731
        source = "stream_features"

    frame = _read(warehouse, source, stream)
    batch = prepare(frame)
    attempts = [validator.validate(suite, batch, parameters=params, batch_label=str(stream))]
    rows = _result_rows(run_id, checkpoint, stream, 1, attempts[0], now)
    quarantined = 0
    while (
        checkpoint == RAW
        and settings.quality_quarantine
        and not attempts[-1].passed
        and len(attempts) <= MAX_PASSES
    ):
        rejects = _rejects(attempts[-1])
        if rejects.empty:
            break  # failures not attributable to rows (or nothing left to remove)
        rejects["ts"] = pd.to_datetime(rejects["ts"], utc=True)
        with warehouse.writer(purpose=f"quarantine {stream}") as con:
            con.register("gate_rejects", rejects)
            keys = [stream.exchange, stream.symbol, stream.timeframe]
            run(con, load_sql(_SQL, "quarantine_gate_rows"), [*keys, now])
            run(con, load_sql(_SQL, "delete_gate_rows"), keys)
            run(
                con,
                load_sql(_SQL, "request_full_refresh"),
                [now, f"{run_id}: {len(rejects)} candle(s) of {stream} quarantined by the gate"],
            )
            con.unregister("gate_rejects")
        quarantined += len(rejects)
        frame = _read(warehouse, source, stream)
        batch = prepare(frame)
        attempts.append(
            validator.validate(
                suite, batch, parameters=params, batch_label=f"{stream} after quarantine"
            )
        )
        rows += _result_rows(run_id, checkpoint, stream, len(attempts), attempts[-1], now)

    final = attempts[-1]
    status = "passed" if final.passed else "blocked"
    first_failures = attempts[0].critical_failures
    reason = None
    if first_failures:
        reason = "; ".join(
            f"{o.description}: {o.unexpected_count or 0} row(s)"
            + (f", e.g. {o.unexpected_ts[0]}" if o.unexpected_ts else "")
            for o in first_failures
        )
    with warehouse.writer(purpose=f"gate {stream}") as con:
        con.register("quality_rows", pd.DataFrame(rows))
        run(con, load_sql(_SQL, "insert_results"))
        con.unregister("quality_rows")
        run(
            con,
            load_sql(_SQL, "upsert_gate"),
            [
                stream.exchange,
                stream.symbol,
                stream.timeframe,
                checkpoint,
                status,
                run_id,
                reason,
                quarantined,
                len(final.warnings),
                now,
            ],
        )
        if first_failures:
            severity = "critical" if status == "blocked" else "warning"
            verdict = (
                "BLOCKED"
                if status == "blocked"
                else f"passed after quarantining {quarantined} row(s)"
            )
            message = f"quality gate {checkpoint} on {stream}: {verdict}: {reason}"
            run(
                con,
                load_sql(_SQL, "insert_alert"),
                [now, "quality", severity, f"quality:{checkpoint}:{stream}", message],
            )
            (log.error if status == "blocked" else log.warning)(message)
    return GateResult(stream, checkpoint, status, run_id, attempts, quarantined, reason)


def gate_status(warehouse: Warehouse, stream: Stream, *, checkpoint: str) -> str | None:
    """The stream's last verdict at a checkpoint (None if never validated)."""
    with warehouse.writer(purpose=f"gate status {stream}") as con:
        row = one(
            con,
            load_sql(_SQL, "gate_status"),
            [stream.exchange, stream.symbol, stream.timeframe, checkpoint],
        )
    return row[0] if row else None
