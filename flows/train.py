"""Train flow: walk-forward, MLflow run, registry, champion/challenger decision."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict
from typing import Any

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE

from aaiti.config import Settings
from aaiti.ml.model import FoldFit, FoldFitResult, FoldMap, fit_fold
from aaiti.strategy.training import TrainingReport, train_and_register
from flows.common import alert_on_failure, flow_settings, task_runner_from


@task(task_run_name="train {timeframe}", timeout_seconds=3600)
def train(settings: Settings, *, timeframe: str) -> TrainingReport:
    return train_and_register(settings, timeframe=timeframe)


@task(task_run_name="fit fold", timeout_seconds=1800, cache_policy=NO_CACHE)
def fit_fold_task(job: FoldFit) -> FoldFitResult:
    return fit_fold(job)


def folds_on(runner: Any) -> FoldMap:
    """A fold map that submits each fit as a task to ``runner`` (an entered task runner)."""

    def map_folds(fn: Callable[[FoldFit], FoldFitResult], jobs: list[FoldFit]) -> list:
        if fn is not fit_fold:
            raise ValueError(f"folds_on runs aaiti.ml.model.fit_fold, not {fn!r}")
        futures = [runner.submit(fit_fold_task, parameters={"job": job}) for job in jobs]
        return [f.result() for f in futures]

    return map_folds


def report_markdown(r: TrainingReport) -> str:
    b = r.baselines
    lines = [
        f"# {r.model_name} v{r.version} — {'promoted to champion' if r.promoted else 'challenger'}",
        "",
        f"**Decision:** {r.decision}",
        f"**Data:** {r.rows:,} labelled rows, {r.data_start} → {r.data_end}; MLflow run `{r.run_id}`",
        "",
        "| out of sample (walk-forward) | AUC | log loss | Brier | accuracy |",
        "|---|---:|---:|---:|---:|",
        f"| model | {r.oos['auc']:.4f} | {r.oos['log_loss']:.4f} | {r.oos['brier']:.4f} | {r.oos['accuracy']:.4f} |",
        f"| momentum sign (baseline) | {b['momentum_sign']['auc']:.4f} | – | – | {b['momentum_sign']['accuracy']:.4f} |",
        f"| always long (baseline) | 0.5000 | – | – | {b['always_long']['accuracy']:.4f} |",
        f"| shuffled labels (control) | {b['shuffled_label_control']['auc']:.4f} | "
        f"{b['shuffled_label_control']['log_loss']:.4f} | {b['shuffled_label_control']['brier']:.4f} | "
        f"{b['shuffled_label_control']['accuracy']:.4f} |",
    ]
    if r.strategy:
        p, bh = r.strategy["portfolio"]["strategy"], r.strategy["portfolio"]["buy_and_hold"]

        def num(x):
            return "–" if x is None else f"{x:.2f}"

        lines += [
            "",
            "| strategy, out of sample, net of costs | return | Sharpe | max drawdown |",
            "|---|---:|---:|---:|",
            f"| strategy (portfolio) | {p['total_return']:+.1%} | {num(p['sharpe'])} | {p['max_drawdown']:.1%} |",
            f"| buy-and-hold | {bh['total_return']:+.1%} | {num(bh['sharpe'])} | {bh['max_drawdown']:.1%} |",
            "",
            f"**Strategy:** {'trades' if r.qualified else 'STANDS ASIDE'} — {r.qualification}",
        ]
    return "\n".join(lines)


@flow(name="train", log_prints=True, on_failure=[alert_on_failure])
def train_flow(timeframe: str | None = None) -> dict:
    """Train the pooled model of a timeframe (daily, or when monitoring asks for it)."""
    settings = flow_settings()
    timeframe = timeframe or settings.timeframe
    if settings.dask_address:  # the fold fits spread over the cluster's workers, as tasks
        with task_runner_from(settings) as runner:
            report = train_and_register(settings, timeframe=timeframe, map_folds=folds_on(runner))
    else:
        report = train(settings, timeframe=timeframe)
    create_markdown_artifact(
        key="training-report", markdown=report_markdown(report), description=report.decision
    )
    get_run_logger().info("%s v%d: %s", report.model_name, report.version, report.decision)
    return asdict(report)


if __name__ == "__main__":
    train_flow()
