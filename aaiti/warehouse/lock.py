"""The single writer lock: an OS file lock beside the warehouse, no server needed.

The kernel drops the lock when its holder dies (even by SIGKILL), so a crashed writer never
wedges the warehouse. Who holds it is written to a side file so a waiting writer can say so.
"""

from __future__ import annotations

import json
import os
import socket
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from filelock import FileLock, Timeout


class WarehouseBusyError(RuntimeError):
    """Another writer held the warehouse for longer than we were willing to wait."""


def _holder_path(lock_path: Path) -> Path:
    return lock_path.with_name(lock_path.name + ".holder")


def describe_holder(lock_path: Path) -> str:
    """Human description of the current holder, from its side file."""
    try:
        info = json.loads(_holder_path(lock_path).read_text())
    except (OSError, ValueError):
        return "an unknown process"
    return (
        f"pid {info.get('pid')} on {info.get('host')} ({info.get('command')}), "
        f"since {info.get('since')}"
    )


@contextmanager
def writer_lock(lock_path: Path, *, timeout_s: float, purpose: str = "") -> Iterator[None]:
    """Hold the writer lock for the duration of the block, waiting at most ``timeout_s``."""
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    lock = FileLock(str(lock_path))
    started = time.monotonic()
    try:
        lock.acquire(timeout=timeout_s)
    except Timeout:
        raise WarehouseBusyError(
            f"the warehouse is held by another writer: {describe_holder(lock_path)}; "
            f"gave up after {time.monotonic() - started:.1f} s "
            f"(raise AAITI_WRITER_LOCK_TIMEOUT_S to wait longer)"
        ) from None
    try:
        _holder_path(lock_path).write_text(
            json.dumps(
                {
                    "pid": os.getpid(),
                    "host": socket.gethostname(),
                    "command": purpose or " ".join(sys.argv)[:200],
                    "since": datetime.now(UTC).isoformat(timespec="seconds"),
                }
            )
        )
        yield
    finally:
        lock.release()
