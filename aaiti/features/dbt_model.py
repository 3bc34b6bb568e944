"""The body of the ``int_features`` dbt Python model: plan the work, call the library.

Kept here (not in the dbt file) so it is importable, typed and unit-testable; the dbt model
is one call into it.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import duckdb
import pandas as pd
import pyarrow as pa

from aaiti.features.compute import (
    LOOKBACK_BARS,
    MIN_BARS_FOR_INCREMENTAL,
    STATE_COLUMNS,
    RecursiveState,
    compute_features,
)
from aaiti.warehouse.sql import load_sql

log = logging.getLogger(__name__)
_SQL = "aaiti.features"
KEY = ["exchange", "symbol", "timeframe"]
PASS_THROUGH = ["close", "is_complete", "gap_bars_before"]
#: Extra bars of time-based lookback to absorb holes before falling back to a full stream.
LOOKBACK_SLACK = 64


def _arrow_df(rel: duckdb.DuckDBPyRelation) -> pd.DataFrame:
    return rel.to_arrow_table().to_pandas()


def _stream_rows(
    candles: pd.DataFrame, features: pd.DataFrame, key: tuple, watermark
) -> pd.DataFrame:
    out = features.copy()
    out.insert(0, "timeframe", key[2])
    out.insert(0, "symbol", key[1])
    out.insert(0, "exchange", key[0])
    tail = candles.iloc[len(candles) - len(features) :].reset_index(drop=True)
    for col in PASS_THROUGH:
        out[col] = tail[col].to_numpy()
    out["stream_watermark"] = watermark
    return out


def build_features(
    con: duckdb.DuckDBPyConnection,
    *,
    candles: duckdb.DuckDBPyRelation,
    previous: str | None,
) -> pa.Table:
    """Feature rows to write: all of them on a full build, only new or repaired ones after."""
    computed_at = datetime.now(UTC)
    candles.create_view("_aaiti_feature_candles", replace=True)
    eligible = con.sql(load_sql(_SQL, "eligible_candles"))
    con.register("eligible", eligible)
    parts: list[pd.DataFrame] = []
    full_streams: list[tuple] = []

    if previous is None:
        frame = _arrow_df(
            con.sql("SELECT * FROM eligible ORDER BY exchange, symbol, timeframe, ts")
        )
        for key, group in frame.groupby(KEY, sort=False):
            group = group.reset_index(drop=True)
            parts.append(
                _stream_rows(group, compute_features(group), key, group["loaded_at"].max())
            )
    else:
        con.sql(f"SELECT * FROM {previous}").create_view("_aaiti_previous_features", replace=True)
        state = _arrow_df(con.sql(load_sql(_SQL, "previous_state")))
        con.register("state", state)
        changes = _arrow_df(con.sql(load_sql(_SQL, "stream_changes")))
        known = {tuple(r) for r in state[KEY].itertuples(index=False)}
        every = {
            tuple(r)
            for r in _arrow_df(
                con.sql("SELECT DISTINCT exchange, symbol, timeframe FROM eligible")
            ).itertuples(index=False)
        }
        full_streams = sorted(every - known)
        state_by_key = {tuple(r[k] for k in KEY): r for _, r in state.iterrows()}
        incremental: list[tuple] = []
        for _, row in changes.iterrows():
            key = tuple(row[k] for k in KEY)
            st = state_by_key[key]
            if row["changed_past"] > 0 or st["bar_index"] + 1 < MIN_BARS_FOR_INCREMENTAL:
                full_streams.append(key)
            elif row["new_rows"] > 0:
                incremental.append(key)
        if incremental:
            window = _query(con, "incremental_window", [LOOKBACK_BARS + LOOKBACK_SLACK])
            groups = dict(tuple(window.groupby(KEY, sort=False)))
            for key in incremental:
                st = state_by_key[key]
                group = groups[key].reset_index(drop=True)
                last_ts = st["last_ts"]
                before = group.index[group["ts"] <= last_ts]
                if len(before) < LOOKBACK_BARS or group.loc[before[-1], "ts"] != last_ts:
                    full_streams.append(key)  # holes ate the time-based lookback
                    continue
                start = before[-LOOKBACK_BARS]
                group = group.iloc[start:].reset_index(drop=True)
                feats = compute_features(
                    group, state=RecursiveState.from_row(st), lookback=LOOKBACK_BARS
                )
                parts.append(_stream_rows(group, feats, key, group["loaded_at"].max()))
        for key in full_streams:
            group = _query(con, "stream_candles", list(key))
            parts.append(
                _stream_rows(group, compute_features(group), key, group["loaded_at"].max())
            )
        con.unregister("state")
    con.unregister("eligible")
    log.info(
        "features: %d stream(s) in full, %d row(s) in all", len(full_streams), sum(map(len, parts))
    )

    if not parts:
        return _empty()
    out = pd.concat(parts, ignore_index=True)
    out["computed_at"] = computed_at
    return pa.Table.from_pandas(out[_columns()], schema=_schema(), preserve_index=False)


def _query(con: duckdb.DuckDBPyConnection, name: str, params: list) -> pd.DataFrame:
    """A named query with bound parameters, through Arrow (DuckDB's fast path to pandas)."""
    return con.sql(load_sql(_SQL, name), params=params).to_arrow_table().to_pandas()


def _columns() -> list[str]:
    return [f.name for f in _schema()]


def _schema() -> pa.Schema:
    from aaiti.features.compute import FEATURE_COLUMNS

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
    fields += [
        ("stream_watermark", pa.timestamp("us", tz="UTC")),
        ("computed_at", pa.timestamp("us", tz="UTC")),
    ]
    return pa.schema(fields)


def _empty() -> pa.Table:
    return _schema().empty_table()
