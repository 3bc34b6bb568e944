"""Exit codes, and every error said as one clear line on stderr: the user's (exit 2) told
apart from a bug (exit 70, its traceback in a file)."""

from __future__ import annotations

import os
import re
import sys
import tempfile
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import click
import typer
from typer.exceptions import TyperException

from aaiti.errors import UserError
from aaiti.market.errors import MarketDataError

EXIT_BAD_INPUT = 2  # the user must change something: input, state, or a refused action
EXIT_WAREHOUSE_BUSY = 3
EXIT_SOURCE_FAILED = 4
EXIT_UNREACHABLE = 5
EXIT_INTERNAL = 70  # EX_SOFTWARE: a bug in AAITI, never the user's input


@contextmanager
def cli_errors() -> Iterator[None]:
    """Map failures to an ``error: …`` line and a non-zero exit code. The user's (a
    ``UserError``, settings that do not validate, a table no stage has built yet) exit 2;
    anything else is an internal error, said as one, with its traceback in a file."""
    import duckdb
    import pydantic

    from aaiti.warehouse import WarehouseBusyError

    try:
        yield
    except (TyperException, typer.Exit, typer.Abort, click.exceptions.Exit):
        raise  # the command line's own: a usage error, an exit code
    except WarehouseBusyError as err:
        _fail(err, EXIT_WAREHOUSE_BUSY)
    except (UserError, pydantic.ValidationError) as err:
        _fail(err, EXIT_BAD_INPUT)
    except MarketDataError as err:
        _fail(err, EXIT_SOURCE_FAILED)
    except duckdb.CatalogException as err:
        _fail(_missing(err), EXIT_BAD_INPUT)
    except ConnectionError as err:  # a service the settings name (a Dask scheduler) is down
        _fail(err, EXIT_UNREACHABLE)
    except Exception as err:
        say_internal_error(err)
        raise typer.Exit(EXIT_INTERNAL) from None


def say_internal_error(err: BaseException) -> None:
    """A bug: one line that says so and where its traceback was written."""
    where = _write_traceback(err)
    first = str(err).splitlines()[0] if str(err) else ""
    print(
        f"error: internal error in AAITI (a bug, not your input): {type(err).__name__}"
        f"{': ' + first if first else ''}; traceback in {where}",
        file=sys.stderr,
    )


def _write_traceback(err: BaseException) -> str:
    """The traceback in the data folder's ``logs`` (the temporary directory when the
    settings cannot say where that is, or it is unwritable)."""
    text = "".join(traceback.format_exception(err))
    stamp = f"{datetime.now(UTC):%Y%m%dT%H%M%S}-{os.getpid()}"
    for folder in (_logs_folder(), Path(tempfile.gettempdir())):
        try:
            folder.mkdir(parents=True, exist_ok=True)
            path = folder / f"internal-error-{stamp}.txt"
            path.write_text(text)
            return str(path)
        except OSError:
            continue
    return "(nowhere: no writable folder)"


def _logs_folder() -> Path:
    from aaiti.config import load_settings

    try:
        return Path(load_settings().data_dir) / "logs"
    except Exception:  # settings that do not load: the bug is said anyway
        return Path(tempfile.gettempdir())


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
