"""Validate flow: the raw and feature checkpoints, one task per stream, Data Docs after."""

from __future__ import annotations

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_table_artifact

from aaiti.config import Settings
from aaiti.market import Stream
from aaiti.quality import RAW, GateResult, run_gates, validator_for
from aaiti.universe import gated_streams
from aaiti.warehouse import Warehouse
from flows.common import alert_on_failure, deliver_alerts, flow_settings, retry_on_transient


def universe_feature_streams(settings: Settings) -> list[Stream]:
    """The feature streams of the universe's pairs (ingested and resampled timeframes)."""
    import pandas as pd

    from aaiti.warehouse.sql import load_sql

    pairs = {
        (s.exchange, s.symbol) for s in gated_streams(settings, Warehouse.from_settings(settings))
    }
    with Warehouse.from_settings(settings).writer(purpose="feature streams") as con:
        con.register("gate_pairs", pd.DataFrame(sorted(pairs), columns=["exchange", "symbol"]))
        rows = con.sql(load_sql("aaiti.quality", "feature_streams")).fetchall()
    return [Stream(*r) for r in rows]


def outcome_rows(result: GateResult) -> list[dict]:
    rows = []
    for attempt, outcome in enumerate(result.attempts, start=1):
        for o in outcome.outcomes:
            rows.append(
                {
                    "stream": str(result.stream),
                    "attempt": attempt,
                    "expectation": o.description,
                    "column": o.column,
                    "severity": o.severity,
                    "result": "pass" if o.success else "FAIL",
                    "unexpected": o.unexpected_count,
                    "examples": ", ".join(o.unexpected_ts[:3]),
                }
            )
    return rows


@task(
    task_run_name="validate {checkpoint} ({count} streams)",
    retries=2,
    retry_delay_seconds=[5, 20],
    retry_condition_fn=retry_on_transient,
)
def validate_streams(
    settings: Settings, *, streams: list[Stream], checkpoint: str, run_id: str, count: int
) -> list[GateResult]:
    """Every stream in one run: new rows plus the rules' window, one GX batch per timeframe."""
    return run_gates(
        Warehouse.from_settings(settings),
        settings.quality,
        streams,
        checkpoint=checkpoint,
        validator=validator_for(settings, docs=False),  # the flow builds the docs once
        run_id=run_id,
    )


@task
def build_docs(settings: Settings) -> str:
    return str(validator_for(settings).build_docs())


@flow(name="validate", log_prints=True, on_failure=[alert_on_failure])
def validate_flow(
    checkpoint: str = RAW,
    timeframes: list[str] | None = None,
    docs: bool = True,
    publish: bool = True,
) -> dict:
    """Run one checkpoint on every default stream; a blocked stream never fails the others."""
    from prefect.runtime import flow_run

    settings = flow_settings()
    logger = get_run_logger()
    run_id = f"validate-{checkpoint}-{flow_run.id or 'local'}"
    # the universe's streams (top-N sources' as stored); features exist for each ingested
    # timeframe and every timeframe resampled from it
    warehouse = Warehouse.from_settings(settings)
    streams = (
        gated_streams(settings, warehouse)
        if checkpoint == RAW
        else universe_feature_streams(settings)
    )
    if timeframes:
        streams = [s for s in streams if s.timeframe in timeframes]
    results = validate_streams(
        settings, streams=streams, checkpoint=checkpoint, run_id=run_id, count=len(streams)
    )
    docs = build_docs(settings) if docs else "not rebuilt in this run"
    rows = [row for r in results for row in outcome_rows(r)]
    create_table_artifact(
        key=f"quality-{checkpoint}",
        table=rows,
        description=" · ".join(
            f"{r.stream}: {r.status}" + (f" ({r.quarantined} quarantined)" if r.quarantined else "")
            for r in results
        )
        + f" · Data Docs: {docs}",
    )
    for r in results:
        if not r.passed:
            logger.error("%s blocked at %s: %s", r.stream, checkpoint, r.reason)
    deliver_alerts(settings)
    if publish:
        Warehouse.from_settings(settings).publish_snapshot()
    return {str(r.stream): r.status for r in results} | {"docs": docs}


if __name__ == "__main__":
    validate_flow()
