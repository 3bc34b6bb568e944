"""The local stack for real: a Prefect server and the served deployments started by
``aaiti.stack.up`` on loopback, the pipeline triggered through the API, the schedules as
declared, Dask workers giving the same warehouse as the default runner, and ``down``
stopping exactly what was started."""

from __future__ import annotations

import json
import os
import socket
import time
from pathlib import Path

import duckdb
import httpx
import pytest

from aaiti.config import load_settings
from aaiti.stack import _pid_file, down, run_dir, status, up
from tests.conftest import SAMPLE_DIR

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    data = tmp_path_factory.mktemp("stack") / "data"
    env = {
        "AAITI_DATA_DIR": str(data),
        "AAITI_SAMPLE_DIR": str(SAMPLE_DIR),
        "AAITI_PREFECT_PORT": str(free_port()),
        "AAITI_REPLAY_INTERVAL_S": "86400",  # the test triggers runs itself
        "PREFECT_HOME": str(data / "prefect"),
    }
    with pytest.MonkeyPatch.context() as mp:
        for k, v in env.items():
            mp.setenv(k, v)
        settings = load_settings()
        api = f"http://127.0.0.1:{settings.prefect_port}/api"
        mp.setenv("PREFECT_API_URL", api)  # for the processes started here (and Dask's)
        # and for this process, whose Prefect settings were read when it was imported
        from prefect.settings import PREFECT_API_URL, temporary_settings

        try:
            up(settings, repo=REPO, only=["prefect", "serve"], timeout_s=180)
            with temporary_settings({PREFECT_API_URL: api}):
                yield settings, api
        finally:
            down(settings)


def deployment(api: str, name: str) -> dict:
    found = httpx.post(f"{api}/deployments/filter", json={"limit": 50}, timeout=10).json()
    return next(d for d in found if d["name"] == name)


def test_schedules_exist_as_declared(stack):
    _, api = stack
    declared = {
        "pipeline": {"interval": 86400.0},
        "risk": {"interval": 300.0},
        "monitor": {"cron": "0 * * * *"},
        "train": {"cron": "30 0 * * *"},
        "backtest": None,
        "ingest": None,
    }
    from aaiti.stack import SERVED_DEPLOYMENTS
    from flows.deployments import deployments

    assert set(declared) == SERVED_DEPLOYMENTS == {d.name for d in deployments(stack[0])}
    for name, schedule in declared.items():
        d = deployment(api, name)
        got = [s["schedule"] for s in d["schedules"]]
        if schedule is None:
            assert got == [], name
        else:
            assert len(got) == 1 and all(got[0][k] == v for k, v in schedule.items()), (name, got)
    limits = httpx.post(f"{api}/v2/concurrency_limits/filter", json={}, timeout=10).json()
    assert {"name": "aaiti-warehouse-writes", "limit": 1} in [
        {"name": c["name"], "limit": c["limit"]} for c in limits
    ]


def test_pipeline_triggered_through_the_api_completes_and_fills_the_warehouse(stack):
    settings, api = stack
    d = deployment(api, "pipeline")
    run = httpx.post(f"{api}/deployments/{d['id']}/create_flow_run", json={}, timeout=10).json()
    deadline = time.monotonic() + 600
    while True:
        state = httpx.get(f"{api}/flow_runs/{run['id']}", timeout=10).json()["state"]
        if state["type"] in ("COMPLETED", "FAILED", "CRASHED", "CANCELLED"):
            break
        assert time.monotonic() < deadline, state
        time.sleep(2)
    assert state["type"] == "COMPLETED", state
    children = httpx.post(
        f"{api}/flow_runs/filter",
        json={"flow_runs": {"parent_flow_run_id": {"any_": [run["id"]]}}},
        timeout=10,
    )
    assert children.status_code == 200
    con = duckdb.connect(str(settings.serving_path), read_only=True)
    try:
        streams = con.sql(
            "SELECT symbol, count(*) FROM raw.ohlcv WHERE timeframe = '4h' GROUP BY 1 ORDER BY 1"
        ).fetchall()
        gates = con.sql("SELECT DISTINCT checkpoint FROM ops.stream_gates").fetchall()
    finally:
        con.close()
    assert [s for s, _ in streams] == ["BTC/USD", "ETH/USD"] and all(n > 10_000 for _, n in streams)
    assert {g for (g,) in gates} == {"raw", "features"}
    artifacts = httpx.post(
        f"{api}/artifacts/filter",
        json={"artifacts": {"key": {"any_": ["pipeline-cycle"]}}},
        timeout=10,
    ).json()
    assert artifacts and "| coinbase:BTC/USD:4h |" in artifacts[0]["data"]


