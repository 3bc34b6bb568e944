"""The candle store: idempotent upserts into ``raw.ohlcv`` and the ingest bookkeeping in ``ops``.

Every function takes an open connection inside the caller's transaction (see
:meth:`aaiti.warehouse.Warehouse.writer`), so a page of candles, its quarantined rows and the
moved high-water mark commit together or not at all.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import duckdb
import pandas as pd
import pyarrow as pa

from aaiti.market.candles import CANDLE_SCHEMA, Stream
from aaiti.market.timeframes import timeframe_ms
from aaiti.warehouse.sql import fetch_one, load_sql, run

_SQL = "aaiti.market"


@dataclass(frozen=True)
class UpsertResult:
    inserted: int
    updated: int
    unchanged: int
    blocked: int = 0  # identical to a candle a quality gate quarantined

    def __add__(self, other: UpsertResult) -> UpsertResult:
        return UpsertResult(
            self.inserted + other.inserted,
            self.updated + other.updated,
            self.unchanged + other.unchanged,
            self.blocked + other.blocked,
        )


@dataclass(frozen=True)
class Gap:
    """Missing bars ``first``..``last`` (both inclusive) inside a stream."""

    first: datetime
    last: datetime
    missing: int


def _as_arrow(frame: pd.DataFrame | pa.Table) -> pa.Table:
    if isinstance(frame, pa.Table):
        return frame.select(CANDLE_SCHEMA.names).cast(CANDLE_SCHEMA)
    return pa.Table.from_pandas(
        frame.loc[:, CANDLE_SCHEMA.names], schema=CANDLE_SCHEMA, preserve_index=False
    )


def upsert_candles(
    con: duckdb.DuckDBPyConnection,
    candles: pd.DataFrame | pa.Table,
    *,
    batch_id: str,
    ingested_at: datetime | None = None,
) -> UpsertResult:
    """Insert new candles, update changed ones, leave identical ones untouched.

    ``candles`` must already be valid and unique per key (see
    :func:`aaiti.market.candles.split_valid`). Rerunning the same batch changes nothing.
    """
    table = _as_arrow(candles)
    if table.num_rows == 0:
        return UpsertResult(0, 0, 0)
    at = ingested_at or datetime.now(UTC)
    con.register("incoming", table)
    blocked = con.sql(load_sql(_SQL, "gate_blocked")).fetchall()
    if blocked:
        import pyarrow.compute as pc

        con.unregister("incoming")
        stopped = pa.array([r[3] for r in blocked], table.schema.field("ts").type)
        table = table.filter(pc.invert(pc.is_in(table["ts"], value_set=stopped)))
        if table.num_rows == 0:
            return UpsertResult(0, 0, 0, len(blocked))
        con.register("incoming", table)
    try:
        new_rows, changed, total = fetch_one(con, load_sql(_SQL, "upsert_counts"))
        if changed:
            run(con, load_sql(_SQL, "merge_changed"), [batch_id, at])
        elif new_rows == total:
            run(con, load_sql(_SQL, "insert_all"), [batch_id, at])
        elif new_rows:
            run(con, load_sql(_SQL, "insert_new"), [batch_id, at])
    finally:
        con.unregister("incoming")
    return UpsertResult(int(new_rows), int(changed), int(total - new_rows - changed), len(blocked))


def quarantine_rows(
    con: duckdb.DuckDBPyConnection,
    rejected: pd.DataFrame,
    *,
    batch_id: str,
    source: str,
    at: datetime | None = None,
) -> int:
    """Persist rejected rows with their reasons; returns how many."""
    if rejected.empty:
        return 0
    frame = rejected.loc[:, [*CANDLE_SCHEMA.names, "raw_record", "reason"]].copy()
    for col in ("exchange", "symbol", "timeframe", "raw_record", "reason"):
        frame[col] = frame[col].astype(object).where(frame[col].notna(), None)
    con.register("rejected", frame)
    try:
        run(con, load_sql(_SQL, "insert_quarantine"), [batch_id, at or datetime.now(UTC), source])
    finally:
        con.unregister("rejected")
    return len(frame)


def advance_high_water_mark(
    con: duckdb.DuckDBPyConnection, *, source: str, stream: Stream, newest_ts: datetime
) -> None:
    run(
        con,
        load_sql(_SQL, "upsert_watermark"),
        [source, stream.exchange, stream.symbol, stream.timeframe, newest_ts, datetime.now(UTC)],
    )


def ingested_streams(con: duckdb.DuckDBPyConnection) -> list[Stream]:
    """Every stream with stored candles (from the high-water marks, not a scan of raw)."""
    return [Stream(*r) for r in con.sql(load_sql(_SQL, "ingested_streams")).fetchall()]


def high_water_mark(con: duckdb.DuckDBPyConnection, *, stream: Stream) -> datetime | None:
    """Newest candle open time stored for the stream (from raw.ohlcv itself)."""
    row = fetch_one(
        con,
        load_sql(_SQL, "high_water_mark"),
        [stream.exchange, stream.symbol, stream.timeframe],
    )
    return _utc(row[0]) if row and row[0] is not None else None


def find_gaps(
    con: duckdb.DuckDBPyConnection,
    *,
    stream: Stream,
    since: datetime | None = None,
    until: datetime | None = None,
) -> list[Gap]:
    """Holes between stored candles of the stream (not before its first or after its last)."""
    step = timeframe_ms(stream.timeframe)
    rows = con.execute(
        load_sql(_SQL, "find_gaps"),
        [
            stream.exchange,
            stream.symbol,
            stream.timeframe,
            since or datetime(1970, 1, 1, tzinfo=UTC),
            until or datetime(9999, 1, 1, tzinfo=UTC),
            step,
        ],
    ).fetchall()
    return [
        Gap(
            datetime.fromtimestamp(a / 1000, UTC),
            datetime.fromtimestamp(b / 1000, UTC),
            int(n),
        )
        for a, b, n in rows
    ]


def _utc(value: datetime) -> datetime:
    return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
