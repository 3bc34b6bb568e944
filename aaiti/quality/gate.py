"""Gate semantics: stop bad data, show it, explain it — and let the rest flow.

For the streams at one checkpoint:

1. take each stream's rows to judge from DuckDB: only those new or changed since its last
   verdict plus the window its rules need before them (incremental), or its whole history
   (first run, a blocked stream, changed rule settings, ``AAITI_QUALITY_INCREMENTAL=false``);
2. validate them with the checkpoint's suite, all streams of a timeframe in one batch;
3. if critical expectations fail on named rows (raw checkpoint), move those rows to
   ``raw.ohlcv_quarantine`` with the failing expectations as the reason, request a full
   rebuild of the derived tables, raise an alert, and validate those streams again;
4. a stream's gate is ``passed`` when no critical expectation fails any more, ``blocked``
   otherwise. A blocked stream gets no new features (and later no training, predictions or
   trades) until a run passes again. Warnings are recorded and shown, and block nothing.

Every expectation's result of every attempt goes to ``ops.quality_results``, per stream.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

import duckdb
import pandas as pd

from aaiti.config import QualitySettings
from aaiti.errors import StateError
from aaiti.market.candles import Stream
from aaiti.market.timeframes import timeframe_ms
from aaiti.ops import raise_alert
from aaiti.quality.checks import feature_batch, raw_batch
from aaiti.quality.gx import GxValidator, Job, SuiteOutcome
from aaiti.quality.verdicts import (
    FEATURES,
    MAX_PASSES,
    RAW,
    SUITES,
    GateResult,
    Plan,
    batches,
    judged,
    raw_parameters,
    rejects,
    rules_hash,
    split_outcome,
    verdict,
    volume_rule,
    window_rows,
)
from aaiti.warehouse import Warehouse
from aaiti.warehouse.sql import fetch_one, load_sql, run

log = logging.getLogger(__name__)
Con = duckdb.DuckDBPyConnection
_SQL = "aaiti.quality"


# --- the shell: read, validate, quarantine, write ------------------------------------------


def run_gates(
    warehouse: Warehouse,
    rules: QualitySettings,
    streams: Iterable[Stream],
    *,
    checkpoint: str,
    validator: GxValidator,
    run_id: str | None = None,
    now: datetime | None = None,
    full: bool = False,
) -> list[GateResult]:
    """Validate streams at one checkpoint and record each verdict (see module doc)."""
    streams = list(dict.fromkeys(streams))
    run_id = run_id or f"validate-{datetime.now(UTC):%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:8]}"
    now = now or datetime.now(UTC)
    for s in streams:
        if checkpoint == RAW:
            raw_parameters(rules, s)  # every timeframe needs its bound, before any work
    if checkpoint == FEATURES:
        _require_features(warehouse)
    incremental = rules.incremental and not full
    plans = _plan(warehouse, rules, streams, checkpoint=checkpoint, incremental=incremental)
    results: dict[Stream, GateResult] = {}
    for p in plans:
        if p.mode == "unchanged":
            results[p.stream] = _unchanged(p, checkpoint, run_id)
    todo = [p for p in plans if p.mode != "unchanged"]
    for group in batches(todo):
        for r in _gate_group(warehouse, rules, group, checkpoint, validator, run_id, now):
            results[r.stream] = r
    return [results[s] for s in streams]


def _require_features(warehouse: Warehouse) -> None:
    with warehouse.writer(purpose="features gate") as con:
        row = con.execute(load_sql(_SQL, "features_table")).fetchone()
    found = row[0] if row else 0
    if not found:
        raise StateError("no feature table yet (marts.fct_features): run `aaiti transform` first")


def run_gate(
    warehouse: Warehouse,
    rules: QualitySettings,
    stream: Stream,
    *,
    checkpoint: str,
    validator: GxValidator,
    run_id: str | None = None,
    now: datetime | None = None,
    full: bool = False,
) -> GateResult:
    """One stream's gate (see :func:`run_gates`)."""
    (result,) = run_gates(
        warehouse,
        rules,
        [stream],
        checkpoint=checkpoint,
        validator=validator,
        run_id=run_id,
        now=now,
        full=full,
    )
    return result


def _unchanged(plan: Plan, checkpoint: str, run_id: str) -> GateResult:
    empty = SuiteOutcome(SUITES[checkpoint], 0, [])
    return GateResult(plan.stream, checkpoint, "passed", run_id, [empty], mode="unchanged")


