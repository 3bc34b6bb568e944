"""Contracts on the private APIs of Prefect and MLflow the project relies on, each used in
one adapter function. An upgrade that renames or reshapes one fails here, saying what
changed and which function to mend — not somewhere in the served stack."""

from __future__ import annotations

import inspect
from datetime import timedelta
from uuid import uuid4

import anyio
import pytest


def _fail(what: str, where: str, package: str) -> str:
    from importlib.metadata import version

    return f"{package} {version(package)} changed {what}, which {where} relies on: mend it there"


def test_mlflow_still_spawns_its_server_through_exec_cmd():
    """``aaiti.ml.tracking.ui_main`` replaces ``mlflow.server._exec_cmd`` to exec the UI's
    server in place."""
    import mlflow.server

    where = "aaiti.ml.tracking.ui_main"
    assert hasattr(mlflow.server, "_exec_cmd"), _fail("mlflow.server._exec_cmd", where, "mlflow")
    source = inspect.getsource(mlflow.server)
    assert "_exec_cmd(" in source and "extra_env=" in source, _fail(
        "how mlflow.server starts its server (no _exec_cmd(…, extra_env=…) call)", where, "mlflow"
    )


def test_prefect_lease_storage_on_disk_reads_back_a_lease(tmp_path, monkeypatch):
    """``flows.common.lease_held_on_disk`` reads the server's leases from disk: a lease
    written through the storage is found active and names its resource."""
    from aaiti.stack import LEASES_ON_DISK

    where = "flows.common.lease_held_on_disk (and aaiti.stack.LEASES_ON_DISK)"
    try:
        module = __import__(LEASES_ON_DISK, fromlist=["ConcurrencyLeaseStorage"])
        storage_class = module.ConcurrencyLeaseStorage
    except (ImportError, AttributeError):
        pytest.fail(_fail(f"{LEASES_ON_DISK}.ConcurrencyLeaseStorage", where, "prefect"))
    for name in ("read_active_lease_ids", "read_lease", "create_lease"):
        method = getattr(storage_class, name, None)
        assert inspect.iscoroutinefunction(method), _fail(
            f"ConcurrencyLeaseStorage.{name}", where, "prefect"
        )
    assert "limit" in inspect.signature(storage_class.read_active_lease_ids).parameters, _fail(
        "read_active_lease_ids(limit=…)", where, "prefect"
    )
    resource = uuid4()

    async def round_trip() -> tuple[list, object]:
        storage = storage_class(storage_path=tmp_path)
        lease = await storage.create_lease([resource], timedelta(seconds=60))
        return await storage.read_active_lease_ids(limit=1000), await storage.read_lease(lease.id)

    active, lease = anyio.run(round_trip)
    assert len(active) == 1 and lease is not None, _fail(
        "the lease storage's reads", where, "prefect"
    )
    assert resource in lease.resource_ids, _fail("ResourceLease.resource_ids", where, "prefect")


def test_prefect_engine_and_client_calls_the_warm_runner_makes():
    """``flows.warm_runner`` runs claimed flow runs with Prefect's own engine and reads the
    deployments' due runs as Prefect's runner does."""
    from prefect.client.orchestration import SyncPrefectClient
    from prefect.flow_engine import run_flow

    where = "flows.warm_runner"
    assert {"flow", "flow_run"} <= set(inspect.signature(run_flow).parameters), _fail(
        "prefect.flow_engine.run_flow(flow, flow_run)", where, "prefect"
    )
    due = getattr(SyncPrefectClient, "get_scheduled_flow_runs_for_deployments", None)
    assert due is not None and "deployment_ids" in inspect.signature(due).parameters, _fail(
        "get_scheduled_flow_runs_for_deployments(deployment_ids=…)", where, "prefect"
    )