def test_drift_starts_training_through_the_served_deployment(stack):
    _, api = stack
    from flows.monitor import start_training

    assert start_training("4h") == "deployment"
    train = deployment(api, "train")
    runs = httpx.post(
        f"{api}/flow_runs/filter",
        json={"deployments": {"id": {"any_": [train["id"]]}}},
        timeout=10,
    ).json()
    mine = [r for r in runs if r["parameters"] == {"timeframe": "4h"}]  # not the daily ones
    assert len(mine) == 1
    httpx.post(  # not needed here: cancel it before the served runner trains
        f"{api}/flow_runs/{mine[0]['id']}/set_state",
        json={"state": {"type": "CANCELLED", "name": "Cancelled"}, "force": True},
        timeout=10,
    )


def test_the_pure_backtest_grid_task_is_cached_by_its_inputs(stack):
    _, api = stack
    from flows.trade import backtest_flow

    first = backtest_flow(fasts=[5, 10], slows=[50], return_state=True)
    second = backtest_flow(fasts=[5, 10], slows=[50], return_state=True)
    assert first.is_completed() and second.is_completed()
    assert first.result()["combinations"] == second.result()["combinations"] == 4

    def task_states(flow_state) -> list[str]:
        runs = httpx.post(
            f"{api}/task_runs/filter",
            json={"task_runs": {"name": {"like_": "grid "}},
                  "flow_runs": {"id": {"any_": [str(flow_state.state_details.flow_run_id)]}}},
            timeout=10,
        ).json()  # fmt: skip
        return sorted(r["state"]["name"] for r in runs)

    assert task_states(first) == ["Completed", "Completed"]
    assert task_states(second) == ["Cached", "Cached"]


def test_dask_workers_give_the_same_warehouse_as_the_default_runner(stack, tmp_path, monkeypatch):
    from distributed import Client, LocalCluster, get_task_stream
    from prefect_dask import DaskTaskRunner

    from flows.ingest import ingest_flow

    monkeypatch.setenv("PYTHONPATH", str(REPO))  # the workers import the flows package
    tables = {}
    with (
        LocalCluster(
            n_workers=2,
            processes=True,
            threads_per_worker=1,
            host="127.0.0.1",
            dashboard_address=None,
        ) as cluster,
        Client(cluster) as client,
    ):
        assert len(cluster.workers) == 2
        for runner_name, runner in (
            ("dask", DaskTaskRunner(address=cluster.scheduler_address)),
            ("default", None),
        ):
            data = tmp_path / runner_name
            monkeypatch.setenv("AAITI_DATA_DIR", str(data))
            flow = ingest_flow.with_options(task_runner=runner) if runner else ingest_flow
            with get_task_stream(client) as stream:
                rows = flow(symbols=["BTC/USD", "ETH/USD", "LTC/USD"], timeframe="1m")
            assert len(rows) == 3
            if runner_name == "dask":  # the per-stream tasks ran on the cluster's workers
                ran_on = {t["worker"] for t in stream.data}
                assert len(stream.data) >= 3 and ran_on <= set(cluster.scheduler_info["workers"])
            else:
                assert stream.data == []
            con = duckdb.connect(str(data / "warehouse.duckdb"), read_only=True)
            try:
                tables[runner_name] = con.sql(
                    "SELECT exchange, symbol, timeframe, ts, open, high, low, close, volume "
                    "FROM raw.ohlcv ORDER BY ALL"
                ).fetchall()
            finally:
                con.close()
    assert len(tables["dask"]) > 10_000 and tables["dask"] == tables["default"]


def test_down_stops_exactly_what_up_started(stack):
    settings, api = stack
    me = {"pid": os.getpid(), "command": ["not", "what", "runs", "here"]}
    _pid_file(settings, "dashboard").write_text(json.dumps(me))  # a recycled pid
    assert "stale pid file" in status(settings, repo=REPO)["dashboard"]
    records = {n: json.loads(_pid_file(settings, n).read_text()) for n in ("prefect", "serve")}
    result = down(settings)
    assert result["dashboard"].startswith("was not running")  # and we are still alive
    assert result["prefect"].startswith(("stopped", "killed"))
    for r in records.values():
        assert (
            not Path(f"/proc/{r['pid']}").exists()
            or not Path(f"/proc/{r['pid']}/cmdline").read_bytes()
        )
    assert not list(run_dir(settings).glob("*.pid"))
    with pytest.raises(httpx.HTTPError):
        httpx.get(f"{api}/health", timeout=2)
