"""Trade flow (after predict, each new bar) and risk flow (scheduled)."""

from __future__ import annotations

from dataclasses import asdict

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact

from aaiti.config import Settings
from aaiti.risk.engine import RiskReport, compute_risk
from aaiti.trading.engine import TradingReport, trading_cycle
from aaiti.trading.live import order_client_from
from aaiti.warehouse import Warehouse
from flows.common import (
    alert_on_failure,
    deliver_alerts,
    flow_settings,
    retry_on_transient,
    warehouse_slot,
)


@task(
    retries=2,
    retry_delay_seconds=[5, 20],
    retry_condition_fn=retry_on_transient,
    timeout_seconds=600,
)
def trade(settings: Settings) -> TradingReport:
    with warehouse_slot():
        return trading_cycle(settings, order_client=order_client_from(settings))


@task(
    retries=2,
    retry_delay_seconds=[5, 20],
    retry_condition_fn=retry_on_transient,
    timeout_seconds=600,
)
def risk(settings: Settings) -> RiskReport:
    with warehouse_slot():
        return compute_risk(settings)


@flow(name="trade", log_prints=True, on_failure=[alert_on_failure])
def trade_flow() -> dict:
    settings = flow_settings()
    report = trade(settings)
    logger = get_run_logger()
    for event in report.events:
        logger.warning("risk event: %s", event)
    deliver_alerts(settings)
    Warehouse.from_settings(settings).publish_snapshot()
    create_markdown_artifact(
        key="trading-cycle",
        markdown=(
            f"bars {report.bars} · orders {report.orders} · rejected by risk {report.rejected} · "
            f"fills {report.fills} · equity {report.equity} · halted {report.halted}"
        ),
    )
    return asdict(report)


def _fmt(value: float | None) -> str:
    return "" if value is None else f"{value:.6g}"


@flow(name="risk", log_prints=True, on_failure=[alert_on_failure])
def risk_flow() -> dict:
    settings = flow_settings()
    report = risk(settings)
    Warehouse.from_settings(settings).publish_snapshot()
    lines = ["| metric | value | status |", "|---|---:|---|"]
    lines += [f"| {r['metric']} | {_fmt(r['value'])} | {r['status']} |" for r in report.rows]
    create_markdown_artifact(key="risk-metrics", markdown="\n".join(lines))
    return {r["metric"]: r["value"] for r in report.rows}


@flow(name="backtest", log_prints=True, on_failure=[alert_on_failure])
def backtest_flow(fasts: list[int] | None = None, slows: list[int] | None = None) -> dict:
    """Ad hoc: an SMA-crossover grid on the default symbols (warehouse + MLflow)."""
    from aaiti.trading.grid import run_sma_grid

    settings = flow_settings()
    report = run_sma_grid(settings, fasts=fasts or [5, 10, 20, 50], slows=slows or [50, 100, 200])
    cols = [
        "symbol",
        "fast",
        "slow",
        "total_return",
        "sharpe",
        "max_drawdown",
        "trades",
        "win_rate",
    ]
    table = report.results[cols].round(4)
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    lines += [
        "| " + " | ".join(str(v) for v in row) + " |" for row in table.itertuples(index=False)
    ]
    create_markdown_artifact(key="backtest", markdown="\n".join(lines))
    return {
        "backtest_id": report.backtest_id,
        "mlflow_run_id": report.mlflow_run_id,
        "combinations": len(report.results),
    }


if __name__ == "__main__":
    trade_flow()
