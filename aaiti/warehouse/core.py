"""The warehouse: one writer at a time on the main file, readers on a published snapshot.

DuckDB locks a file to one process (STACK.md), so writers take the file lock, open, write in
one transaction, and close; readers never touch the writer's file but open the serving
snapshot read-only. The snapshot is copied beside and swapped in by an atomic rename, so a
reader sees either the old or the new snapshot, never a half-written one.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import duckdb

from aaiti.errors import StateError
from aaiti.warehouse.lock import writer_lock
from aaiti.warehouse.migrations import apply_migrations


class SnapshotMissingError(StateError, FileNotFoundError):
    """No serving snapshot has been published yet."""


@dataclass(frozen=True)
class Warehouse:
    """Paths and policy of one warehouse; cheap to build, opens nothing by itself."""

    path: Path
    serving_path: Path
    lock_timeout_s: float = 30.0
    memory_limit: str | None = None  # DuckDB's own default is 80% of RAM

    @classmethod
    def from_settings(cls, settings) -> Warehouse:  # settings: aaiti.config.Settings
        return cls(
            path=Path(settings.warehouse_path),
            serving_path=Path(settings.serving_path),
            lock_timeout_s=settings.writer_lock_timeout_s,
            memory_limit=settings.duckdb_memory_limit,
        )

    @property
    def lock_path(self) -> Path:
        return self.path.with_name(self.path.name + ".lock")

    @contextmanager
    def writer(
        self, *, purpose: str = "", publish: bool = False
    ) -> Iterator[duckdb.DuckDBPyConnection]:
        """A short-lived read-write connection inside one transaction, under the writer lock.

        Commits when the block ends normally, rolls back on any exception; with
        ``publish=True`` the serving snapshot is refreshed after the commit.
        """
        with writer_lock(self.lock_path, timeout_s=self.lock_timeout_s, purpose=purpose):
            con = self._connect_rw()
            try:
                con.begin()
                try:
                    yield con
                except BaseException:
                    con.rollback()
                    raise
                con.commit()
                con.execute("CHECKPOINT")
            finally:
                con.close()
            if publish:
                self._publish_locked()

    def migrate(self) -> list[int]:
        """Create or upgrade the schema; returns the migrations applied now."""
        with writer_lock(self.lock_path, timeout_s=self.lock_timeout_s, purpose="migrate"):
            con = self._connect_rw(migrate=False)
            try:
                return apply_migrations(con)
            finally:
                con.close()

    def publish_snapshot(self) -> Path:
        """Copy the committed warehouse to the serving path atomically."""
        with writer_lock(self.lock_path, timeout_s=self.lock_timeout_s, purpose="publish"):
            return self._publish_locked()

    def read(self) -> duckdb.DuckDBPyConnection:
        """A read-only connection to the current serving snapshot (close it when done)."""
        if not self.serving_path.exists():
            raise SnapshotMissingError(
                f"no serving snapshot at {self.serving_path}: run `aaiti ingest` "
                "(or `make demo`) to build the warehouse first"
            )
        con = duckdb.connect(str(self.serving_path), read_only=True)
        con.execute("SET TimeZone = 'UTC'")
        if self.memory_limit:  # uncapped, DuckDB takes 80 % of RAM: training's read of
            con.execute(f"SET memory_limit = '{self.memory_limit}'")  # 500 streams, 8.2 GB
        return con

    # ------------------------------------------------------------------ internals
    def _connect_rw(self, *, migrate: bool = True) -> duckdb.DuckDBPyConnection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        con = duckdb.connect(str(self.path))
        con.execute("SET TimeZone = 'UTC'")
        if self.memory_limit:
            con.execute(f"SET memory_limit = '{self.memory_limit}'")
        if migrate:
            try:
                apply_migrations(con)
            except BaseException:
                con.close()
                raise
        return con

    def _publish_locked(self) -> Path:
        if not self.path.exists():
            raise StateError(f"no warehouse at {self.path} to publish")
        self.serving_path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.serving_path.with_name(f".{self.serving_path.name}.{os.getpid()}.tmp")
        try:
            shutil.copyfile(self.path, tmp)
            with open(tmp, "rb+") as handle:
                os.fsync(handle.fileno())
            os.replace(tmp, self.serving_path)
        finally:
            tmp.unlink(missing_ok=True)
        return self.serving_path
