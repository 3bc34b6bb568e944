"""Market replay: the sample source released bar by bar, as if each bar had just closed.

The first run releases every bar that opens before the replay start (the history); each
later run releases the next ``bars_per_run`` bars present in the data. The clock lives in
``ops.replay_clock`` and moves in the same transaction as the candles it releases.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import duckdb
import pandas as pd

from aaiti.market.candles import Stream
from aaiti.market.timeframes import timeframe_ms
from aaiti.warehouse.sql import fetch_one, load_sql, run

_SQL = "aaiti.market"


@dataclass(frozen=True)
class ReplayStep:
    """What one replay run may release: bars opening in [``since``, ``until``)."""

    since: datetime | None
    until: datetime
    bars: int
    exhausted: bool  # the sample has no bar left after ``until``


def replay_clock(con: duckdb.DuckDBPyConnection, stream: Stream) -> datetime | None:
    row = fetch_one(
        con, load_sql(_SQL, "replay_clock_get"), [stream.exchange, stream.symbol, stream.timeframe]
    )
    return row[2].astimezone(UTC) if row else None


def next_step(
    candles: pd.DataFrame,
    *,
    released_until: datetime | None,
    start: datetime,
    bars_per_run: int,
    timeframe: str,
) -> ReplayStep:
    """The window the next run releases, given the clock and the stream's candles."""
    ts = candles["ts"]
    if released_until is None:
        until = pd.Timestamp(start)
        bars = int((ts < until).sum())
        return ReplayStep(None, until.to_pydatetime(), bars, bool((ts >= until).sum() == 0))
    pending = ts[ts >= pd.Timestamp(released_until)]
    if pending.empty:
        return ReplayStep(released_until, released_until, 0, True)
    chosen = pending.iloc[:bars_per_run]
    until = chosen.iloc[-1] + pd.Timedelta(milliseconds=timeframe_ms(timeframe))
    return ReplayStep(
        released_until, until.to_pydatetime(), len(chosen), len(pending) <= bars_per_run
    )


def save_clock(
    con: duckdb.DuckDBPyConnection,
    stream: Stream,
    *,
    start: datetime,
    bars_per_run: int,
    released_until: datetime,
) -> None:
    run(
        con,
        load_sql(_SQL, "replay_clock_set"),
        [
            stream.exchange,
            stream.symbol,
            stream.timeframe,
            start,
            bars_per_run,
            released_until,
            datetime.now(UTC),
        ],
    )
