"""Exit codes and the translation of known errors into one clear line on stderr."""

from __future__ import annotations

import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager

import typer

EXIT_BAD_INPUT = 2
EXIT_WAREHOUSE_BUSY = 3
EXIT_SOURCE_FAILED = 4
EXIT_UNREACHABLE = 5


@contextmanager
def cli_errors() -> Iterator[None]:
    """Map expected failures to an ``error: …`` line and a non-zero exit code."""
    import duckdb

    from aaiti.market.errors import MarketDataError
    from aaiti.market.timeframes import UnsupportedTimeframeError
    from aaiti.warehouse import WarehouseBusyError

    try:
        yield
    except WarehouseBusyError as err:
        _fail(err, EXIT_WAREHOUSE_BUSY)
    except (UnsupportedTimeframeError, ValueError, FileNotFoundError) as err:
        _fail(err, EXIT_BAD_INPUT)
    except MarketDataError as err:
        _fail(err, EXIT_SOURCE_FAILED)
    except duckdb.CatalogException as err:
        _fail(_missing(err), EXIT_BAD_INPUT)
    except ConnectionError as err:  # a service the settings name (a Dask scheduler) is down
        _fail(err, EXIT_UNREACHABLE)


def _missing(err: Exception) -> str:
    """A table a command reads that no stage has built yet, said as what to run."""
    found = re.search(r'Table with name "?([\w.]+)"? does not exist', str(err))
    if not found:
        return str(err).splitlines()[0]
    table = found.group(1)
    step = (
        "`aaiti ingest`" if table.startswith("raw.") else "`aaiti ingest`, then `aaiti transform`"
    )
    return f"the warehouse has no {table} yet: run {step} first"


def _fail(err: Exception, code: int) -> None:
    print(f"error: {err}", file=sys.stderr)
    raise typer.Exit(code)


def parse_when(value: str | None, *, option: str) -> object:
    """Parse an ISO date or date-time as UTC; None stays None."""
    if value is None:
        return None
    import pandas as pd

    try:
        ts = pd.Timestamp(value)
    except (ValueError, TypeError):
        raise typer.BadParameter(
            f"{value!r} is not a date; use YYYY-MM-DD or YYYY-MM-DDTHH:MM (UTC)",
            param_hint=option,
        ) from None
    if ts is pd.NaT:
        raise typer.BadParameter(f"{value!r} is not a date", param_hint=option)
    ts = ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")
    return ts.to_pydatetime()
