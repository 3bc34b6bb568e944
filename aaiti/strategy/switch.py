"""An operator's switch on one strategy: disabled, it stands aside whatever its
qualification (open positions exit as for a strategy that does not qualify); enabled, its
qualification decides again. Each switch is audited with actor, reason, before and after."""

from __future__ import annotations

from datetime import UTC, datetime

import duckdb

from aaiti.config import Settings
from aaiti.ops import audit
from aaiti.warehouse import Warehouse
from aaiti.warehouse.sql import fetch_one, load_sql, run

_SQL = "aaiti.strategy"


def disabled_reason(con: duckdb.DuckDBPyConnection, *, name: str, timeframe: str) -> str | None:
    """Why the strategy is switched off, or None while it may trade."""
    row = fetch_one(con, load_sql(_SQL, "switch_get"), [name, timeframe])
    if row is None or row[0]:
        return None
    _, actor, reason, at = row
    return f"disabled by {actor} at {at:%Y-%m-%d %H:%M} UTC: {reason} (`aaiti strategy enable`)"


def switch_strategy(
    settings: Settings,
    *,
    enabled: bool,
    actor: str,
    reason: str,
    timeframe: str | None = None,
    warehouse: Warehouse | None = None,
) -> str:
    """Enable or disable the settings' strategy on a timeframe; returns the audit line."""
    warehouse = warehouse or Warehouse.from_settings(settings)
    name, tf, now = settings.trading_strategy, timeframe or settings.timeframe, datetime.now(UTC)
    with warehouse.writer(purpose="strategy switch") as con:
        before = disabled_reason(con, name=name, timeframe=tf) is None
        run(con, load_sql(_SQL, "switch_upsert"), [name, tf, enabled, actor, reason, now])
        state = {True: "enabled", False: "disabled"}
        message = f"strategy {name} ({tf}): {state[before]} → {state[enabled]} by {actor}: {reason}"
        action = "strategy enable" if enabled else "strategy disable"
        audit(con, actor=actor, action=action, detail=message, at=now)
    return message
