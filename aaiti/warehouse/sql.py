"""Named SQL files: each package keeps its queries in ``<package>/sql/<name>.sql``."""

from __future__ import annotations

from functools import cache
from importlib import resources


@cache
def load_sql(package: str, name: str) -> str:
    """The text of ``<package>/sql/<name>.sql``."""
    return (resources.files(package) / "sql" / f"{name}.sql").read_text()
