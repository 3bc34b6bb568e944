"""Named SQL files: each package keeps its queries in ``<package>/sql/<name>.sql``."""

from __future__ import annotations

from functools import cache
from importlib import resources


@cache
def load_sql(package: str, name: str) -> str:
    """The text of ``<package>/sql/<name>.sql``."""
    return (resources.files(package) / "sql" / f"{name}.sql").read_text()


def run(con, sql: str, params: list | None = None) -> list[tuple]:
    """Execute a statement and consume its result.

    DuckDB 2.0 refuses further work on a connection whose last result is unfinished, and
    a DML statement's row count is such a result: always fetch it.
    """
    return con.execute(sql, params or []).fetchall()


def fetch_one(con, sql: str, params: list | None = None) -> tuple | None:
    """The first row of a query (or None), with the result consumed (see :func:`run`)."""
    rows = con.execute(sql, params or []).fetchall()
    return rows[0] if rows else None
