"""``aaiti trade``, ``aaiti risk``, ``aaiti halt`` and ``aaiti resume``."""

from __future__ import annotations

import getpass
from typing import Annotated

import typer

from aaiti.cli.errors import EXIT_BAD_INPUT, cli_errors
from aaiti.cli.market import out
from aaiti.cli.settings import command_settings


def trade() -> None:
    """Run one trading cycle over the newest closed bars (paper, or live when opted in)."""
    from aaiti.trading.accounts import said_total
    from aaiti.trading.cycle import trading_cycle
    from aaiti.trading.live import order_client_from
    from aaiti.warehouse import Warehouse

    with cli_errors():
        settings = command_settings(record="trade")
        r = trading_cycle(settings, order_client=order_client_from(settings))
        Warehouse.from_settings(settings).publish_snapshot()
        out.print(
            f"bars {r.bars} · orders {r.orders} · rejected by risk {r.rejected} · fills {r.fills} · "
            f"equity {r.equity} · halted {r.halted}"
            if not r.books
            else f"bars {r.bars} · orders {r.orders} · rejected by risk {r.rejected} · "
            f"fills {r.fills} · halted {r.halted} · {len(r.books)} books, one per quote currency"
        )
        for name, b in r.books.items():
            out.print(f"  {name}: equity {b.equity} · fills {b.fills} · halted {b.halted}")
        if r.total is not None:
            out.print(said_total(r.total))
        verdict = "qualified" if r.qualified else "STANDING ASIDE"
        out.print(f"strategy {r.strategy}: {verdict} — {r.strategy_reason}")
        for event in r.events:
            out.print(f"  risk: {event}")


def risk() -> None:
    """Compute the risk metrics (VaR/CVaR, volatility, concentration, Sharpe, drawdown)."""
    from aaiti.risk.job import compute_risk
    from aaiti.warehouse import Warehouse

    with cli_errors():
        settings = command_settings(record="risk")
        report = compute_risk(settings)
        Warehouse.from_settings(settings).publish_snapshot()
        several = len(report.accounts) > 1
        for r in report.rows:
            value = "—" if r["value"] is None else f"{r['value']:.6g}"
            book = f"{r['account']:14s} " if several else ""
            out.print(f"{book}{r['metric']:28s} {value:>14s}  {r['status']}")


def halt(
    reason: Annotated[
        str, typer.Option(help="Why (written to audit.log).")
    ] = "manual emergency halt",
) -> None:
    """Emergency halt: no new risk from the next bar on (exits still allowed)."""
    from aaiti.trading.halt import halt as do_halt
    from aaiti.warehouse import Warehouse

    with cli_errors():
        settings = command_settings()
        out.print(do_halt(settings, actor=getpass.getuser(), reason=reason))
        Warehouse.from_settings(settings).publish_snapshot()


def resume() -> None:
    """Lift the halt and the kill switch — refused while the drawdown has not recovered."""
    from aaiti.trading.halt import resume as do_resume
    from aaiti.warehouse import Warehouse

    with cli_errors():
        settings = command_settings()
        try:
            out.print(do_resume(settings, actor=getpass.getuser()))
        except PermissionError as err:
            print(f"error: {err}")
            raise typer.Exit(EXIT_BAD_INPUT) from None
        Warehouse.from_settings(settings).publish_snapshot()


def backtest(
    fast: Annotated[str, typer.Option(help="Fast SMA windows, comma-separated.")] = "5,10,20,50",
    slow: Annotated[str, typer.Option(help="Slow SMA windows, comma-separated.")] = "50,100,200",
) -> None:
    """SMA-crossover grid on every default symbol: next-open fills, fees and slippage."""
    from aaiti.trading.grid import run_sma_grid

    with cli_errors():
        fasts = [int(x) for x in fast.split(",")]
        slows = [int(x) for x in slow.split(",")]
        report = run_sma_grid(command_settings(), fasts=fasts, slows=slows)
        out.print(report.summary().to_string(index=False))
        out.print(
            f"saved as {report.backtest_id} in trading.backtests (MLflow run {report.mlflow_run_id})"
        )


position_app = typer.Typer(
    help="An operator's hand on a stale position (its stream blocked by a quality gate).",
    no_args_is_help=True,
)


@position_app.command("close")
def position_close(
    symbol: Annotated[
        str,
        typer.Argument(
            help="The stale position: exchange:symbol (coinbase:ETH/USD), or the symbol "
            "when it is held on one exchange only."
        ),
    ],
    reason: Annotated[str, typer.Option(help="Why (written to audit.log).")],
) -> None:
    """Close a stale paper position at its last accepted close, net of fee and slippage."""
    from aaiti.trading.stale import close_stale
    from aaiti.warehouse import Warehouse

    with cli_errors():
        settings = command_settings()
        out.print(close_stale(settings, symbol, actor=getpass.getuser(), reason=reason).message)
        Warehouse.from_settings(settings).publish_snapshot()


@position_app.command("release")
def position_release(
    symbol: Annotated[
        str,
        typer.Argument(
            help="The stale position: exchange:symbol (coinbase:ETH/USD), or the symbol "
            "when it is held on one exchange only."
        ),
    ],
    reason: Annotated[str, typer.Option(help="Why (written to audit.log).")],
) -> None:
    """Keep a stale position, marked and counted, without the stale alert while blocked."""
    from aaiti.trading.stale import release_stale
    from aaiti.warehouse import Warehouse

    with cli_errors():
        settings = command_settings()
        out.print(release_stale(settings, symbol, actor=getpass.getuser(), reason=reason).message)
        Warehouse.from_settings(settings).publish_snapshot()


live_app = typer.Typer(help="Live account operations.", no_args_is_help=True)


@live_app.command("accept")
def live_accept(
    reason: Annotated[str, typer.Option(help="Why (written to audit.log).")],
) -> None:
    """Accept the exchange's balances after a reconciliation difference (a deposit, a
    withdrawal, a manual trade): the next live cycle adopts them and trades again."""
    from aaiti.trading.live import accept_exchange_balances
    from aaiti.warehouse import Warehouse

    with cli_errors():
        settings = command_settings()
        out.print(accept_exchange_balances(settings, actor=getpass.getuser(), reason=reason))
        Warehouse.from_settings(settings).publish_snapshot()