def _keys_frame(streams: Iterable[Stream], **extra: Any) -> pd.DataFrame:
    streams = list(streams)
    return pd.DataFrame(
        {
            "exchange": [s.exchange for s in streams],
            "symbol": [s.symbol for s in streams],
            "timeframe": [s.timeframe for s in streams],
            **extra,
        }
    )


def _plan(
    warehouse: Warehouse,
    rules: QualitySettings,
    streams: list[Stream],
    *,
    checkpoint: str,
    incremental: bool,
) -> list[Plan]:
    """Each stream's plan: incremental where its last verdict passed under the same rules."""
    digest = rules_hash(rules, checkpoint)
    context, rejudge = window_rows(rules)
    with warehouse.writer(purpose=f"plan {checkpoint} gate") as con:
        con.register("gate_streams", _keys_frame(streams))
        marks = con.execute(load_sql(_SQL, "gate_marks"), [checkpoint]).fetchdf()
        con.unregister("gate_streams")
        marks["stream"] = [Stream(*k) for k in marks[["exchange", "symbol", "timeframe"]].values]
        ok = (
            incremental
            & (marks["status"] == "passed")
            & marks["validated_through"].notna()
            & (marks["params_hash"] == digest)
        )
        inc, whole = marks[ok], marks[~ok]
        plans = _full_plans(con, whole, checkpoint)
        if not inc.empty:
            plans += _incremental_plans(con, inc, checkpoint, context + rejudge)
    return plans


def _full_plans(con: Con, marks: pd.DataFrame, checkpoint: str) -> list[Plan]:
    if marks.empty:
        return []
    con.register("gate_plan", marks[["exchange", "symbol", "timeframe"]])
    if checkpoint == RAW:
        sizes = con.execute(load_sql(_SQL, "raw_full_sizes")).fetchdf()
    else:
        sizes = con.execute(load_sql(_SQL, "feature_full_sizes")).fetchdf()
    con.unregister("gate_plan")
    by = {Stream(*k): row for k, row in zip(
        sizes[["exchange", "symbol", "timeframe"]].values, sizes.itertuples(), strict=True
    )}  # fmt: skip
    out = []
    for s in marks["stream"]:
        row = by.get(s)
        n = int(getattr(row, "n", 0) or 0) if row is not None else 0
        mark = getattr(row, "ingest_mark", None) if row is not None else None
        out.append(
            Plan(s, "full", ingest_mark=None if pd.isna(mark) else pd.Timestamp(mark), rows=n)
        )
    return out


def _incremental_plans(con: Con, marks: pd.DataFrame, checkpoint: str, window: int) -> list[Plan]:
    plan = marks[["exchange", "symbol", "timeframe", "validated_through", "ingest_mark"]].rename(
        columns={"validated_through": "through"}
    )
    con.register("gate_plan", plan)
    if checkpoint == RAW:
        changes = con.execute(load_sql(_SQL, "raw_changes"), [window]).fetchdf()
    else:
        changes = con.execute(load_sql(_SQL, "feature_changes")).fetchdf()
    con.unregister("gate_plan")
    found = {Stream(*k): row for k, row in zip(
        changes[["exchange", "symbol", "timeframe"]].values, changes.itertuples(), strict=True
    )}  # fmt: skip
    out = []
    for m in marks.itertuples():
        row = found.get(m.stream)
        if checkpoint == RAW:
            if row is None:
                out.append(Plan(m.stream, "unchanged"))
                continue
            since = None if pd.isna(row.since) else pd.Timestamp(row.since)
            mark = max(pd.Timestamp(row.ingest_mark), pd.Timestamp(m.ingest_mark))
            out.append(
                Plan(m.stream, "incremental", since, pd.Timestamp(row.changed_from), mark, window)
            )
        elif row is None or row.rows_through != m.rows_through:  # rebuilt: judge it all
            out.append(Plan(m.stream, "full", rows=int(m.rows_through or 0)))
        elif pd.isna(row.changed_from):
            out.append(Plan(m.stream, "unchanged"))
        else:
            through = pd.Timestamp(m.validated_through)
            out.append(Plan(m.stream, "incremental", through, row.changed_from, None, 2))
    return out


