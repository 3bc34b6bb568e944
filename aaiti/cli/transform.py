"""``aaiti transform`` and ``aaiti docs``."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from aaiti.cli.errors import EXIT_SOURCE_FAILED, cli_errors
from aaiti.cli.market import out
from aaiti.cli.settings import command_settings


def transform(
    select: Annotated[str | None, typer.Option(help="dbt selector, e.g. fct_features+")] = None,
    full_refresh: Annotated[
        bool, typer.Option("--full-refresh", help="Rebuild incremental models.")
    ] = False,
) -> None:
    """Run ``dbt build`` on the warehouse and publish the serving snapshot."""
    from aaiti.transform import build
    from aaiti.warehouse import Warehouse

    with cli_errors():
        settings = command_settings(record="transform")
        report = build(settings, select=select, full_refresh=full_refresh)
        table = Table(title=report.summary())
        for col in ("node", "type", "status", "rows", "s"):
            table.add_column(col)
        for n in report.nodes:
            if n.resource_type == "model" or n.status != "pass":
                table.add_row(
                    n.name,
                    n.resource_type,
                    n.status,
                    "" if n.rows is None else f"{n.rows:,}",
                    f"{n.execution_time_s:.2f}",
                )
        out.print(table)
        for n in report.failures:
            out.print(f"[red]{n.name}[/red]: {n.message}")
        if report.failures:
            raise typer.Exit(EXIT_SOURCE_FAILED)
        Warehouse.from_settings(settings).publish_snapshot()
        out.print(f"published {settings.serving_path}")


def docs() -> None:
    """Generate the dbt docs (one self-contained page with the lineage)."""
    from aaiti.config import apply_tool_environment, load_settings
    from aaiti.transform import generate_docs

    with cli_errors():
        settings = load_settings()
        apply_tool_environment(settings)
        page = generate_docs(settings)
        out.print(f"dbt docs: open {page.resolve()} in a browser (works offline)")
