"""``aaiti evaluate``: the deployed strategy, walk-forward, net of costs, beside buy-and-hold."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from aaiti.cli.errors import cli_errors
from aaiti.cli.figures import ratio, signed_pct
from aaiti.cli.market import out
from aaiti.cli.settings import command_settings


def evaluate(
    as_json: Annotated[bool, typer.Option("--json", help="Print the figures as JSON.")] = False,
    timeframe: Annotated[str | None, typer.Option(help="Model timeframe.")] = None,
) -> None:
    """Backtest the strategy on walk-forward out-of-sample predictions, net of costs."""
    from aaiti.strategy.champion import evaluate_champion
    from aaiti.warehouse import Warehouse

    with cli_errors():
        settings = command_settings(record="evaluate")
        ev = evaluate_champion(settings, timeframe=timeframe)
        Warehouse.from_settings(settings).publish_snapshot()
        summary = ev.summary()
        if as_json:
            print(json.dumps(summary, default=str, indent=1))
            return
        out.print(
            f"{summary['strategy']}@{summary['strategy_version']} on {summary['model']}, "
            f"out of sample {ev.start} → {ev.end}, net of {summary['conventions']['costs']}"
        )
        out.print(
            f"{'':14s} {'net return':>11s} {'Sharpe':>7s} {'max DD':>8s} {'trades':>7s}  buy-and-hold: return, Sharpe"
        )
        rows = [("portfolio", ev.portfolio), *ev.per_stream.items()]
        for label, d in rows:
            s, b = d["strategy"], d["buy_and_hold"]
            out.print(
                f"{label:14s} {signed_pct(s.total_return):>11s} {ratio(s.sharpe):>7s} "
                f"{signed_pct(s.max_drawdown):>8s} {s.trades:>7d}  {signed_pct(b.total_return)}, {ratio(b.sharpe)}"
            )
        dsr = "—" if ev.dsr is None else f"{ev.dsr.probability:.3f}"
        out.print(
            f"deflated Sharpe probability {dsr} ({ev.trials} trial(s) on this data set, "
            f"{ev.trials_before} of them before this run: the trial ledger and research log)"
        )
        if ev.versus is not None:
            v = ev.versus
            out.print(
                f"against {v.benchmark.replace('_', '-')}: Ledoit–Wolf p = "
                f"{v.sharpe_test.p_value:.3f}, SPA p = {v.spa_p_value:.3f} "
                f"({v.candidates} candidate(s); {v.as_dict()['bootstrap']})"
            )
        _print_breakdown(ev.breakdowns.get("portfolio", {}))
        out.print(
            ("QUALIFIES: " if ev.qualification.qualified else "STANDS ASIDE: ")
            + ev.qualification.reason
        )


def _print_breakdown(parts: dict) -> None:
    """The portfolio per year and per regime, strategy beside buy-and-hold (--json: all)."""
    for split, title in (("by_year", "year"), ("by_regime", "regime")):
        if not parts.get(split):
            continue
        out.print(
            f"{'portfolio by ' + title:14s} {'net return':>11s} {'Sharpe':>7s} {'bars':>7s}  buy-and-hold: return, Sharpe"
        )
        for key, d in parts[split].items():
            s, b = d["strategy"], d["buy_and_hold"]
            out.print(
                f"{key:14s} {signed_pct(s['total_return']):>11s} {ratio(s['sharpe']):>7s} "
                f"{d['bars']:>7d}  {signed_pct(b['total_return'])}, {ratio(b['sharpe'])}"
            )


strategy_app = typer.Typer(
    help="An operator's switch on the strategy's trading (audited).", no_args_is_help=True
)


def _switch(enabled: bool, reason: str, timeframe: str | None) -> None:
    import getpass

    from aaiti.config import load_settings
    from aaiti.strategy.switch import switch_strategy
    from aaiti.warehouse import Warehouse

    with cli_errors():
        settings = load_settings()
        actor = getpass.getuser()
        out.print(
            switch_strategy(
                settings, enabled=enabled, actor=actor, reason=reason, timeframe=timeframe
            )
        )
        Warehouse.from_settings(settings).publish_snapshot()


@strategy_app.command("disable")
def disable(
    reason: Annotated[str, typer.Option(help="Why (written to audit.log).")],
    timeframe: Annotated[str | None, typer.Option(help="Model timeframe.")] = None,
) -> None:
    """Stop the strategy's trading: it stands aside (and exits) whatever its qualification."""
    _switch(False, reason, timeframe)


@strategy_app.command("enable")
def enable(
    reason: Annotated[str, typer.Option(help="Why (written to audit.log).")],
    timeframe: Annotated[str | None, typer.Option(help="Model timeframe.")] = None,
) -> None:
    """Let the strategy trade again when it qualifies."""
    _switch(True, reason, timeframe)


def results(
    check: Annotated[
        bool, typer.Option("--check", help="Only say whether the committed figures are current.")
    ] = False,
) -> None:
    """The README's and docs' result figures from the demo's training run (make results)."""
    from pathlib import Path

    from aaiti.strategy.results import demo_figures, stale, write
    from aaiti.warehouse import Warehouse

    with cli_errors():
        settings = command_settings()
        con = Warehouse.from_settings(settings).read()
        try:
            f = demo_figures(con, strategy=settings.trading_strategy, timeframe=settings.timeframe)
        finally:
            con.close()
        root = Path(__file__).resolve().parents[2]
        if check:
            old = stale(root, f)
            if old:
                out.print(f"stale figures in {', '.join(old)}: run `make results`")
                raise typer.Exit(1)
            out.print("the committed figures are what the code computes")
            return
        changed = write(root, f)
        out.print(f"results written; changed: {', '.join(changed) or 'nothing'}")