def _read(con: Con, plans: list[Plan], checkpoint: str) -> dict[Stream, pd.DataFrame]:
    """The rows each plan reads, in one query."""
    windows = _keys_frame(
        [p.stream for p in plans],
        since=pd.to_datetime([p.since for p in plans], utc=True),
    )
    name = "raw_windows" if checkpoint == RAW else "feature_windows"
    con.register("gate_windows", windows)
    frame = con.sql(load_sql(_SQL, name)).to_arrow_table().to_pandas()
    con.unregister("gate_windows")
    groups = dict(iter(frame.groupby(["exchange", "symbol", "timeframe"], sort=False)))
    return {
        p.stream: groups.get(
            (p.stream.exchange, p.stream.symbol, p.stream.timeframe), frame.iloc[0:0]
        ).reset_index(drop=True)
        for p in plans
    }


def _released(con: Con, streams: list[Stream]) -> dict[Stream, list[pd.Timestamp]]:
    """Bars an operator confirmed as a real new level (``aaiti release``)."""
    con.register("gate_streams", _keys_frame(streams))
    rows = con.execute(load_sql(_SQL, "released_bars")).fetchall()
    con.unregister("gate_streams")
    out: dict[Stream, list[pd.Timestamp]] = {s: [] for s in streams}
    for e, sym, tf, ts in rows:
        out.setdefault(Stream(e, sym, tf), []).append(pd.Timestamp(ts))
    return out


def _finer(
    con: Con, plans: list[Plan], frames: dict[Stream, pd.DataFrame]
) -> dict[Stream, tuple[str, pd.DataFrame]]:
    """For each stream whose source also supplies a finer timeframe that divides its own,
    that timeframe's bars over the judged span (the finest such one)."""
    streams = [p.stream for p in plans]
    con.register("gate_streams", _keys_frame(streams))
    native = con.execute(load_sql(_SQL, "native_timeframes")).fetchall()
    con.unregister("gate_streams")
    have: dict[tuple[str, str], list[str]] = {}
    for e, sym, tf in native:
        have.setdefault((e, sym), []).append(tf)
    wanted = []
    for s in streams:
        step = timeframe_ms(s.timeframe)
        finer = [
            tf for tf in have.get((s.exchange, s.symbol), [])
            if _known(tf) and timeframe_ms(tf) < step and step % timeframe_ms(tf) == 0
        ]  # fmt: skip
        f = frames[s]
        if finer and not f.empty:
            tf = min(finer, key=timeframe_ms)
            end = f["ts"].iloc[-1] + pd.Timedelta(milliseconds=step)
            wanted.append((s, tf, f["ts"].iloc[0], end))
    if not wanted:
        return {}
    table = pd.DataFrame(
        {
            "exchange": [w[0].exchange for w in wanted],
            "symbol": [w[0].symbol for w in wanted],
            "fine_timeframe": [w[1] for w in wanted],
            "since": pd.to_datetime([w[2] for w in wanted], utc=True),
            "until": pd.to_datetime([w[3] for w in wanted], utc=True),
        }
    )
    con.register("gate_finer", table)
    bars = con.sql(load_sql(_SQL, "finer_bars")).to_arrow_table().to_pandas()
    con.unregister("gate_finer")
    groups = dict(iter(bars.groupby(["exchange", "symbol", "fine_timeframe"], sort=False)))
    return {
        s: (tf, groups.get((s.exchange, s.symbol, tf), bars.iloc[0:0])) for s, tf, _, _ in wanted
    }


def _known(timeframe: str) -> bool:
    try:
        timeframe_ms(timeframe)
    except ValueError:
        return False
    return True


def _prepare(
    warehouse: Warehouse,
    rules: QualitySettings,
    plans: list[Plan],
    checkpoint: str,
    now: datetime,
) -> dict[Stream, pd.DataFrame]:
    """Each plan's judged rows with the derived columns its suite reads."""
    with warehouse.writer(purpose=f"validate {checkpoint}") as con:
        frames = _read(con, plans, checkpoint)
        if checkpoint == FEATURES:
            return {p.stream: judged(feature_batch(frames[p.stream], now=now), p, 0) for p in plans}
        released = _released(con, [p.stream for p in plans])
        finer = _finer(con, plans, frames)
    _, rejudge = window_rows(rules)
    rule = volume_rule(rules)
    out = {}
    for p in plans:
        fine_tf, fine = finer.get(p.stream, (None, None))
        prepared = raw_batch(
            frames[p.stream],
            timeframe=p.stream.timeframe,
            now=now,
            max_move=rules.max_abs_log_return[p.stream.timeframe],
            confirm_bars=rules.shift_confirm_bars,
            released=released.get(p.stream, []),
            volume_rule=rule,
            finer=fine,
            finer_timeframe=fine_tf,
        )
        out[p.stream] = judged(prepared, p, rejudge)
    return out


