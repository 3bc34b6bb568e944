"""The body of the ``int_features`` dbt Python model: plan the work, call the library.

Kept here (not in the dbt file) so it is importable and testable; the dbt model is one call
into it. Data stays in Arrow: streams are zero-copy slices of one ordered table, the
numbers go through numpy, and the key columns of the output are slices of the input.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import chain

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from aaiti.cluster import mapper
from aaiti.features.compute import (
    FEATURE_COLUMNS,
    LOOKBACK_BARS,
    MIN_BARS_FOR_INCREMENTAL,
    STATE_COLUMNS,
    RecursiveState,
    compute_feature_arrays,
)
from aaiti.warehouse.sql import load_sql

log = logging.getLogger(__name__)
_SQL = "aaiti.features"
KEY = ("exchange", "symbol", "timeframe")
#: Extra bars of time-based lookback to absorb holes before falling back to a full stream.
LOOKBACK_SLACK = 64
ORDERED = "SELECT * FROM {src} ORDER BY exchange, symbol, timeframe, ts"
#: Streams computed (and, on Dask, sent out) at a time while dbt writes the rows before.
CHUNK = 16


@dataclass(frozen=True)
class Slice:
    key: tuple[str, str, str]
    offset: int
    length: int


def _slices(con: duckdb.DuckDBPyConnection, table: pa.Table) -> list[Slice]:
    con.register("_aaiti_rows", table)
    try:
        counts = con.sql(load_sql(_SQL, "stream_counts")).fetchall()
    finally:
        con.unregister("_aaiti_rows")
    out, offset = [], 0
    for exchange, symbol, timeframe, n in counts:
        out.append(Slice((exchange, symbol, timeframe), offset, n))
        offset += n
    return out


def _epoch_s(ts: pa.ChunkedArray | pa.Array) -> np.ndarray:
    micros = pc.cast(pc.cast(ts, pa.timestamp("us", tz="UTC")), pa.int64())
    return np.asarray(micros.to_numpy() // 1_000_000)


def _features_for(
    table: pa.Table,
    s: Slice,
    *,
    state: RecursiveState | None,
    lookback: int,
    watermark: datetime,
) -> pa.Table:
    part = table.slice(s.offset, s.length)
    arrays = compute_feature_arrays(
        epoch_s=_epoch_s(part["ts"]),
        high=part["high"].to_numpy(),
        low=part["low"].to_numpy(),
        close=part["close"].to_numpy(),
        volume=part["volume"].to_numpy(),
        state=state,
        lookback=lookback,
    )
    rows = part.slice(lookback)
    n = rows.num_rows
    columns = {name: rows[name] for name in ("exchange", "symbol", "timeframe", "ts", "close")}
    for name in FEATURE_COLUMNS:
        columns[name] = _nullable(arrays[name])
    columns["is_complete"] = rows["is_complete"]
    columns["gap_bars_before"] = rows["gap_bars_before"]
    for name in STATE_COLUMNS:
        if name not in FEATURE_COLUMNS:
            columns[name] = _nullable(arrays[name])
    columns["stream_watermark"] = pa.repeat(pa.scalar(watermark, pa.timestamp("us", tz="UTC")), n)
    return pa.table(columns)


def _nullable(values: np.ndarray) -> pa.Array:
    """NaN (warm-up, undefined) becomes NULL: SQL must see "no value", not a number."""
    return pa.array(values, from_pandas=True)


def build_features(
    con: duckdb.DuckDBPyConnection,
    *,
    candles: duckdb.DuckDBPyRelation,
    previous: str | None,
    dask_address: str | None = None,
) -> pa.RecordBatchReader:
    """Feature rows to write: all of them on a full build, only new or repaired ones after.

    Returned as a stream of record batches that dbt's DuckDB reads as they are made: a
    stream's rows are computed, written and let go, ``CHUNK`` streams at a time. Returned
    as one table, 500 streams × 30 days of 1m held every row twice at once (9.3 GB peak).
    Streams computed from their first bar spread over the Dask scheduler at
    ``dask_address`` when one is named; dbt, here, still writes every row."""
    candles.create_view("_aaiti_feature_candles", replace=True)
    eligible = con.sql(load_sql(_SQL, "eligible_candles"))
    con.register("eligible", eligible)
    done: list[pa.Table] = []  # rows continued from a stored state
    try:  # every query runs now: the batches are made while dbt's query reads them
        if previous is None:
            ordered = con.sql(ORDERED.format(src="eligible")).to_arrow_table()
            whole = _streams(con, ordered)
        else:
            done, whole = _incremental(con, previous)
    finally:
        con.unregister("eligible")
    batches = _batches(done, whole, computed_at=datetime.now(UTC), dask_address=dask_address)
    return pa.RecordBatchReader.from_batches(_schema(), batches)


def _batches(
    done: list[pa.Table], whole: list[pa.Table], *, computed_at: datetime, dask_address: str | None
) -> Iterator[pa.RecordBatch]:
    """The rows continued from a stored state, then each stream computed from its first bar
    (here, or on Dask's workers), stamped with the build's time."""
    rows = 0
    with mapper(dask_address) as run:
        chunks = (
            run(_stream_from_first_bar, whole[i : i + CHUNK]) for i in range(0, len(whole), CHUNK)
        )
        for parts in chain([done], chunks):  # a chunk is computed when the last is written
            for part in parts:
                rows += part.num_rows
                yield from _stamped(part, computed_at).to_batches()
    log.info("features: %d stream(s) in full, %d row(s)", len(whole), rows)


def _stamped(part: pa.Table, computed_at: datetime) -> pa.Table:
    out = part.cast(_schema_without_computed())
    at = pa.repeat(pa.scalar(computed_at, pa.timestamp("us", tz="UTC")), out.num_rows)
    return out.append_column("computed_at", at)


def _incremental(
    con: duckdb.DuckDBPyConnection, previous: str
) -> tuple[list[pa.Table], list[pa.Table]]:
    """The new rows of the streams a stored state continues (computed), and the candles of
    each stream to compute from its first bar (new, short or with a changed past)."""
    con.sql(f"SELECT * FROM {previous}").create_view("_aaiti_previous_features", replace=True)
    state = con.sql(load_sql(_SQL, "previous_state")).to_arrow_table()
    con.register("state", state)
    changes = con.sql(load_sql(_SQL, "stream_changes")).fetchall()
    every = {tuple(r) for r in con.sql(load_sql(_SQL, "streams")).fetchall()}
    states = {(r["exchange"], r["symbol"], r["timeframe"]): r for r in state.to_pylist()}
    full_keys = sorted(every - set(states))
    incremental = []
    for exchange, symbol, timeframe, changed_past, new_rows in changes:
        key = (exchange, symbol, timeframe)
        if changed_past > 0 or states[key]["bar_index"] + 1 < MIN_BARS_FOR_INCREMENTAL:
            full_keys.append(key)
        elif new_rows > 0:
            incremental.append(key)
    parts: list[pa.Table] = []
    if incremental:
        window = con.sql(
            load_sql(_SQL, "incremental_window"), params=[LOOKBACK_BARS + LOOKBACK_SLACK]
        ).to_arrow_table()
        con.unregister("state")
        slices = {s.key: s for s in _slices(con, window)}
        for key in incremental:
            st, s = states[key], slices[key]
            part = window.slice(s.offset, s.length)
            ts = _epoch_s(part["ts"])
            last = int(st["last_ts"].timestamp())
            upto = int(np.searchsorted(ts, last, side="right"))  # rows with ts <= last
            if upto < LOOKBACK_BARS or ts[upto - 1] != last:
                full_keys.append(key)  # holes ate the time-based lookback
                continue
            start = upto - LOOKBACK_BARS
            sub = Slice(key, s.offset + start, s.length - start)
            parts.append(
                _features_for(
                    window,
                    sub,
                    state=RecursiveState(**{k: st[k] for k in STATE_COLUMNS}),
                    lookback=LOOKBACK_BARS,
                    watermark=pc.max(part["loaded_at"]).as_py(),
                )
            )
    else:
        con.unregister("state")
    whole = _streams(con, _stream_candles(con, full_keys)) if full_keys else []
    return parts, whole


def _stream_candles(con: duckdb.DuckDBPyConnection, keys: list[tuple[str, str, str]]) -> pa.Table:
    """The eligible candles of ``keys``, ordered, in one query: a query per stream cost
    ~20 ms each, 6.4 s a cycle for the 300 short resampled streams of 100 symbols."""
    wanted = pa.table({name: [k[i] for k in keys] for i, name in enumerate(KEY)})
    con.register("_aaiti_full_keys", wanted)
    try:
        return con.sql(load_sql(_SQL, "stream_candles")).to_arrow_table()
    finally:
        con.unregister("_aaiti_full_keys")


def _streams(con: duckdb.DuckDBPyConnection, table: pa.Table) -> list[pa.Table]:
    """``table`` (ordered by stream and ts) cut into its streams, zero-copy."""
    return [table.slice(s.offset, s.length) for s in _slices(con, table)]


def _stream_from_first_bar(part: pa.Table) -> pa.Table:
    """One stream's features from its first bar (pure: it may run on a Dask worker)."""
    s = Slice(("", "", ""), 0, part.num_rows)
    watermark = pc.max(part["loaded_at"]).as_py()
    return _features_for(part, s, state=None, lookback=0, watermark=watermark)


def _schema_without_computed() -> pa.Schema:
    fields = [
        ("exchange", pa.string()),
        ("symbol", pa.string()),
        ("timeframe", pa.string()),
        ("ts", pa.timestamp("us", tz="UTC")),
        ("close", pa.float64()),
    ]
    for col in FEATURE_COLUMNS:
        fields.append((col, pa.int32() if col in ("hour_of_day", "day_of_week") else pa.float64()))
    fields += [("is_complete", pa.bool_()), ("gap_bars_before", pa.int64())]
    for col in STATE_COLUMNS:
        if col not in FEATURE_COLUMNS:
            fields.append((col, pa.int64() if col == "bar_index" else pa.float64()))
    fields.append(("stream_watermark", pa.timestamp("us", tz="UTC")))
    return pa.schema(fields)


def _schema() -> pa.Schema:
    return _schema_without_computed().append(pa.field("computed_at", pa.timestamp("us", tz="UTC")))
