"""``aaiti ingest``, ``aaiti backfill``, ``aaiti import``, ``aaiti status`` and ``aaiti universe``."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from aaiti.cli.errors import EXIT_BAD_INPUT, EXIT_SOURCE_FAILED, cli_errors, parse_when
from aaiti.cli.settings import command_settings

if TYPE_CHECKING:
    from aaiti.config import Settings

_probe = Console()
# Piped output (CI logs, make) gets a width that fits the summary instead of rich's 80.
out = _probe if _probe.is_terminal else Console(width=140)
err_console = Console(stderr=True)

SourceOpt = Annotated[
    str | None, typer.Option("--source", help="sample | synthetic | ccxt:<exchange id>")
]
ExchangeOpt = Annotated[str | None, typer.Option("--exchange", help="Exchange id.")]
SymbolsOpt = Annotated[
    str | None, typer.Option("--symbols", help="Comma-separated, e.g. BTC/USD,ETH/USD.")
]
TimeframeOpt = Annotated[str | None, typer.Option("--timeframe", help="e.g. 1m, 1h, 4h, 1d.")]


def _context(source, exchange, symbols, timeframe):
    """(settings, [(source client, stream)], warehouse): the options' streams when any is
    given (a one-off run), else the universe's (AAITI_UNIVERSE_FILE, or the settings')."""
    from aaiti.market import open_source
    from aaiti.universe import resolve_top, universe_for
    from aaiti.warehouse import Warehouse

    settings = command_settings(record="ingest")
    warehouse = Warehouse.from_settings(settings)
    if any(x is not None for x in (source, exchange, symbols, timeframe)):
        src = open_source(settings, source=source or settings.source, exchange=exchange)
        names = (
            [s.strip() for s in symbols.split(",") if s.strip()] if symbols else settings.symbols
        )
        tf = timeframe or settings.timeframe
        return settings, [(src, src.validate_stream(name, tf)) for name in names], warehouse
    universe = universe_for(settings)
    clients: dict[tuple[str, str], object] = {}
    pairs = []
    for u in universe.streams(resolve_top(universe, settings)):
        key = (u.source, u.stream.exchange)
        if key not in clients:
            clients[key] = open_source(settings, source=u.source, exchange=u.stream.exchange)
        src = clients[key]
        pairs.append((src, src.validate_stream(u.stream.symbol, u.stream.timeframe)))
    return settings, pairs, warehouse


def _summary(reports, title: str, warehouse) -> None:
    sources = ", ".join(sorted({str(r.source) for r in reports})) or "-"
    many = len({r.stream.exchange for r in reports}) > 1
    table = Table(title=f"{title} — source {sources}")
    table.add_column("stream")
    table.add_column("window (UTC)")
    for col in ("fetched", "new", "changed", "same", "dups", "rejected", "holes", "s"):
        table.add_column(col, justify="right")
    table.add_column("status")
    notes = []
    for r in reports:
        since = f"{r.since:%Y-%m-%d %H:%M}" if r.since else "start"
        last = r.until or r.newest_ts  # the newest bar stored, where no bound was asked
        until = f"{last:%Y-%m-%d %H:%M}" if last else "now"
        holes = f"{r.gaps.found}" if r.gaps else "-"
        table.add_row(
            (f"{r.stream.exchange} " if many else "") + f"{r.stream.symbol} {r.stream.timeframe}",
            f"{since} → {until}",
            f"{r.fetched:,}",
            f"{r.inserted:,}",
            f"{r.updated:,}",
            f"{r.unchanged:,}",
            f"{r.duplicates:,}",
            f"{r.rejected:,}",
            holes,
            f"{r.duration_s:.1f}",
            r.status,
        )
        if r.retries:
            notes.append(f"{r.stream}: {r.retries} retries")
        if r.rejected:
            why = ", ".join(f"{n:,} {reason}" for reason, n in r.reasons[:3])
            notes.append(
                f"{r.stream}: {r.rejected} row(s) quarantined ({why}) — see raw.ohlcv_quarantine"
            )
        if r.gaps and r.gaps.bars_missing:
            notes.append(
                f"{r.stream}: {r.gaps.found} hole(s), {r.gaps.bars_missing - r.gaps.bars_filled} "
                f"bar(s) still missing after re-fetching {r.gaps.refetched} (see ops.gap_checks)"
            )
        if r.replay_exhausted:
            notes.append(f"{r.stream}: market replay has reached the end of the sample")
    out.print(table)
    for note in notes:
        out.print(f"  · {note}")
    out.print(
        f"warehouse (writer): {warehouse.path}\nserving snapshot:   {warehouse.serving_path}\n"
        f"query it read-only: duckdb -readonly {warehouse.serving_path}"
    )


def ingest(
    source: SourceOpt = None,
    exchange: ExchangeOpt = None,
    symbols: SymbolsOpt = None,
    timeframe: TimeframeOpt = None,
    since: Annotated[
        str | None, typer.Option(help="Start (UTC) instead of the high-water mark.")
    ] = None,
    fill_gaps: Annotated[
        bool, typer.Option("--fill-gaps/--no-fill-gaps", help="Re-fetch holes.")
    ] = True,
) -> None:
    """Fetch the newest closed candles of each stream (the sample source replays one step)."""
    from dataclasses import replace

    from aaiti.market import fill_gaps as fill
    from aaiti.market import ingest_stream, replay_config

    with cli_errors():
        since_dt = parse_when(since, option="--since")
        settings, pairs, warehouse = _context(source, exchange, symbols, timeframe)
        reports = []
        for src, stream in pairs:
            report = ingest_stream(
                warehouse,
                src,
                stream,
                since=since_dt,
                replay=replay_config(settings, src),
                default_since=settings.backfill_since,
                flush_rows=settings.ingest_flush_rows,
            )
            if fill_gaps:
                report = replace(report, gaps=fill(warehouse, src, stream))
            reports.append(report)
        warehouse.publish_snapshot()
        _summary(reports, "aaiti ingest", warehouse)
        _refuse_if_nothing_landed(reports)


def _refuse_if_nothing_landed(reports: list) -> None:
    """A stream that fetched rows and stored none of them: said, exit 4 (the source gave
    nothing usable). No new bar at all is not this: a cycle often has none."""
    nothing = [why for r in reports if (why := r.nothing_accepted())]
    for why in nothing:
        print(f"error: {why}", file=sys.stderr)
    if nothing:
        raise typer.Exit(EXIT_SOURCE_FAILED)


def backfill(
    since: Annotated[str, typer.Option(help="First candle open time wanted (UTC).")],
    until: Annotated[str | None, typer.Option(help="End, exclusive (UTC); default now.")] = None,
    source: SourceOpt = None,
    exchange: ExchangeOpt = None,
    symbols: SymbolsOpt = None,
    timeframe: TimeframeOpt = None,
) -> None:
    """Fetch a range of history, then re-fetch the holes inside it."""
    from dataclasses import replace

    from aaiti.market import (
        InvalidRangeError,
        fill_gaps,
        ingest_stream,
        replay_config,
        timeframe_ms,
    )

    with cli_errors():
        since_dt = parse_when(since, option="--since")
        until_dt = parse_when(until, option="--until")
        if until_dt is not None and since_dt >= until_dt:
            raise InvalidRangeError(
                f"--since ({since_dt:%Y-%m-%d %H:%M}) must be before --until ({until_dt:%Y-%m-%d %H:%M})"
            )
        settings, pairs, warehouse = _context(source, exchange, symbols, timeframe)
        reports = []
        end = until_dt or datetime.now(UTC)
        with _progress() as bar:
            for src, stream in pairs:
                step_s = timeframe_ms(stream.timeframe) / 1000
                expected = max(1, int((end - since_dt).total_seconds() // step_s))
                task = bar.add_task(str(stream), total=expected)

                def advance(
                    ts: datetime, fetched: int, task=task, expected=expected, step_s=step_s
                ) -> None:
                    done = (ts - since_dt).total_seconds() // step_s + 1
                    bar.update(task, completed=min(expected, done))

                report = ingest_stream(
                    warehouse, src, stream, kind="backfill", since=since_dt, until=until_dt,
                    replay=replay_config(settings, src), progress=advance,
                    flush_rows=settings.ingest_flush_rows,
                )  # fmt: skip
                bar.update(task, completed=expected)
                gaps = fill_gaps(warehouse, src, stream, since=since_dt, until=until_dt)
                reports.append(replace(report, gaps=gaps))
        warehouse.publish_snapshot()
        _summary(reports, "aaiti backfill", warehouse)
        _refuse_if_nothing_landed(reports)


def _progress() -> Any:  # rich's Progress, imported where it is drawn
    """A progress bar on a terminal; quiet in CI and in flows."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

    return Progress(
        TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed:,.0f} bars"),
        TimeRemainingColumn(), console=err_console, disable=not err_console.is_terminal,
    )  # fmt: skip