def _validate(
    validator: GxValidator,
    rules: QualitySettings,
    checkpoint: str,
    batches_: dict[Stream, pd.DataFrame],
    label: str,
) -> dict[Stream, SuiteOutcome]:
    """GX runs over all the streams' judged rows, split back per stream: one run per
    timeframe, or, on a cluster, as many as it has threads, of about equal rows."""
    width = validator.width if validator.dask_address else 1
    groups = [
        part
        for tf in sorted({s.timeframe for s in batches_})
        for part in balanced_runs({s: b for s, b in batches_.items() if s.timeframe == tf}, width)
    ]
    jobs = [_job(rules, checkpoint, group, label) for group in groups]
    out: dict[Stream, SuiteOutcome] = {}
    for group, outcome in zip(
        groups, validator.validate_all(SUITES[checkpoint], jobs), strict=True
    ):
        out |= split_outcome(outcome, {s: len(b) for s, b in group.items()})
    return out


def balanced_runs(group: dict[Stream, pd.DataFrame], n: int) -> list[dict[Stream, pd.DataFrame]]:
    """Streams in at most ``n`` runs of about equal rows (a stream is never split): each,
    largest first, to the run with the fewest rows so far. A run's cost is mostly its
    rows, plus a fixed part (GX computes each metric once a batch), so no more runs than
    threads to run them."""
    out: list[dict[Stream, pd.DataFrame]] = [{} for _ in range(max(1, min(n, len(group))))]
    sizes = [0] * len(out)
    for s in sorted(group, key=lambda s: (-len(group[s]), str(s))):
        i = sizes.index(min(sizes))
        out[i][s] = group[s]
        sizes[i] += len(group[s])
    return [dict(sorted(p.items(), key=lambda kv: str(kv[0]))) for p in out if p]


def _job(
    rules: QualitySettings, checkpoint: str, group: dict[Stream, pd.DataFrame], label: str
) -> Job:
    if checkpoint == RAW:
        params = raw_parameters(rules, next(iter(group)))
        params["symbols"] = sorted({s.symbol for s in group})
    else:
        params = {}
    batch = pd.concat(list(group.values()), ignore_index=True)
    tf = next(iter(group)).timeframe
    return Job(batch, params, f"{len(group)} {tf} {label}")


def _gate_group(
    warehouse: Warehouse,
    rules: QualitySettings,
    plans: list[Plan],
    checkpoint: str,
    validator: GxValidator,
    run_id: str,
    now: datetime,
) -> list[GateResult]:
    prepared = _prepare(warehouse, rules, plans, checkpoint, now)
    attempts = {s: [o] for s, o in _validate(
        validator, rules, checkpoint, prepared, "stream(s)"
    ).items()}  # fmt: skip
    rows_judged = {s: len(b) for s, b in prepared.items()}
    quarantined = {p.stream: 0 for p in plans}
    by_stream = {p.stream: p for p in plans}
    for _ in range(MAX_PASSES):
        if checkpoint != RAW or not rules.quarantine:
            break
        failing = {s: a[-1] for s, a in attempts.items() if not a[-1].passed}
        bad = rejects(failing)
        if bad.empty:
            break  # failures not attributable to rows (or nothing left to remove)
        _quarantine(warehouse, bad, run_id, now)
        hit = sorted({Stream(*k) for k in bad[["exchange", "symbol", "timeframe"]].values}, key=str)
        counts = bad.groupby(["exchange", "symbol", "timeframe"]).size()
        for key, n in counts.items():
            quarantined[Stream(*key)] += int(n)
        again = _prepare(warehouse, rules, [by_stream[s] for s in hit], checkpoint, now)
        for s, o in _validate(validator, rules, checkpoint, again, "after quarantine").items():
            attempts[s].append(o)
    results = [
        _result(p, checkpoint, run_id, attempts[p.stream], quarantined[p.stream],
                rows_judged[p.stream])
        for p in plans
    ]  # fmt: skip
    marks = {p.stream: _mark(prepared[p.stream], p) for p in plans}
    _write(warehouse, rules, results, marks, run_id, now)
    return results


def _result(
    plan: Plan,
    checkpoint: str,
    run_id: str,
    attempts: list[SuiteOutcome],
    quarantined: int,
    rows_judged: int,
) -> GateResult:
    status, reason = verdict(attempts)
    return GateResult(
        plan.stream, checkpoint, status, run_id, attempts, quarantined, reason, plan.mode,
        rows_judged,
    )  # fmt: skip


