"""What every flow shares: settings at the edge and the transient-only retry rule."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager, suppress
from typing import Any

from aaiti.config import Settings, apply_tool_environment, load_settings


def flow_settings(*, audit: bool = True, **overrides: Any) -> Settings:
    """Read settings once at the flow's entry and point tool state into the data folder.
    A top-level flow run records the settings it uses (``audit.run_settings``); its
    subflows run with the same."""
    settings = load_settings(**{k: v for k, v in overrides.items() if v is not None})
    apply_tool_environment(settings)
    run_name = _top_level_run()
    if audit and run_name:
        from aaiti.warehouse import Warehouse
        from aaiti.warehouse.run_settings import record_run_settings

        record_run_settings(Warehouse.from_settings(settings), settings, run_name=run_name)
    return settings


def _top_level_run() -> str | None:
    """'<flow> <run name>' inside a flow run that is not a subflow, else None."""
    from prefect.context import FlowRunContext

    ctx = FlowRunContext.get()
    if ctx is None or ctx.flow_run is None or ctx.flow_run.parent_task_run_id is not None:
        return None
    return f"{ctx.flow.name if ctx.flow else 'flow'} {ctx.flow_run.name}"


def is_transient(exc: BaseException | None) -> bool:
    from aaiti.market.errors import TransientExchangeError
    from aaiti.warehouse import WarehouseBusyError

    return isinstance(exc, TransientExchangeError | WarehouseBusyError)


def retry_on_transient(task: Any, task_run: Any, state: Any) -> bool:
    """Prefect retry condition: retry exchange hiccups and a busy warehouse, nothing else."""
    try:
        state.result()
    except Exception as exc:  # the state's exception is re-raised here
        return is_transient(exc)
    return False


def alert_on_failure(flow: Any, flow_run: Any, state: Any) -> None:
    """Prefect state hook: a failed flow run becomes a critical alert (never raises)."""
    import logging

    try:
        from aaiti.monitoring.alerts import notify

        settings = flow_settings(audit=False)
        notify(
            settings,
            source="flow",
            severity="critical",
            dedup_key=f"flow:{flow.name}",
            message=f"flow {flow.name} run {flow_run.name} failed: {state.message}",
        )
    except Exception:  # an alert that cannot be sent must not hide the flow's own failure
        logging.getLogger(__name__).exception("could not raise the failure alert for %s", flow.name)


def deliver_alerts(settings: Settings) -> dict:
    """Send what the flow's stages put in the alert outbox; a dead channel never raises."""
    from aaiti.monitoring.alerts import deliver_pending

    report = deliver_pending(settings)
    return {"alerts": report.alerts, **report.outcomes}


#: Prefect global concurrency limit around warehouse-writing tasks (``aaiti-serve`` creates
#: it with one slot). It queues writers in the UI instead of in the file lock's wait; the
#: file lock still guards every write, with or without a server.
WAREHOUSE_WRITES = "aaiti-warehouse-writes"
SLOT_LEASE_S = 60.0


#: How long a writer waits for the slot before it looks for an orphaned one.
SLOT_WAIT_S = 30.0
#: How long a slot must stay taken with no lease before it is called orphaned.
SLOT_CONFIRM_S = 3.0
#: Orphaned slots one writer frees while it waits before it stops and fails its flow (an
#: alert): one is a lease write that failed once; a slot taken again with no lease each
#: time is a cause that freeing cannot mend (a zombie server held the lease index's lock
#: and the soak's dbt build freed the slot every 33 s for 13 min).
SLOT_MAX_FREES = 3


class OrphanedSlotError(RuntimeError):
    """The warehouse slot keeps being taken with no lease: freeing it again will not help."""


@contextmanager
def warehouse_slot() -> Iterator[None]:
    """One slot of the warehouse-writes limit around a long write (the dbt build).

    Taking a slot costs ~2 s of Prefect round trips here (measured: an empty subflow with
    one task, 0.34 s without a slot, 2.02 s with one; benchmarks/bench_prefect.py), so the sub-second writers (predict,
    trade, risk) rely on the file lock alone. The limit is created on first use if the
    server lacks it: Prefect's wait on a missing limit is slower still. A writer that has
    waited ``SLOT_WAIT_S`` frees a slot that no lease holds (``free_orphaned_slot``), at
    most ``SLOT_MAX_FREES`` times; then it fails (``OrphanedSlotError``) and its flow alerts.
    """
    from prefect.concurrency.asyncio import AcquireConcurrencySlotTimeoutError
    from prefect.concurrency.sync import concurrency

    ensure_concurrency_limit()
    frees = 0
    with ExitStack() as held:
        while True:
            try:
                # a short lease, renewed while held: a holder that died frees its slot
                # within a minute
                held.enter_context(concurrency(WAREHOUSE_WRITES, occupy=1, strict=True,
                                               lease_duration=SLOT_LEASE_S,
                                               timeout_seconds=SLOT_WAIT_S))  # fmt: skip
                break
            except AcquireConcurrencySlotTimeoutError:
                frees += free_orphaned_slot(confirm_s=SLOT_CONFIRM_S)
                if frees >= SLOT_MAX_FREES:
                    raise OrphanedSlotError(
                        f"the {WAREHOUSE_WRITES} slot was freed {frees} times in one wait and "
                        "taken again with no lease each time: something takes it without a "
                        "lease (is the Prefect server's lease index writable? `make status`); "
                        "stopping instead of freeing it for ever"
                    ) from None
        yield


