"""Transform flow: ``dbt build`` (selectable), fail on any error, publish the snapshot."""

from __future__ import annotations

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_table_artifact

from aaiti.config import Settings
from aaiti.transform import TransformReport, build, generate_docs
from aaiti.warehouse import Warehouse
from flows.common import alert_on_failure, flow_settings, retry_on_transient, warehouse_slot


class TransformFailedError(RuntimeError):
    """A model errored or an error-severity dbt test failed."""


@task(retries=2, retry_delay_seconds=[10, 30], retry_condition_fn=retry_on_transient)
def dbt_build(settings: Settings, *, select: str | None, full_refresh: bool) -> TransformReport:
    with warehouse_slot():
        return build(settings, select=select, full_refresh=full_refresh)


@task
def dbt_docs(settings: Settings) -> str:
    return str(generate_docs(settings))


@task
def publish(settings: Settings) -> str:
    return str(Warehouse.from_settings(settings).publish_snapshot())


def report_rows(report: TransformReport) -> list[dict]:
    return [
        {
            "node": n.name,
            "type": n.resource_type,
            "status": n.status,
            "rows": n.rows,
            "failures": n.failures,
            "seconds": round(n.execution_time_s, 3),
            "message": (n.message or "")[:200],
        }
        for n in report.nodes
    ]


@flow(name="transform", log_prints=True, on_failure=[alert_on_failure])
def transform_flow(
    select: str | None = None,
    full_refresh: bool = False,
    docs: bool = True,
    publish_snapshot: bool = True,
) -> dict:
    """Build the dbt project; a failing model or error-severity test fails the flow."""
    settings = flow_settings()
    logger = get_run_logger()
    report = dbt_build(settings, select=select, full_refresh=full_refresh)
    create_table_artifact(
        key="transform-nodes", table=report_rows(report), description=report.summary()
    )
    if report.failures:
        names = ", ".join(f"{n.name} ({n.status})" for n in report.failures)
        raise TransformFailedError(f"dbt build failed: {names}")
    for node in report.warnings:
        logger.warning("dbt warning: %s: %s", node.name, node.message)
    snapshot = publish(settings) if publish_snapshot else "published at the pipeline's end"
    page = dbt_docs(settings) if docs else None
    logger.info("%s; snapshot %s; docs %s", report.summary(), snapshot, page)
    return {"summary": report.summary(), "snapshot": snapshot, "docs": page}


if __name__ == "__main__":
    transform_flow()
