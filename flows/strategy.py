"""Evaluate flow: the deployed strategy on a fresh walk-forward, net of costs (on demand)."""

from __future__ import annotations

from prefect import flow, task
from prefect.artifacts import create_markdown_artifact

from aaiti.config import Settings
from aaiti.strategy.champion import evaluate_champion
from aaiti.strategy.evaluate import StrategyEvaluation
from aaiti.warehouse import Warehouse
from flows.common import alert_on_failure, flow_settings


@task(task_run_name="evaluate {timeframe}", timeout_seconds=3600)
def evaluate(settings: Settings, *, timeframe: str) -> StrategyEvaluation:
    return evaluate_champion(settings, timeframe=timeframe)


def evaluation_markdown(ev: StrategyEvaluation) -> str:
    def pct(x):
        return "–" if x is None else f"{x:+.1%}"

    def num(x):
        return "–" if x is None else f"{x:.2f}"

    s = ev.summary()
    lines = [
        f"# {s['strategy']}@{s['strategy_version']} on {s['model']}",
        "",
        f"Out of sample {ev.start} → {ev.end}, net of {s['conventions']['costs']}; "
        "fills at the next open.",
        "",
        "| | net return | Sharpe | max drawdown | trades | buy-and-hold return | B&H Sharpe |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for label, d in [("portfolio", ev.portfolio), *ev.per_stream.items()]:
        a, b = d["strategy"], d["buy_and_hold"]
        lines.append(
            f"| {label} | {pct(a.total_return)} | {num(a.sharpe)} | {pct(a.max_drawdown)} | "
            f"{a.trades} | {pct(b.total_return)} | {num(b.sharpe)} |"
        )
    dsr = "–" if ev.dsr is None else f"{ev.dsr.probability:.3f}"
    verdict = "**qualifies**" if ev.qualification.qualified else "**stands aside**"
    lines += ["", f"Deflated Sharpe probability {dsr} ({ev.trials} trial(s)): {verdict} — "
              f"{ev.qualification.reason}"]  # fmt: skip
    return "\n".join(lines)


@flow(name="evaluate", log_prints=True, on_failure=[alert_on_failure])
def evaluate_flow(timeframe: str | None = None) -> dict:
    settings = flow_settings()
    ev = evaluate(settings, timeframe=timeframe or settings.timeframe)
    Warehouse.from_settings(settings).publish_snapshot()
    create_markdown_artifact(
        key="strategy-evaluation",
        markdown=evaluation_markdown(ev),
        description=ev.qualification.reason,
    )
    return ev.summary()


if __name__ == "__main__":
    evaluate_flow()