def free_orphaned_slot(*, confirm_s: float = SLOT_CONFIRM_S) -> bool:
    """Free the warehouse slot when it is taken and no lease holds it, twice ``confirm_s``
    apart; whether it was freed.

    Prefect counts a slot taken, then writes its lease: when that write fails (found by
    the soak: a full disk under the server), the count stays with no lease to expire it and
    every later dbt build waits forever. Only where the server keeps its leases on disk
    and these runs can read them (the served stack); with in-memory leases, nothing is
    known and nothing is touched. The file lock still guards every write meanwhile.
    """
    import logging
    import os

    from aaiti.stack import LEASES_ON_DISK

    if os.environ.get("PREFECT_SERVER_CONCURRENCY_LEASE_STORAGE") != LEASES_ON_DISK:
        return False
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import GlobalConcurrencyLimitUpdate

    with get_client(sync_client=True) as client:
        for attempt in range(2):
            limit = client.read_global_concurrency_limit_by_name(WAREHOUSE_WRITES)
            if limit.active_slots == 0 or lease_held_on_disk(limit.id):
                return False
            if attempt == 0:
                time.sleep(confirm_s)  # a slot counted an instant before its lease is written
        client.update_global_concurrency_limit(
            WAREHOUSE_WRITES, GlobalConcurrencyLimitUpdate(active_slots=0)
        )
    logging.getLogger("aaiti.flows").error(
        "freed the %s slot: it was taken and no lease held it (a lease write had failed)",
        WAREHOUSE_WRITES,
    )
    return True


def lease_held_on_disk(limit_id: Any) -> bool:
    """Whether an unexpired lease on disk holds a slot of the limit.

    Prefect's one private API this project reads (its server's lease storage: no public
    endpoint lists leases); ``tests/test_private_apis.py`` fails with what changed on an
    upgrade that moves it."""
    import anyio
    from prefect.server.concurrency.lease_storage.filesystem import ConcurrencyLeaseStorage

    async def held() -> bool:
        storage = ConcurrencyLeaseStorage()
        for lease_id in await storage.read_active_lease_ids(limit=1000):
            try:
                lease = await storage.read_lease(lease_id)
            except Exception:  # unreadable: assume it holds; it expires from the index
                return True
            if lease is not None and limit_id in lease.resource_ids:
                return True
        return False

    return bool(anyio.run(held))


def ensure_concurrency_limit() -> None:
    """The global limit on warehouse writes (one slot), created if the server lacks it."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import GlobalConcurrencyLimitCreate
    from prefect.exceptions import ObjectAlreadyExists, ObjectNotFound

    with get_client(sync_client=True) as client:
        try:
            client.read_global_concurrency_limit_by_name(WAREHOUSE_WRITES)
        except ObjectNotFound:
            with suppress(ObjectAlreadyExists):  # another process made it meanwhile
                client.create_global_concurrency_limit(
                    GlobalConcurrencyLimitCreate(name=WAREHOUSE_WRITES, limit=1)
                )


def task_runner_from(settings: Settings) -> Any:
    """Dask when ``AAITI_DASK_ADDRESS`` names a scheduler; Prefect's thread pool otherwise."""
    if settings.dask_address:
        from prefect_dask import DaskTaskRunner

        return DaskTaskRunner(address=settings.dask_address)
    from prefect.task_runners import ThreadPoolTaskRunner

    return ThreadPoolTaskRunner()


@contextmanager
def subflows_without_heartbeats() -> Iterator[None]:
    """Run subflows without their own heartbeat thread.

    Prefect joins a flow run's heartbeat thread at the end of the run, and the thread sleeps
    in 1 s steps: about 1 s added to every flow run (measured here: an empty subflow with
    one task, 1.12 s with the heartbeat, 0.34 s without; benchmarks/bench_prefect.py). Heartbeats exist to notice a
    crashed run; the parent's own heartbeat still covers the subflows it runs in-process.
    """
    from prefect.settings import PREFECT_FLOWS_HEARTBEAT_FREQUENCY, temporary_settings

    with temporary_settings({PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}):
        yield
