"""Trade flow (after predict, each new bar) and risk flow (scheduled)."""

from __future__ import annotations

from dataclasses import asdict
from datetime import timedelta

import pandas as pd
from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import INPUTS, TASK_SOURCE

from aaiti.config import Settings
from aaiti.execution.costs import CostModel
from aaiti.risk.job import RiskReport, compute_risk
from aaiti.trading.accounts import said_total
from aaiti.trading.cycle import trading_cycle
from aaiti.trading.grid import costs_from, grid_for_symbol
from aaiti.trading.live import order_client_from
from aaiti.trading.report import TradingReport
from aaiti.warehouse import Warehouse
from flows.common import (
    alert_on_failure,
    deliver_alerts,
    flow_settings,
    retry_on_transient,
)


@task(
    retries=2,
    retry_delay_seconds=[5, 20],
    retry_condition_fn=retry_on_transient,
    timeout_seconds=600,
)
def trade(settings: Settings) -> TradingReport:
    return trading_cycle(settings, order_client=order_client_from(settings))


@task(
    retries=2,
    retry_delay_seconds=[5, 20],
    retry_condition_fn=retry_on_transient,
    timeout_seconds=600,
)
def risk(settings: Settings) -> RiskReport:
    return compute_risk(settings)


@flow(name="trade", log_prints=True, on_failure=[alert_on_failure])
def trade_flow(publish: bool = True) -> dict:
    """One trading cycle; ``publish=False`` when the pipeline publishes once at its end."""
    settings = flow_settings()
    report = trade(settings)
    logger = get_run_logger()
    for event in report.events:
        logger.warning("risk event: %s", event)
    deliver_alerts(settings)
    if publish:
        Warehouse.from_settings(settings).publish_snapshot()
    create_markdown_artifact(
        key="trading-cycle",
        markdown=(
            f"bars {report.bars} · orders {report.orders} · rejected by risk {report.rejected} · "
            f"fills {report.fills} · equity {report.equity} · halted {report.halted}  \n"
            f"strategy {report.strategy}: "
            + ("qualified" if report.qualified else "STANDING ASIDE")
            + f" — {report.strategy_reason}"
            + "".join(
                f"  \n{name}: equity {b.equity} · fills {b.fills} · halted {b.halted}"
                for name, b in report.books.items()
            )
            + (f"  \n{said_total(report.total)}" if report.total is not None else "")
        ),
    )
    return asdict(report)


def _fmt(value: float | None) -> str:
    return "" if value is None else f"{value:.6g}"


@flow(name="risk", log_prints=True, on_failure=[alert_on_failure])
def risk_flow(publish: bool = True) -> dict:
    settings = flow_settings()
    report = risk(settings)
    if publish:
        Warehouse.from_settings(settings).publish_snapshot()
    lines = ["| book | metric | value | status |", "|---|---|---:|---|"]
    lines += [
        f"| {r['account']} | {r['metric']} | {_fmt(r['value'])} | {r['status']} |"
        for r in report.rows
    ]
    create_markdown_artifact(key="risk-metrics", markdown="\n".join(lines))
    several = len(report.accounts) > 1  # a book per quote currency: named
    return {
        (f"{r['account']}:{r['metric']}" if several else r["metric"]): r["value"]
        for r in report.rows
    }


@task(
    task_run_name="grid {symbol}",
    cache_policy=INPUTS + TASK_SOURCE,
    cache_expiration=timedelta(days=7),
)
def symbol_grid(
    symbol: str,
    candles: pd.DataFrame,
    *,
    fasts: list[int],
    slows: list[int],
    costs: CostModel,
    timeframe: str,
) -> pd.DataFrame:
    """Pure in its inputs (the candles themselves, the grid, the costs): cached by them."""
    return grid_for_symbol(
        symbol, candles, fasts=fasts, slows=slows, costs=costs, timeframe=timeframe
    )


@flow(name="backtest", log_prints=True, on_failure=[alert_on_failure])
def backtest_flow(fasts: list[int] | None = None, slows: list[int] | None = None) -> dict:
    """Ad hoc: an SMA-crossover grid on the default symbols (warehouse + MLflow)."""
    from aaiti.trading.grid import load_grid_candles, store_grid

    settings = flow_settings()
    fasts, slows = fasts or [5, 10, 20, 50], slows or [50, 100, 200]
    costs = costs_from(settings)
    candles = load_grid_candles(settings, timeframe=settings.timeframe)
    futures = [
        symbol_grid.submit(
            symbol, frame, fasts=fasts, slows=slows, costs=costs, timeframe=settings.timeframe
        )
        for symbol, frame in candles.items()
    ]  # one task per symbol: spread across Dask workers when AAITI_DASK_ADDRESS is set
    report = store_grid(settings, [f.result() for f in futures], timeframe=settings.timeframe)
    table = report.summary()
    lines = ["| " + " | ".join(table.columns) + " |", "|" + "---|" * len(table.columns)]
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