def import_(
    path: Annotated[
        Path, typer.Argument(help="A CSV, Parquet, Feather or JSON file, or a folder.")
    ],
    exchange: Annotated[str | None, typer.Option(help="Exchange of every file.")] = None,
    symbol: Annotated[str | None, typer.Option(help="Symbol of every file, e.g. BTC/USDT.")] = None,
    timeframe: Annotated[str | None, typer.Option(help="Timeframe of every file.")] = None,
    columns: Annotated[
        str | None, typer.Option(help="Column mapping, ours=theirs: ts=Date,volume=Vol.")
    ] = None,
    tz: Annotated[str, typer.Option(help="Timezone of naive timestamps.")] = "UTC",
    ts_unit: Annotated[
        str | None,
        typer.Option(help="Unit of numeric timestamps: s, ms, us, ns (default: by size)."),
    ] = None,
) -> None:
    """Import your own candles (freqtrade's data folder read as it is), checked and gated."""
    from aaiti.importer import import_files
    from aaiti.market.files import ImportOptions, parse_columns
    from aaiti.warehouse import Warehouse

    with cli_errors():
        options = ImportOptions(
            exchange=exchange, symbol=symbol, timeframe=timeframe,
            columns=parse_columns(columns), tz=tz, ts_unit=ts_unit,
        )  # fmt: skip
        settings = command_settings(record="import")
        warehouse = Warehouse.from_settings(settings)
        report = import_files(warehouse, settings, path, options)
        warehouse.publish_snapshot()
        _summary(report.ingested, "aaiti import", warehouse)
        for gate in report.gates:
            out.print(f"gate {gate.stream}: {gate.status}")
        for passed in report.passed_over:
            if not passed.refused:
                out.print(f"skipped {passed.file}: {passed.reason}")
        for why in report.refusals():  # nothing usable landed from these files
            print(f"error: {why}", file=sys.stderr)
        if report.refusals():
            raise typer.Exit(EXIT_BAD_INPUT)
        if any(g.status != "passed" for g in report.gates):
            raise typer.Exit(EXIT_SOURCE_FAILED)


