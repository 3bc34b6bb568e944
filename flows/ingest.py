"""Ingest flow: one task per stream, run concurrently, then publish the serving snapshot."""

from __future__ import annotations

from dataclasses import asdict, replace
from datetime import datetime

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_table_artifact

from aaiti.config import Settings
from aaiti.market import fill_gaps, ingest_stream, open_source, replay_config
from aaiti.warehouse import Warehouse
from flows.common import alert_on_failure, deliver_alerts, flow_settings, retry_on_transient


@task(
    task_run_name="ingest {symbol} {timeframe}",
    retries=3,
    retry_delay_seconds=[5, 20, 60],
    retry_condition_fn=retry_on_transient,
)
def ingest_one(
    settings: Settings,
    *,
    source: str,
    exchange: str | None,
    symbol: str,
    timeframe: str,
    since: datetime | None,
) -> dict:
    src = open_source(settings, source=source, exchange=exchange)
    stream = src.validate_stream(symbol, timeframe)
    warehouse = Warehouse.from_settings(settings)
    report = ingest_stream(
        warehouse,
        src,
        stream,
        since=since,
        replay=replay_config(settings, src),
        default_since=settings.backfill_since,
        flush_rows=settings.ingest_flush_rows,
    )
    report = replace(report, gaps=fill_gaps(warehouse, src, stream))
    get_run_logger().info(
        "%s: fetched %d, inserted %d, updated %d, rejected %d",
        stream,
        report.fetched,
        report.inserted,
        report.updated,
        report.rejected,
    )
    return summarize(report)


def summarize(report) -> dict:
    row = {k: v for k, v in asdict(report).items() if k not in ("stream", "gaps")}
    row["stream"] = str(report.stream)
    row["holes"] = report.gaps.found if report.gaps else None
    row["bars_missing"] = (
        (report.gaps.bars_missing - report.gaps.bars_filled) if report.gaps else None
    )
    for key in ("since", "until", "newest_ts"):
        row[key] = row[key].isoformat() if row[key] else None
    return row


def _streams(settings: Settings, source, exchange, symbols, timeframes) -> list[tuple]:
    """(source, exchange, symbol, timeframe) to ingest."""
    from aaiti.universe import resolve_top, universe_for

    if any(x is not None for x in (source, exchange, symbols, timeframes)):
        return [
            (source or settings.source, exchange or settings.exchange, sym, tf)
            for sym in (symbols or settings.symbols)
            for tf in (timeframes or [settings.timeframe])
        ]
    universe = universe_for(settings)
    return [
        (u.source, u.stream.exchange, u.stream.symbol, u.stream.timeframe)
        for u in universe.streams(resolve_top(universe, settings))
    ]


@task
def publish(settings: Settings) -> str:
    return str(Warehouse.from_settings(settings).publish_snapshot())


@flow(name="ingest", log_prints=True, on_failure=[alert_on_failure])
def ingest_flow(
    source: str | None = None,
    exchange: str | None = None,
    symbols: list[str] | None = None,
    timeframe: str | None = None,
    since: datetime | None = None,
    timeframes: list[str] | None = None,
    publish_snapshot: bool = True,
) -> list[dict]:
    """Fetch the newest closed candles of each stream into ``raw.ohlcv``: the streams the
    parameters name, or with none, the universe's (AAITI_UNIVERSE_FILE, or the settings')."""
    settings = flow_settings()
    futures = [
        ingest_one.submit(settings, source=src, exchange=ex, symbol=sym, timeframe=tf, since=since)
        for src, ex, sym, tf in _streams(
            settings, source, exchange, symbols, [timeframe] if timeframe else timeframes
        )
    ]
    rows = [f.result() for f in futures]
    deliver_alerts(settings)
    snapshot = publish(settings) if publish_snapshot else "published at the pipeline's end"
    create_table_artifact(
        key="ingest-summary",
        table=[
            {
                k: r[k]
                for k in (
                    "stream",
                    "status",
                    "since",
                    "until",
                    "fetched",
                    "inserted",
                    "updated",
                    "unchanged",
                    "rejected",
                    "duplicates",
                    "retries",
                    "holes",
                    "bars_missing",
                    "duration_s",
                )
            }
            for r in rows
        ],
        description=f"Ingest from {source}; serving snapshot {snapshot}",
    )
    return rows


if __name__ == "__main__":
    ingest_flow()
