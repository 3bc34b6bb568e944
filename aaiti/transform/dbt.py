"""The dbt adapter: the only module that imports dbt. Runs dbt in-process (dbtRunner).

dbt writes the warehouse, so every invocation holds the writer lock for its whole run;
nothing else of ours has the file open meanwhile. Results come back as typed per-node
records instead of dbt's objects.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

from aaiti.cluster import require
from aaiti.config import Settings, apply_dbt_environment
from aaiti.warehouse import Warehouse, writer_lock
from aaiti.warehouse.sql import fetch_one, load_sql, run

log = logging.getLogger(__name__)


class DbtError(RuntimeError):
    """dbt could not run at all (bad project, bad arguments), as opposed to a failing node."""


@dataclass(frozen=True)
class NodeResult:
    unique_id: str
    name: str
    resource_type: str  # model | test | seed | snapshot | source
    status: str  # success | error | skipped | pass | fail | warn
    execution_time_s: float
    message: str | None = None
    failures: int | None = None
    severity: str | None = None
    rows: int | None = None

    @property
    def failed(self) -> bool:
        """An erroring model or an error-severity test that failed (warnings do not count)."""
        return self.status in ("error", "fail", "runtime error")


@dataclass(frozen=True)
class TransformReport:
    command: list[str]
    success: bool
    duration_s: float
    nodes: list[NodeResult] = field(default_factory=list)

    @property
    def models(self) -> list[NodeResult]:
        return [n for n in self.nodes if n.resource_type == "model"]

    @property
    def tests(self) -> list[NodeResult]:
        return [n for n in self.nodes if n.resource_type == "test"]

    @property
    def failures(self) -> list[NodeResult]:
        return [n for n in self.nodes if n.failed]

    @property
    def warnings(self) -> list[NodeResult]:
        return [n for n in self.nodes if n.status == "warn"]

    def summary(self) -> str:
        return (
            f"dbt {' '.join(self.command[:1])}: {len(self.models)} models, {len(self.tests)} tests, "
            f"{len(self.failures)} failed, {len(self.warnings)} warnings in {self.duration_s:.1f} s"
        )


def _common_args(settings: Settings) -> list[str]:
    target = settings.dbt_dir / "target"
    return [
        "--project-dir",
        str(settings.dbt_project_dir),
        "--profiles-dir",
        str(settings.dbt_project_dir),
        "--target-path",
        str(target.resolve()),
        "--log-path",
        str((settings.dbt_dir / "logs").resolve()),
        "--target",
        settings.dbt_target,
    ]


def run_dbt(
    settings: Settings, command: list[str], *, warehouse: Warehouse | None = None
) -> TransformReport:
    """Run one dbt command in-process while holding the warehouse's writer lock."""
    from dbt.cli.main import dbtRunner

    warehouse = warehouse or Warehouse.from_settings(settings)
    warehouse.migrate()  # raw/ops must exist before dbt reads its sources
    apply_dbt_environment(settings)
    settings.dbt_dir.mkdir(parents=True, exist_ok=True)
    args = [*command, *_common_args(settings)]
    started = time.monotonic()
    with writer_lock(
        warehouse.lock_path, timeout_s=warehouse.lock_timeout_s, purpose=f"dbt {' '.join(command)}"
    ):
        try:
            result = dbtRunner().invoke(args)
        finally:
            _release_duckdb()
        nodes = _nodes(result.result)
        if nodes and any(n.resource_type == "model" for n in nodes):
            nodes = _with_row_counts(warehouse, nodes)
    if result.exception is not None and not nodes:
        raise DbtError(f"dbt {' '.join(command)} could not run: {result.exception}")
    report = TransformReport(command, bool(result.success), time.monotonic() - started, nodes)
    log.info(report.summary())
    return report