def _mark(prepared: pd.DataFrame, plan: Plan) -> dict[str, Any]:
    """What the next run starts from: the newest bar judged and the newest ingest seen."""
    return {
        "validated_through": prepared["ts"].max() if len(prepared) else None,
        "ingest_mark": plan.ingest_mark,
    }


def _quarantine(warehouse: Warehouse, bad: pd.DataFrame, run_id: str, now: datetime) -> None:
    streams = bad[["exchange", "symbol", "timeframe"]].drop_duplicates()
    what = ", ".join(f"{e}:{s}:{t}" for e, s, t in streams.values)
    with warehouse.writer(purpose="quarantine") as con:
        con.register("gate_rejects", bad)
        run(con, load_sql(_SQL, "quarantine_gate_rows"), [now])
        run(con, load_sql(_SQL, "delete_gate_rows"))
        run(
            con,
            load_sql(_SQL, "request_full_refresh"),
            [now, f"{run_id}: {len(bad)} candle(s) of {what} quarantined by the gate"],
        )
        con.unregister("gate_rejects")


def _result_rows(result: GateResult, at: datetime) -> list[dict[str, Any]]:
    s = result.stream
    return [
        {
            "run_id": result.run_id,
            "checkpoint": result.checkpoint,
            "exchange": s.exchange,
            "symbol": s.symbol,
            "timeframe": s.timeframe,
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
        for attempt, outcome in enumerate(result.attempts, start=1)
        for o in outcome.outcomes
    ]


def _alert(result: GateResult) -> tuple[str, str] | None:
    """(severity, message) when the first attempt failed a critical expectation."""
    if not result.attempts[0].critical_failures:
        return None
    if result.passed:
        verdict_ = f"passed after quarantining {result.quarantined} row(s)"
        return (
            "warning",
            f"quality gate {result.checkpoint} on {result.stream}: {verdict_}: {result.reason}",
        )
    return (
        "critical",
        f"quality gate {result.checkpoint} on {result.stream}: BLOCKED: {result.reason}",
    )


def _write(
    warehouse: Warehouse,
    rules: QualitySettings,
    results: list[GateResult],
    marks: dict[Stream, dict[str, Any]],
    run_id: str,
    now: datetime,
) -> None:
    """Every result row, verdict and alert of the group in one transaction."""
    rows = [row for r in results for row in _result_rows(r, now)]
    digest = rules_hash(rules, results[0].checkpoint)
    verdicts = pd.DataFrame(
        [
            {
                "exchange": r.stream.exchange,
                "symbol": r.stream.symbol,
                "timeframe": r.stream.timeframe,
                "checkpoint": r.checkpoint,
                "status": r.status,
                "run_id": run_id,
                "reason": r.reason,
                "quarantined": r.quarantined,
                "warnings": len(r.final.warnings),
                "updated_at": now,
                "validated_through": marks[r.stream]["validated_through"],
                "ingest_mark": marks[r.stream]["ingest_mark"],
                "rows_through": None,
                "params_hash": digest,
                "mode": r.mode,
                "rows_judged": r.rows_judged,
            }
            for r in results
        ]
    )
    for col in ("updated_at", "validated_through", "ingest_mark"):
        verdicts[col] = pd.to_datetime(verdicts[col], utc=True)
    with warehouse.writer(purpose=f"gate {results[0].checkpoint}") as con:
        if rows:
            con.register("quality_rows", pd.DataFrame(rows))
            run(con, load_sql(_SQL, "insert_results"))
            con.unregister("quality_rows")
        con.register("gate_verdicts", verdicts)
        run(con, load_sql(_SQL, "upsert_gate"))
        if results[0].checkpoint == FEATURES:
            run(con, load_sql(_SQL, "feature_rows_through"))
        con.unregister("gate_verdicts")
        for r in results:
            alert = _alert(r)
            if alert is None:
                continue
            severity, message = alert
            raise_alert(con, source="quality", severity=severity,
                        dedup_key=f"quality:{r.checkpoint}:{r.stream}", message=message, at=now)  # fmt: skip
            (log.error if severity == "critical" else log.warning)(message)


def gate_status(warehouse: Warehouse, stream: Stream, *, checkpoint: str) -> str | None:
    """The stream's last verdict at a checkpoint (None if never validated)."""

    with warehouse.writer(purpose=f"gate status {stream}") as con:
        row = fetch_one(
            con,
            load_sql(_SQL, "gate_status"),
            [stream.exchange, stream.symbol, stream.timeframe, checkpoint],
        )
    return row[0] if row else None
