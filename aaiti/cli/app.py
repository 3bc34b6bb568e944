"""Command-line entry point."""

from __future__ import annotations

import logging
import sys
from typing import Annotated

import typer

from aaiti.cli import market as market_cmds
from aaiti.cli import models as model_cmds
from aaiti.cli import quality as quality_cmds
from aaiti.cli import stack as stack_cmds
from aaiti.cli import strategy as strategy_cmds
from aaiti.cli import trading as trading_cmds
from aaiti.cli import transform as transform_cmds
from aaiti.cli.errors import EXIT_INTERNAL, say_internal_error

app = typer.Typer(
    name="aaiti",
    help="AAITI — a workflow-orchestrated data and ML pipeline for crypto markets.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.command("ingest")(market_cmds.ingest)
app.command("backfill")(market_cmds.backfill)
app.command("import")(market_cmds.import_)
app.command("status")(market_cmds.status)
app.command("universe")(market_cmds.universe)
app.command("validate")(quality_cmds.validate)
app.command("release")(quality_cmds.release)
app.command("transform")(transform_cmds.transform)
app.command("docs")(transform_cmds.docs)
app.command("train")(model_cmds.train)
app.command("predict")(model_cmds.predict)
app.add_typer(model_cmds.model_app, name="model")
app.add_typer(trading_cmds.position_app, name="position")
app.add_typer(trading_cmds.live_app, name="live")
app.command("trade")(trading_cmds.trade)
app.command("risk")(trading_cmds.risk)
app.command("halt")(trading_cmds.halt)
app.command("resume")(trading_cmds.resume)
app.command("backtest")(trading_cmds.backtest)
app.command("evaluate")(strategy_cmds.evaluate)
app.command("results")(strategy_cmds.results)
app.add_typer(strategy_cmds.strategy_app, name="strategy")
app.add_typer(stack_cmds.stack_app, name="stack")
app.command("metrics")(stack_cmds.metrics)
app.add_typer(stack_cmds.auth_app, name="auth")


@app.callback()
def _root(
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log progress.")] = False,
) -> None:
    root = logging.getLogger()
    if not root.handlers:  # as logging.basicConfig: leave a host's own logging alone
        handler = _Stderr()
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        root.addHandler(handler)
        root.setLevel(logging.INFO if verbose else logging.WARNING)


class _Stderr(logging.StreamHandler):
    """Writes to whatever ``sys.stderr`` is now, not the stream it was created with (one
    process may run several invocations, each with its own stderr)."""

    def __init__(self) -> None:
        super().__init__()

    @property  # type: ignore[override]
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, value) -> None:
        pass


def main() -> None:
    """``aaiti``: a command that fails outside its error mapping is still one line, said
    as a bug (exit 70), never a traceback on the terminal."""
    try:
        app()
    except Exception as err:
        say_internal_error(err)
        sys.exit(EXIT_INTERNAL)
