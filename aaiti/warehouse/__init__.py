"""DuckDB warehouse: migrations, the single writer, and the read-only serving snapshot."""

from aaiti.warehouse.core import SnapshotMissingError, Warehouse
from aaiti.warehouse.lock import WarehouseBusyError, describe_holder, writer_lock
from aaiti.warehouse.migrations import MigrationError, apply_migrations

__all__ = [
    "MigrationError",
    "SnapshotMissingError",
    "Warehouse",
    "WarehouseBusyError",
    "apply_migrations",
    "describe_holder",
    "writer_lock",
]