def status() -> None:
    """What the serving snapshot holds, per stream."""
    from aaiti.config import load_settings
    from aaiti.warehouse import Warehouse
    from aaiti.warehouse.sql import load_sql

    with cli_errors():
        settings = load_settings()
        warehouse = Warehouse.from_settings(settings)
        con = warehouse.read()
        try:
            rows = con.execute(load_sql("aaiti.market", "stream_status")).fetchall()
        finally:
            con.close()
        table = Table(title=f"streams in {warehouse.serving_path}")
        for col in (
            "exchange",
            "symbol",
            "timeframe",
            "candles",
            "first",
            "last",
            "quarantined",
            "last run",
            "quality gate",
        ):
            table.add_column(col)
        for r in rows:
            table.add_row(*[str(v) if v is not None else "-" for v in r])
        out.print(table)
        _strategy_status(warehouse)


def _strategy_status(warehouse) -> None:
    """Whether the deployed strategy may trade, and why (standing aside is said, not hidden)."""
    from aaiti.warehouse.sql import load_sql

    con = warehouse.read()
    try:
        rows = con.execute(load_sql("aaiti.strategy", "state_all")).fetchall()
    finally:
        con.close()
    if not rows:
        out.print("strategy: none evaluated yet (`aaiti train` evaluates one): trading stays flat")
    for name, version, model, model_version, qualified, reason in rows:
        verdict = "QUALIFIED: trades" if qualified else "STANDING ASIDE: exits, no entries"
        out.print(f"strategy {name}@{version} on {model} v{model_version} — {verdict}; {reason}")


def universe(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    resolve: Annotated[
        bool, typer.Option("--resolve", help="Rank top-N sources on their exchanges now.")
    ] = False,
) -> None:
    """The streams the system runs: the universe file's (AAITI_UNIVERSE_FILE) or the settings'."""
    import json as _json

    from aaiti.config import load_settings
    from aaiti.universe import resolve_top, universe_for

    with cli_errors():
        settings = load_settings()
        u = universe_for(settings)
        top = resolve_top(u, settings) if resolve else {}
        streams = u.streams(top)
        pending = [s for s in u.sources if s.top is not None and s.source not in top]
        rows = [
            {"source": s.source, "exchange": s.stream.exchange, "symbol": s.stream.symbol,
             "timeframe": s.stream.timeframe, "model": f"aaiti-{s.model}"}
            for s in streams
        ]  # fmt: skip
        rows += [
            {"source": s.source, "exchange": s.exchange,
             "symbol": f"top {s.top}" + (f" ({'/'.join(s.quotes)})" if s.quotes else ""),
             "timeframe": ",".join(s.timeframes), "model": "ranked with --resolve"}
            for s in pending
        ]  # fmt: skip
        books, why = _books(settings)
        if as_json:
            out.print_json(
                _json.dumps(
                    {"file": str(u.path) if u.path else None, "streams": rows, "books": books}
                    | ({"books_refused": why} if why else {})
                )
            )
            return
        origin = str(u.path) if u.path else "the settings (AAITI_SOURCE, _SYMBOLS, _TIMEFRAME)"
        table = Table(title=f"universe: {len(streams)} stream(s) from {origin}")
        for col in ("source", "exchange", "symbol", "timeframe", "model"):
            table.add_column(col)
        for r in rows:
            table.add_row(
                *(str(r[c]) for c in ("source", "exchange", "symbol", "timeframe", "model"))
            )
        out.print(table)
        for b in books:
            out.print(
                f"book {b['account']} ({b['quote']}): {', '.join(b['symbols'])} · initial cash "
                f"{b['initial_cash']:,.2f} {b['quote']}"
            )
        if why:
            out.print(f"trading refuses these settings: {why}")


def _books(settings: Settings) -> tuple[list[dict[str, Any]], str | None]:
    """The trading books AAITI_SYMBOLS resolve to (one per quote currency), or why the
    settings give none."""
    from aaiti.books import BookSettingsError, books, currency_of

    try:
        return [
            {"account": b.account, "quote": currency_of(b), "symbols": b.symbols,
             "initial_cash": b.initial_cash}
            for b in books(settings.trading)
        ], None  # fmt: skip
    except BookSettingsError as err:
        return [], str(err)
