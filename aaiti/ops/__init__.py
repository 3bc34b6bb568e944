"""The operations record every stage writes to, inside the caller's transaction: alerts
into the outbox (``ops.alerts``, delivered by ``aaiti.monitoring.alerts``) and operator
actions into ``audit.log``. Low-level on purpose: ingest, gates, training, trading and
risk import it; it imports nothing of theirs."""

from __future__ import annotations

from datetime import UTC, datetime

import duckdb

from aaiti.warehouse.sql import load_sql, run

SEVERITIES: tuple[str, ...] = ("info", "warning", "critical")


def raise_alert(
    con: duckdb.DuckDBPyConnection,
    *,
    source: str,
    severity: str,
    dedup_key: str,
    message: str,
    at: datetime | None = None,
) -> None:
    """Put an alert in the outbox, inside the caller's transaction."""
    if severity not in SEVERITIES:
        raise ValueError(f"alert severity {severity!r} is not one of {', '.join(SEVERITIES)}")
    run(
        con,
        load_sql("aaiti.ops", "insert_alert"),
        [at or datetime.now(UTC), source, severity, dedup_key, message],
    )


def audit(
    con: duckdb.DuckDBPyConnection,
    *,
    actor: str,
    action: str,
    detail: str,
    at: datetime | None = None,
) -> None:
    """Record an operator's action (who, what, and why with before → after)."""
    run(
        con, load_sql("aaiti.ops", "audit_insert"), [at or datetime.now(UTC), actor, action, detail]
    )
