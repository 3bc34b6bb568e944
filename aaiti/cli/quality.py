"""``aaiti validate``: run a quality checkpoint on the default streams."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from aaiti.cli.errors import EXIT_SOURCE_FAILED, cli_errors, parse_when
from aaiti.cli.market import out
from aaiti.cli.settings import command_settings
from aaiti.errors import InputError


def validate(
    checkpoint: Annotated[str, typer.Option(help="raw | features")] = "raw",
    timeframe: Annotated[str | None, typer.Option(help="Stream timeframe to validate.")] = None,
    symbols: Annotated[str | None, typer.Option(help="Comma-separated symbols.")] = None,
    full: Annotated[
        bool, typer.Option("--full", help="Judge whole histories, not just what is new.")
    ] = False,
) -> None:
    """Validate streams with the GX suites; quarantine bad raw rows; exit 4 if one is blocked."""
    from aaiti.market import Stream, stream_exchange
    from aaiti.quality import FEATURES, RAW, run_gates, validator_for
    from aaiti.universe import gated_streams
    from aaiti.warehouse import Warehouse

    with cli_errors():
        if checkpoint not in (RAW, FEATURES):
            raise InputError(f"unknown checkpoint {checkpoint!r}; accepted: {RAW}, {FEATURES}")
        settings = command_settings(record="validate")
        warehouse = Warehouse.from_settings(settings)
        validator = validator_for(settings)
        if symbols or timeframe:  # a one-off run over the settings' source
            exchange = stream_exchange(settings.source, settings.exchange)
            names = [s.strip() for s in symbols.split(",")] if symbols else settings.symbols
            streams = [Stream(exchange, s, timeframe or settings.timeframe) for s in names]
        else:
            streams = gated_streams(settings, warehouse)
        results = run_gates(warehouse, settings.quality, streams, checkpoint=checkpoint,
                            validator=validator, full=full)  # fmt: skip
        docs = validator.build_docs()
        warehouse.publish_snapshot()
        out.print(_gate_table(results, checkpoint))
        out.print(
            f"results: ops.quality_results · quarantine: raw.ohlcv_quarantine · Data Docs: {docs}"
        )
        if any(not r.passed for r in results):
            raise typer.Exit(EXIT_SOURCE_FAILED)


def _gate_table(results: list, checkpoint: str) -> Table:
    table = Table(title=f"quality gate: {checkpoint}")
    for col in (
        "stream", "status", "judged", "rows", "critical failures", "warnings", "quarantined"
    ):  # fmt: skip
        table.add_column(col)
    for r in results:
        critical = "; ".join(
            f"{o.description} ×{o.unexpected_count}" for o in r.attempts[0].critical_failures
        )
        warnings = "; ".join(o.description for o in r.final.warnings)
        table.add_row(str(r.stream), r.status, r.mode, f"{r.attempts[0].rows:,}",
                      critical or "-", warnings or "-", str(r.quarantined))  # fmt: skip
    return table


def release(
    symbol: Annotated[str, typer.Argument(help="The blocked stream's symbol, e.g. BTC/USD.")],
    reason: Annotated[str, typer.Option(help="Why the new level is real (audited).")],
    at: Annotated[
        str | None, typer.Option(help="The bar to accept (default: the one the gate blocks on).")
    ] = None,
    timeframe: Annotated[str | None, typer.Option(help="Stream timeframe.")] = None,
) -> None:
    """Release a stream blocked by a persistent level shift, once you confirmed it is real."""
    import getpass

    from aaiti.config import apply_tool_environment, load_settings
    from aaiti.market import Stream, stream_exchange
    from aaiti.quality.release import release_level
    from aaiti.warehouse import Warehouse

    with cli_errors():
        settings = load_settings()
        apply_tool_environment(settings)
        stream = Stream(
            stream_exchange(settings.source, settings.exchange),
            symbol,
            timeframe or settings.timeframe,
        )
        r = release_level(
            Warehouse.from_settings(settings),
            stream,
            actor=getpass.getuser(),
            reason=reason,
            at=parse_when(at, option="--at") if at else None,
        )
        out.print(
            f"{r.stream}: the level at {r.ts.isoformat()} is accepted (by {r.actor}); "
            "`aaiti validate` judges the stream again"
        )
