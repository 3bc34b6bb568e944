"""An operator's release of a stream blocked by a persistent level shift (audited).

The raw gate blocks a stream whose series continues at another level (a redenomination,
a changed quote currency, a unit error) rather than quarantine one bar after another. An
operator who confirms the new level is real releases that bar: the gate then takes it as
the stream's new reference. Who, when and why go to ``ops.quality_releases`` and
``audit.log``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime

import pandas as pd

from aaiti.errors import StateError
from aaiti.market.candles import Stream
from aaiti.ops import audit
from aaiti.warehouse import Warehouse
from aaiti.warehouse.sql import fetch_one, load_sql, run

_SQL = "aaiti.quality"


class NothingToReleaseError(StateError, ValueError):
    """The stream is not blocked by a level shift, and no bar was named."""


@dataclass(frozen=True)
class Release:
    stream: Stream
    ts: pd.Timestamp
    actor: str
    reason: str


def release_level(
    warehouse: Warehouse, stream: Stream, *, actor: str, reason: str, at: datetime | None = None
) -> Release:
    """Accept the jump at ``at`` (default: the bar the gate blocks on) as a real level."""
    now = datetime.now(UTC)
    with warehouse.writer(purpose=f"release {stream}") as con:
        if at is None:
            row = fetch_one(con, load_sql(_SQL, "blocking_jump"), [*_keys(stream)])
            if row is None or not row[0]:
                raise NothingToReleaseError(
                    f"{stream} is not blocked by a level shift or an unconfirmed jump; "
                    "name the bar with --at to release it anyway"
                )
            at = pd.Timestamp(json.loads(row[0])[0])
        ts = pd.Timestamp(at)
        ts = ts.tz_localize(UTC) if ts.tzinfo is None else ts
        run(con, load_sql(_SQL, "release_insert"), [*_keys(stream), ts, actor, reason, now])
        detail = f"{stream}: the level at {ts.isoformat()} accepted as real — {reason}"
        audit(con, actor=actor, action="quality release", detail=detail, at=now)
    return Release(stream, ts, actor, reason)


def _keys(stream: Stream) -> list[str]:
    return [stream.exchange, stream.symbol, stream.timeframe]
