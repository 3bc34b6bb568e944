"""Monitor flow (hourly): drift of each champion, its live quality, and the retrain trigger.

A retrain goes through the ``train`` deployment when a Prefect server serves it, and runs as
a subflow otherwise; which one is recorded with the decision.
"""

from __future__ import annotations

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact

from aaiti.config import Settings
from aaiti.monitoring.monitor import MonitorResult, monitor_champion, record_retrain_start
from aaiti.warehouse import Warehouse
from flows.common import alert_on_failure, deliver_alerts, flow_settings, retry_on_transient

TRAIN_DEPLOYMENT = "train/train"


@task(retries=1, retry_delay_seconds=10, retry_condition_fn=retry_on_transient, timeout_seconds=900)
def check_drift(settings: Settings) -> MonitorResult:
    return monitor_champion(settings)


def start_training(timeframe: str) -> str:
    """The train deployment when a server has it; a subflow otherwise. Returns which."""
    from prefect.deployments import run_deployment
    from prefect.exceptions import ObjectNotFound

    from flows.train import train_flow

    try:
        run_deployment(TRAIN_DEPLOYMENT, parameters={"timeframe": timeframe}, timeout=0)
        return "deployment"
    except ObjectNotFound:
        train_flow(timeframe=timeframe)
        return "subflow"


def summary_markdown(result: MonitorResult, started_via: str | None) -> str:
    if result.drift is None:
        return f"# Monitoring\n\n{result.message}"
    lines = [
        f"# {result.model_name} v{result.version}: "
        f"{result.drift.drifted_share:.0%} of features drifted",
        "",
        f"**Decision:** {result.decision.reason}"
        + (f" — training started as a {started_via}" if started_via else ""),
        "**Live quality:** "
        + (
            f"AUC {result.current_auc:.3f} on {result.labelled_rows} matured predictions "
            f"(walk-forward OOS {result.reference_auc:.3f})"
            if result.current_auc is not None
            else f"not judged yet ({result.labelled_rows} matured predictions)"
        ),
        f"**Report:** `{result.report_path}`",
        "",
        "| column | test | score | threshold | drifted |",
        "|---|---|---:|---:|---|",
    ]
    cols = list(result.drift.features) + (
        [result.drift.prediction] if result.drift.prediction else []
    )
    lines += [
        f"| {c.column} | {c.method} | {c.score:.4f} | {c.threshold:g} | {'yes' if c.drifted else ''} |"
        for c in cols
    ]
    return "\n".join(lines)


@flow(name="monitor", log_prints=True, on_failure=[alert_on_failure])
def monitor_flow() -> dict:
    settings = flow_settings()
    result = check_drift(settings)
    started_via = None
    if result.decision is not None and result.decision.retrain:
        started_via = start_training(settings.timeframe)
        record_retrain_start(settings, drift_run_id=result.drift_run_id, via=started_via)
    delivered = deliver_alerts(settings)
    Warehouse.from_settings(settings).publish_snapshot()
    create_markdown_artifact(
        key="drift-summary",
        markdown=summary_markdown(result, started_via),
        description=result.message,
    )
    get_run_logger().info(result.message)
    return {
        "model": result.model_name,
        "version": result.version,
        "drifted_share": result.drift.drifted_share if result.drift else None,
        "retrain": bool(result.decision and result.decision.retrain),
        "started_via": started_via,
        "report": result.report_path,
        "alerts": delivered,
    }


if __name__ == "__main__":
    monitor_flow()
