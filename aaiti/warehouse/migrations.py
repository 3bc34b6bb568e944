"""Versioned migrations for the Python-owned schemas (dbt owns its own models).

Each ``NNNN_name.sql`` file beside this module is applied once, in order, in its own
transaction, and recorded with a checksum so an edited, already-applied migration is an error
rather than a silent divergence.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from importlib import resources

import duckdb


class MigrationError(RuntimeError):
    """The warehouse's recorded migrations disagree with the code's."""


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()


def available_migrations() -> list[Migration]:
    folder = resources.files("aaiti.warehouse") / "migrations"
    found = []
    for entry in folder.iterdir():
        if entry.name.endswith(".sql"):
            version, _, rest = entry.name.partition("_")
            found.append(Migration(int(version), rest.removesuffix(".sql"), entry.read_text()))
    found.sort(key=lambda m: m.version)
    return found


def apply_migrations(con: duckdb.DuckDBPyConnection) -> list[int]:
    """Bring the schema up to date; returns the versions applied now."""
    con.execute("CREATE SCHEMA IF NOT EXISTS ops")
    con.execute(
        "CREATE TABLE IF NOT EXISTS ops.schema_migrations ("
        " version INTEGER PRIMARY KEY, name VARCHAR NOT NULL, checksum VARCHAR NOT NULL,"
        " applied_at TIMESTAMPTZ NOT NULL DEFAULT now())"
    )
    applied = {
        v: c
        for v, c in con.execute("SELECT version, checksum FROM ops.schema_migrations").fetchall()
    }
    done = []
    for migration in available_migrations():
        if migration.version in applied:
            if applied[migration.version] != migration.checksum:
                raise MigrationError(
                    f"migration {migration.version} ({migration.name}) was changed after it was "
                    "applied; add a new migration instead of editing an applied one"
                )
            continue
        con.begin()
        try:
            con.execute(migration.sql)
            con.execute(
                "INSERT INTO ops.schema_migrations (version, name, checksum) VALUES (?, ?, ?)",
                [migration.version, migration.name, migration.checksum],
            )
            con.commit()
        except Exception:
            con.rollback()
            raise
        done.append(migration.version)
    return done
