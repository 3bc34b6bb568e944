"""Predict flow: score the newest feature rows with the champion (each new bar)."""

from __future__ import annotations

from dataclasses import asdict

from prefect import flow, get_run_logger, task

from aaiti.config import Settings
from aaiti.ml import PredictReport, predict_new
from aaiti.warehouse import Warehouse
from flows.common import alert_on_failure, flow_settings, retry_on_transient


@task(
    task_run_name="predict {timeframe}",
    retries=2,
    retry_delay_seconds=[5, 20],
    retry_condition_fn=retry_on_transient,
)
def predict(settings: Settings, *, timeframe: str) -> PredictReport:
    return predict_new(settings, timeframe=timeframe)


@flow(name="predict", log_prints=True, on_failure=[alert_on_failure])
def predict_flow(timeframe: str | None = None, publish: bool = True) -> dict:
    settings = flow_settings()
    report = predict(settings, timeframe=timeframe or settings.timeframe)
    (get_run_logger().info if report.version else get_run_logger().warning)(report.message)
    if publish:
        Warehouse.from_settings(settings).publish_snapshot()
    return asdict(report)


if __name__ == "__main__":
    predict_flow()
