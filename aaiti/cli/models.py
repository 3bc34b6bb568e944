"""``aaiti train``, ``aaiti predict`` and ``aaiti model list|promote|rollback``."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from aaiti.cli.errors import cli_errors
from aaiti.cli.figures import ratio
from aaiti.cli.market import out
from aaiti.cli.settings import command_settings

model_app = typer.Typer(help="The model registry: list, promote, roll back.", no_args_is_help=True)
Timeframe = Annotated[str | None, typer.Option(help="Model timeframe (default: the settings').")]


def train(timeframe: Timeframe = None) -> None:
    """Walk-forward train, log to MLflow, register; promote only if it beats the champion."""
    from aaiti.strategy.training import train_and_register

    with cli_errors():
        r = train_and_register(command_settings(record="train"), timeframe=timeframe)
        out.print(f"{r.model_name} v{r.version}: {r.decision}")
        b = r.baselines
        out.print(
            f"OOS AUC {r.oos['auc']:.4f} · log loss {r.oos['log_loss']:.4f} · accuracy {r.oos['accuracy']:.4f}"
            f" | momentum AUC {b['momentum_sign']['auc']:.4f} · shuffled-label AUC "
            f"{b['shuffled_label_control']['auc']:.4f} · always-long accuracy {b['always_long']['accuracy']:.4f}"
        )
        if r.strategy:
            p, bh = r.strategy["portfolio"]["strategy"], r.strategy["portfolio"]["buy_and_hold"]
            out.print(
                f"strategy out of sample, net of costs: return {p['total_return']:+.1%}, "
                f"Sharpe {ratio(p['sharpe'])} | buy-and-hold {bh['total_return']:+.1%}, "
                f"Sharpe {ratio(bh['sharpe'])}"
            )
        verdict = "trades" if r.qualified else "STANDS ASIDE"
        out.print(f"strategy {verdict}: {r.qualification}")


def predict(timeframe: Timeframe = None) -> None:
    """Score the newest feature rows with the champion into ml.predictions."""
    from aaiti.ml import predict_new
    from aaiti.warehouse import Warehouse

    with cli_errors():
        settings = command_settings(record="predict")
        report = predict_new(settings, timeframe=timeframe)
        Warehouse.from_settings(settings).publish_snapshot()
        out.print(report.message)


@model_app.command("list")
def list_versions(timeframe: Timeframe = None) -> None:
    """Every version with its aliases and out-of-sample metrics."""
    from aaiti.ml.tracking import model_name, tracker_for
    from aaiti.ml.train import version_summary

    with cli_errors():
        settings = command_settings()
        tracker = tracker_for(settings)
        name = model_name(timeframe or settings.timeframe)
        versions = tracker.versions(name)
        if not versions:
            out.print(f"no versions of {name} yet: run `aaiti train`")
            return
        table = Table(title=f"{name} (champion history: {tracker.history(name)})")
        for col in (
            "version",
            "aliases",
            "oos_auc",
            "momentum_auc",
            "shuffled_auc",
            "data_end",
            "run_id",
        ):
            table.add_column(col)
        for v in versions:
            row = version_summary(v)
            table.add_row(
                *[
                    f"{x:.4f}" if isinstance(x, float) else str(x)
                    for x in (
                        row["version"],
                        row["aliases"] or "-",
                        row["oos_auc"],
                        row["momentum_auc"],
                        row["shuffled_auc"],
                        row["data_end"],
                        row["run_id"],
                    )
                ]
            )
        out.print(table)


Reason = Annotated[str, typer.Option(help="Why (written to audit.log).")]


@model_app.command("promote")
def promote(
    version: Annotated[int, typer.Argument(help="Version to make champion.")],
    reason: Reason = "promoted by hand",
    timeframe: Timeframe = None,
) -> None:
    """Make a version the champion by hand (audited; its strategy stands aside until judged)."""
    import getpass

    from aaiti.ml.tracking import tracker_for
    from aaiti.strategy.operator import promote_by_hand
    from aaiti.warehouse import Warehouse

    with cli_errors():
        settings = command_settings()
        change = promote_by_hand(
            settings, tracker_for(settings), version=version, actor=getpass.getuser(),
            reason=reason, timeframe=timeframe,
        )  # fmt: skip
        Warehouse.from_settings(settings).publish_snapshot()
        out.print(change.message)


@model_app.command("rollback")
def rollback(reason: Reason = "rolled back by hand", timeframe: Timeframe = None) -> None:
    """Give the champion alias back to the previous champion (audited)."""
    import getpass

    from aaiti.ml.tracking import tracker_for
    from aaiti.strategy.operator import rollback_by_hand
    from aaiti.warehouse import Warehouse

    with cli_errors():
        settings = command_settings()
        change = rollback_by_hand(
            settings, tracker_for(settings), actor=getpass.getuser(), reason=reason,
            timeframe=timeframe,
        )  # fmt: skip
        Warehouse.from_settings(settings).publish_snapshot()
        out.print(change.message)
