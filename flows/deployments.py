"""Deployments, declared in code: what runs on which schedule (``aaiti-serve`` serves them).

- ``pipeline``: every bar of the configured timeframe (a minute after the close). Under
  market replay, every ``AAITI_REPLAY_INTERVAL_S`` instead: each run releases the next
  bar, so the system is visibly live.
  Its runs, and risk's, execute in the warm runner's long-lived process
  (``flows/warm_runner.py``).
- ``risk`` every 5 minutes, ``monitor`` hourly, ``train`` daily; ``backtest`` and
  ``ingest`` and ``evaluate`` on demand (no schedule), with parameters.
"""

from __future__ import annotations

from typing import Any

from aaiti.config import Settings
from aaiti.market.timeframes import timeframe_ms


def cron_for(timeframe: str) -> str:
    """A cron that fires one minute after each close of ``timeframe``."""
    minutes = timeframe_ms(timeframe) // 60_000
    if minutes < 60:
        return "* * * * *" if minutes == 1 else f"*/{minutes} * * * *"
    hours = minutes // 60
    if hours < 24:
        return "1 * * * *" if hours == 1 else f"1 */{hours} * * *"
    return "1 0 * * *"


def pipeline_schedule(settings: Settings) -> dict[str, Any]:
    if settings.source == "sample":
        return {"interval": settings.replay_interval_s}
    return {"cron": cron_for(settings.timeframe)}


def deployments(settings: Settings) -> list[Any]:
    from flows.common import task_runner_from
    from flows.ingest import ingest_flow
    from flows.monitor import monitor_flow
    from flows.pipeline import pipeline_flow
    from flows.strategy import evaluate_flow
    from flows.trade import backtest_flow, risk_flow
    from flows.train import train_flow

    runner = task_runner_from(settings)
    return [
        pipeline_flow.to_deployment(
            name="pipeline", tags=["aaiti", "per-bar"], **pipeline_schedule(settings)
        ),
        risk_flow.to_deployment(name="risk", interval=300, tags=["aaiti"]),
        monitor_flow.to_deployment(name="monitor", cron="0 * * * *", tags=["aaiti"]),
        train_flow.to_deployment(name="train", cron="30 0 * * *", tags=["aaiti"]),
        backtest_flow.with_options(task_runner=runner).to_deployment(
            name="backtest", parameters={"fasts": [5, 10, 20], "slows": [50, 100, 200]},
            tags=["aaiti", "ad hoc"],
        ),
        ingest_flow.with_options(task_runner=runner).to_deployment(
            name="ingest", tags=["aaiti", "ad hoc"]
        ),
        evaluate_flow.to_deployment(name="evaluate", tags=["aaiti", "ad hoc"]),
    ]  # fmt: skip


#: Deployments the warm runner executes, and their flows (imported in its executor).
WARM = {"pipeline": "flows.pipeline:pipeline_flow", "risk": "flows.trade:risk_flow"}


def serve(settings: Settings) -> None:
    """Register every deployment and run their schedules until SIGTERM.

    The runs of ``pipeline`` and ``risk`` go to the warm runner (``flows/warm_runner.py``):
    one long-lived executor that imported GX, dbt and MLflow once, instead of Prefect's
    fresh interpreter per run. ``AAITI_PIPELINE_RUNNER=prefect`` serves them with Prefect's
    runner like the rest.
    """
    from prefect import serve as prefect_serve

    from flows.common import ensure_concurrency_limit
    from flows.warm_runner import WarmRunner, warm_runner_thread

    ensure_concurrency_limit()
    served = deployments(settings)
    if settings.pipeline_runner == "prefect":
        prefect_serve(*served, limit=2)
        return
    warm = [d for d in served if d.name in WARM]
    runner = WarmRunner(deployments={d.apply(): WARM[d.name] for d in warm}, settings=settings)
    with warm_runner_thread(runner):
        prefect_serve(*(d for d in served if d not in warm), limit=2)
