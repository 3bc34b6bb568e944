"""Dask, the one adapter: a map over independent pieces of work, run here or spread over a
cluster's workers (``AAITI_DASK_ADDRESS``). What runs there is pure: values in, values out.
The single writer stays where it was — on the caller's side, the only one that commits."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, TypeVar

T = TypeVar("T")
R = TypeVar("R")

#: ``map``'s shape, a list out, in the items' order.
Mapper = Callable[[Callable[[Any], Any], Sequence[Any]], list[Any]]

#: Seconds to reach a named scheduler before the work fails with a clear error.
CONNECT_TIMEOUT_S = 30


def map_here(fn: Callable[[T], R], items: Sequence[T]) -> list[R]:
    return [fn(item) for item in items]


def width(address: str | None) -> int:
    """Threads that run tasks: the cluster's at ``address`` (asked now), else 1."""
    if not address:
        return 1
    client = _connect(address)
    try:
        threads: dict[str, int] = client.nthreads()
        return max(1, sum(threads.values()))
    finally:
        client.close()


def require(address: str) -> None:
    """Fail now, with the address named, when no scheduler answers there: before a stage
    that would fail midway (dbt's features model) has written anything."""
    _connect(address).close()


def _connect(address: str) -> Any:
    import distributed

    connect: Any = distributed.Client  # untyped: its calls are checked by the tests
    try:
        return connect(address, timeout=CONNECT_TIMEOUT_S, set_as_default=False)
    except OSError as exc:
        raise ConnectionError(f"no Dask scheduler at {address} ({exc})") from exc


@contextmanager
def mapper(address: str | None) -> Iterator[Mapper]:
    """A map on the scheduler at ``address`` (tcp://host:port), or here without one. An
    address that cannot be reached is an error, never a silent fall back to one machine."""
    if not address:
        yield map_here
        return
    client = _connect(address)

    def on_cluster(fn: Callable[[T], R], items: Sequence[T]) -> list[R]:
        if not items:
            return []
        # sent to the workers, not inside the task graph; not hashed: dask tokenizes slices
        # of one Arrow table by its buffers, so two streams of one length were one key and
        # one stream's features came back twice (dbt's unique test caught it)
        data = client.scatter(list(items), hash=False)
        return list(client.gather(client.map(fn, data, pure=False)))

    try:
        yield on_cluster
    finally:
        client.close()