def _release_duckdb() -> None:
    """Make sure dbt-duckdb let go of the warehouse file before we release the lock.

    The profile sets ``keep_open: false``; this also closes a cached environment in case a
    dbt-duckdb version keeps one, because another process may be the next writer.
    """
    from dbt.adapters.duckdb.connections import DuckDBConnectionManager

    env = getattr(DuckDBConnectionManager, "_ENV", None)
    if env is not None:
        env.close()
        DuckDBConnectionManager._ENV = None


def _nodes(result: object) -> list[NodeResult]:
    out = []
    for r in getattr(result, "results", None) or []:
        node = r.node
        status = str(getattr(r.status, "value", r.status))
        out.append(
            NodeResult(
                unique_id=node.unique_id,
                name=node.name,
                resource_type=str(getattr(node.resource_type, "value", node.resource_type)),
                status=status,
                execution_time_s=float(r.execution_time or 0.0),
                message=r.message,
                failures=r.failures,
                severity=str(getattr(node.config, "severity", "") or "") or None,
            )
        )
    return out


def _with_row_counts(warehouse: Warehouse, nodes: list[NodeResult]) -> list[NodeResult]:
    """Add each built table's row count (views have none)."""
    from dataclasses import replace

    import duckdb

    con = duckdb.connect(str(warehouse.path), read_only=True)
    try:
        counts = {}
        for schema, name, _ in con.sql(load_sql("aaiti.transform", "model_row_counts")).fetchall():
            counts[name] = con.sql(f'SELECT count(*) FROM "{schema}"."{name}"').fetchall()[0][0]
    finally:
        con.close()
    return [replace(n, rows=counts.get(n.name)) if n.resource_type == "model" else n for n in nodes]


def build(
    settings: Settings,
    *,
    select: str | None = None,
    exclude: str | None = None,
    full_refresh: bool = False,
    warehouse: Warehouse | None = None,
    dbt_vars: dict | None = None,
    run_tests: bool = True,
    honour_requests: bool = True,
) -> TransformReport:
    """``dbt build`` (or ``dbt run`` without tests): the models in dependency order.

    A pending request for a full rebuild (a quality gate removed candles, which incremental
    models cannot see) turns this into a ``--full-refresh`` build, and is marked done when
    the build succeeds.
    """
    import json
    from datetime import UTC, datetime

    if settings.dask_address:  # the features model spreads there: a down one fails here
        require(settings.dask_address)
    warehouse = warehouse or Warehouse.from_settings(settings)
    asked_at = datetime.now(UTC)
    if honour_requests and not full_refresh:
        pending, why = _pending_full_refresh(warehouse)
        if pending:
            log.warning("full rebuild requested: %s", why)
            full_refresh = True
    command = ["build" if run_tests else "run"]
    if dbt_vars:
        command += ["--vars", json.dumps(dbt_vars)]
    if select:
        command += ["--select", select]
    if exclude:
        command += ["--exclude", exclude]
    if full_refresh:
        command.append("--full-refresh")
    report = run_dbt(settings, command, warehouse=warehouse)
    if report.success and full_refresh and not select:
        with warehouse.writer(purpose="transform requests") as con:
            run(
                con,
                load_sql("aaiti.transform", "mark_requests_done"),
                [datetime.now(UTC), asked_at],
            )
    return report


def _pending_full_refresh(warehouse: Warehouse) -> tuple[int, str | None]:

    warehouse.migrate()
    with warehouse.writer(purpose="transform requests") as con:
        count, reasons = fetch_one(con, load_sql("aaiti.transform", "pending_full_refresh"))
    return int(count), reasons


def generate_docs(settings: Settings, *, warehouse: Warehouse | None = None) -> Path:
    """``dbt docs generate --static``: one self-contained HTML page with the lineage."""
    report = run_dbt(settings, ["docs", "generate", "--static"], warehouse=warehouse)
    page = settings.dbt_dir / "target" / "static_index.html"
    if not report.success or not page.exists():
        raise DbtError("dbt docs generate failed; see " + str(settings.dbt_dir / "logs"))
    return page
