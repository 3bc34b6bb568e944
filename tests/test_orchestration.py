"""The local stack for real: a Prefect server and the served deployments started by
``aaiti.stack.up`` on loopback, the pipeline triggered through the API, the schedules as
declared, Dask workers giving the same warehouse as the default runner, and ``down``
stopping exactly what was started."""

from __future__ import annotations

import json
import os
import socket
import time
from datetime import datetime
from pathlib import Path

import duckdb
import httpx
import pytest
from prefect import flow

from aaiti.config import load_settings
from aaiti.stack import down, pid_file, run_dir, status, up
from tests.conftest import SAMPLE_DIR, drain_prefect_workers

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[1]


def api_call(method: str, url: str, **kwargs) -> httpx.Response:
    """One REST call to the test's Prefect server. Its SQLite database answers 503 while
    another writer holds it (Prefect's own client retries those); so do we, with back-off."""
    kwargs.setdefault("timeout", 10)
    for attempt in range(7):
        response = httpx.request(method, url, **kwargs)
        if response.status_code not in (429, 503):
            return response
        time.sleep(0.25 * 2**attempt)
    return response


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
        "AAITI_METRICS_PORT": str(free_port()),
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
            up(settings, repo=REPO, only=["prefect", "serve", "metrics"], timeout_s=180)
            with temporary_settings({PREFECT_API_URL: api}):
                yield settings, api
                drain_prefect_workers()  # while the server still answers
        finally:
            down(settings)


def deployment(api: str, name: str) -> dict:
    found = api_call("POST", f"{api}/deployments/filter", json={"limit": 50}, timeout=10).json()
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
        "evaluate": None,
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
    limits = api_call("POST", f"{api}/v2/concurrency_limits/filter", json={}, timeout=10).json()
    assert {"name": "aaiti-warehouse-writes", "limit": 1} in [
        {"name": c["name"], "limit": c["limit"]} for c in limits
    ]


FINAL = ("COMPLETED", "FAILED", "CRASHED", "CANCELLED")


def wait_final(api: str, run_id: str, *, timeout_s: float = 600) -> dict:
    deadline = time.monotonic() + timeout_s
    while True:
        run = api_call("GET", f"{api}/flow_runs/{run_id}", timeout=10).json()
        if run["state"]["type"] in FINAL:
            return run
        assert time.monotonic() < deadline, run["state"]
        time.sleep(1)


def serve_children(settings) -> set[int]:
    import psutil

    serve = json.loads(pid_file(settings, "serve").read_text())["pid"]
    return {p.pid for p in psutil.Process(serve).children(recursive=True)}


def test_pipeline_triggered_through_the_api_completes_and_fills_the_warehouse(stack):
    settings, api = stack
    d = deployment(api, "pipeline")
    run = api_call(
        "POST", f"{api}/deployments/{d['id']}/create_flow_run", json={}, timeout=10
    ).json()
    run = wait_final(api, run["id"])
    state = run["state"]
    assert state["type"] == "COMPLETED", state
    # it ran in the warm runner's executor, a child of the serve process; so does the next
    again = api_call("POST", f"{api}/deployments/{d['id']}/create_flow_run", json={}, timeout=10)
    again = wait_final(api, again.json()["id"])
    assert again["state"]["type"] == "COMPLETED", again["state"]
    pid = int(run["infrastructure_pid"].rsplit(":", 1)[1])
    assert again["infrastructure_pid"] == run["infrastructure_pid"]
    assert pid in serve_children(settings)
    risk = api_call(
        "POST",
        f"{api}/deployments/{deployment(api, 'risk')['id']}/create_flow_run",
        json={},
        timeout=10,
    )  # the 5-minute risk job runs in the same warm executor
    risk = wait_final(api, risk.json()["id"])
    assert risk["state"]["type"] == "COMPLETED", risk["state"]
    assert risk["infrastructure_pid"] == run["infrastructure_pid"]
    children = api_call(
        "POST",
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
    artifacts = api_call(
        "POST",
        f"{api}/artifacts/filter",
        json={"artifacts": {"key": {"any_": ["pipeline-cycle"]}}},
        timeout=10,
    ).json()
    assert artifacts and "| coinbase:BTC/USD:4h |" in artifacts[0]["data"]
    # the stack's exporter, scraped: the same numbers as the snapshot and the Prefect API
    from prometheus_client.parser import text_string_to_metric_families

    text = api_call("GET", f"http://127.0.0.1:{settings.metrics_port}/metrics", timeout=30).text
    got = {(s.name, tuple(sorted(s.labels.items()))): s.value
           for f in text_string_to_metric_families(text) for s in f.samples}  # fmt: skip
    assert got[("aaiti_prefect_up", ())] == 1 and got[("aaiti_snapshot_up", ())] == 1
    for symbol, n in streams:
        key = (("exchange", "coinbase"), ("symbol", symbol), ("timeframe", "4h"))
        assert got[("aaiti_stream_candles", key)] == n
    last = api_call("POST", f"{api}/flow_runs/filter", timeout=10, json={
        "sort": "END_TIME_DESC", "limit": 1, "flows": {"name": {"any_": ["pipeline"]}},
        "flow_runs": {"state": {"type": {"any_": ["COMPLETED"]}}}}).json()[0]  # fmt: skip
    took = datetime.fromisoformat(last["end_time"]) - datetime.fromisoformat(last["start_time"])
    duration = got[("aaiti_flow_last_run_duration_seconds",
                    (("flow", "pipeline"), ("state", "COMPLETED")))]  # fmt: skip
    assert duration == pytest.approx(took.total_seconds())
    # make status: each running part's resident memory, and the stack's total
    shown = status(settings, repo=REPO)
    parts = [int(shown[c].split("rss ")[1].split(" MB")[0].replace(",", ""))
             for c in ("prefect", "serve", "metrics")]  # fmt: skip
    assert all(p > 10 for p in parts)  # a Python process holds more than 10 MB
    total = int(shown["total"].split("rss ")[1].split(" MB")[0].replace(",", ""))
    assert abs(total - sum(parts)) <= 3  # rounding of each part


def test_drift_starts_training_through_the_served_deployment(stack):
    _, api = stack
    from flows.monitor import start_training

    assert start_training("4h") == "deployment"
    train = deployment(api, "train")
    runs = api_call(
        "POST",
        f"{api}/flow_runs/filter",
        json={"deployments": {"id": {"any_": [train["id"]]}}},
        timeout=10,
    ).json()
    mine = [r for r in runs if r["parameters"] == {"timeframe": "4h"}]  # not the daily ones
    assert len(mine) == 1
    api_call(
        "POST",  # not needed here: cancel it before the served runner trains
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
        runs = api_call("POST",
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


def _probe(stack, tmp_path, *, warm: bool, schedule=None):
    """A deployment of tests.warm_flows:where_am_i and a warm runner for it (not served);
    its runs append to ``tmp_path / "where.jsonl"``."""
    from flows.warm_runner import WarmRunner
    from tests.warm_flows import where_am_i

    settings, _ = stack
    name = f"probe-{tmp_path.name}"
    parameters = {"path": str(tmp_path / "where.jsonl")}
    dep_id = where_am_i.to_deployment(name=name, parameters=parameters, schedule=schedule).apply()
    runner = WarmRunner(
        deployments={dep_id: "tests.warm_flows:where_am_i"}, settings=settings, warm=warm
    )
    return dep_id, runner


def _at(text: str):
    from datetime import datetime

    return datetime.fromisoformat(text)


def _start(api: str, dep_id, **parameters) -> str:
    r = api_call(
        "POST",
        f"{api}/deployments/{dep_id}/create_flow_run",
        json={"parameters": parameters},
        timeout=10,
    )
    assert r.status_code == 201, r.text
    return r.json()["id"]


def _drain(runner, count: int, *, timeout_s: float = 240) -> list:
    deadline = time.monotonic() + timeout_s
    outcomes = []
    while len(outcomes) < count:
        assert time.monotonic() < deadline, outcomes
        outcomes += runner.run_due()
        time.sleep(0.5)
    return outcomes


def test_warm_runner_runs_every_cycle_in_one_warmed_process(stack, tmp_path):
    _, api = stack
    dep_id, runner = _probe(stack, tmp_path, warm=True)
    log = tmp_path / "where.jsonl"
    try:
        ids = [_start(api, dep_id) for _ in range(2)]
        outcomes = _drain(runner, 2)
        assert [o.state for o in outcomes] == ["COMPLETED", "COMPLETED"]
        records = [json.loads(line) for line in log.read_text().splitlines()]
        pids = {r["pid"] for r in records}
        assert pids == {runner.executor_pid} and os.getpid() not in pids
        from tests.warm_flows import TOOLS

        assert records[0]["tools"] == list(TOOLS)  # imported before the first run began
        for run_id in ids:
            run = api_call("GET", f"{api}/flow_runs/{run_id}", timeout=10).json()
            assert run["state"]["type"] == "COMPLETED"
            assert run["infrastructure_pid"].endswith(f":{runner.executor_pid}")

    finally:
        runner.close()


def _past_minutes_cron(now):
    """A daily cron firing at 2–4 minute marks just before ``now`` (one hour of them), so
    a backfill makes that many late runs and the next scheduled run is a day away."""
    from datetime import timedelta

    marks = [now.replace(second=0, microsecond=0) - timedelta(minutes=k) for k in range(1, 5)]
    by_hour: dict = {}
    for m in marks:
        by_hour.setdefault(m.hour, []).append(m.minute)
    hour, minutes = max(by_hour.items(), key=lambda kv: len(kv[1]))
    return f"{','.join(map(str, sorted(minutes)))} {hour} * * *", len(minutes)


def test_warm_runner_runs_only_the_newest_of_late_scheduled_runs(stack, tmp_path):
    """The stack was down a few minutes: the scheduled runs it missed are late; one cycle
    takes in every bar, so only the newest runs and the others are Cancelled as superseded.
    A run made by hand meanwhile still runs."""
    from datetime import UTC, datetime, timedelta

    from prefect.schedules import Cron

    _, api = stack
    now = datetime.now(UTC)
    cron, expected = _past_minutes_cron(now)
    dep_id, runner = _probe(stack, tmp_path, warm=False, schedule=Cron(cron, timezone="UTC"))
    try:
        r = api_call("POST",
            f"{api}/deployments/{dep_id}/schedule",
            json={"start_time": (now - timedelta(minutes=10)).isoformat(),
                  "end_time": now.isoformat()},
            timeout=10,
        )  # fmt: skip
        assert r.status_code < 300, r.text
        by_hand = _start(api, dep_id)
        runs = api_call(
            "POST",
            f"{api}/flow_runs/filter",
            json={"deployments": {"id": {"any_": [str(dep_id)]}}},
            timeout=10,
        ).json()
        late = [r for r in runs if r["auto_scheduled"] and _at(r["expected_start_time"]) < now]
        assert len(late) == expected >= 2
        assert all(_at(r["expected_start_time"]) > now + timedelta(hours=1)
                   for r in runs if r["auto_scheduled"] and r not in late)  # fmt: skip
        outcomes = _drain(runner, 2, timeout_s=120)
        newest = max(late, key=lambda r: _at(r["expected_start_time"]))
        assert {o.flow_run_id.hex for o in outcomes} == {
            newest["id"].replace("-", ""),
            by_hand.replace("-", ""),
        }
        assert [o.state for o in outcomes] == ["COMPLETED", "COMPLETED"]
        for run in late:
            if run["id"] != newest["id"]:
                state = api_call("GET", f"{api}/flow_runs/{run['id']}", timeout=10).json()["state"]
                assert state["type"] == "CANCELLED" and "superseded" in state["message"], state
    finally:
        runner.close()


def test_warm_runner_recovers_from_a_crash_and_a_cancel(stack, tmp_path):
    _, api = stack
    dep_id, runner = _probe(stack, tmp_path, warm=False)
    log = tmp_path / "where.jsonl"
    try:
        crashed = _start(api, dep_id, exit_code=3)
        [outcome] = _drain(runner, 1, timeout_s=120)
        state = api_call("GET", f"{api}/flow_runs/{crashed}", timeout=10).json()["state"]
        assert outcome.state == "CRASHED" and state["type"] == "CRASHED"
        assert "exit code 3" in state["message"], state
        import duckdb  # the runner raised the alert no flow hook could (a crash runs none)

        settings, _ = stack
        con = duckdb.connect(str(settings.warehouse_path), read_only=True)
        try:
            alerts = con.sql(
                "SELECT severity, message FROM ops.alerts WHERE dedup_key = 'flow:crashed'"
            ).fetchall()
        finally:
            con.close()
        assert [a[0] for a in alerts] == ["critical"] and "exit code 3" in alerts[0][1]

        long = _start(api, dep_id, sleep_s=300)

        def cancel_when_running() -> None:
            while True:
                run = api_call("GET", f"{api}/flow_runs/{long}", timeout=10).json()
                if run["state"]["type"] == "RUNNING":
                    break
                time.sleep(0.3)
            api_call(
                "POST",
                f"{api}/flow_runs/{long}/set_state",
                json={"state": {"type": "CANCELLING", "name": "Cancelling"}, "force": True},
                timeout=10,
            )

        import threading

        canceller = threading.Thread(target=cancel_when_running, daemon=True)
        canceller.start()
        t0 = time.monotonic()
        [outcome] = _drain(runner, 1, timeout_s=120)
        assert time.monotonic() - t0 < 60  # not the flow's 300 s
        canceller.join(timeout=10)
        state = api_call("GET", f"{api}/flow_runs/{long}", timeout=10).json()["state"]
        assert outcome.state == "CANCELLED" and state["type"] == "CANCELLED", state

        fine = _start(api, dep_id)
        [outcome] = _drain(runner, 1, timeout_s=120)
        assert outcome.state == "COMPLETED"
        pids = [json.loads(line)["pid"] for line in log.read_text().splitlines()]
        assert len(pids) == 3 and len(set(pids)) == 3  # a new executor after each
        assert api_call("GET", f"{api}/flow_runs/{fine}", timeout=10).json()["state"]["type"] == (
            "COMPLETED"
        )
    finally:
        runner.close()


def test_no_run_is_left_running_when_its_process_dies(stack, tmp_path):
    """An executor killed inside a subflow: the parent and the subflow both end Crashed.
    A run left Running by a runner that died (aaiti-serve killed): the next runner marks
    it Crashed when it starts, with the reason, and alerts."""
    _, api = stack
    dep_id, runner = _probe(stack, tmp_path, warm=False)
    try:
        crashed = _start(api, dep_id, exit_code=3, in_subflow=True)
        [outcome] = _drain(runner, 1, timeout_s=120)
        assert outcome.state == "CRASHED"
        children = api_call(
            "POST", f"{api}/flow_runs/filter", timeout=10,
            json={"flow_runs": {"parent_flow_run_id": {"any_": [crashed]}}},
        ).json()  # fmt: skip
        assert len(children) == 1 and children[0]["state"]["type"] == "CRASHED", children
        assert "its parent run" in children[0]["state"]["message"]

        orphan = _start(api, dep_id)  # claimed and started by a runner that then died
        for state in ("PENDING", "RUNNING"):
            api_call("POST", f"{api}/flow_runs/{orphan}/set_state", timeout=10,
                     json={"state": {"type": state, "name": state.title()}, "force": True})  # fmt: skip
        [reaped] = runner.reap_orphans()
        state = api_call("GET", f"{api}/flow_runs/{orphan}", timeout=10).json()["state"]
        assert reaped.state == "CRASHED" and state["type"] == "CRASHED"
        assert "aaiti-serve stopped or was killed while it ran" in state["message"]
        assert runner.reap_orphans() == []  # nothing twice
    finally:
        runner.close()


def _training_case():
    """Two years of the bundled 4h candles of both streams, a small search, 3 folds."""
    from aaiti.ml.dataset import build_dataset
    from aaiti.ml.model import TrainConfig, make_folds
    from tests.conftest import sample_frame
    from tests.test_ml_core import STREAMS, features_of

    candles = {}
    for symbol, pair in (("BTC/USD", "BTC-USD"), ("ETH/USD", "ETH-USD")):
        c = sample_frame("coinbase", pair, "4h")
        window = (c["ts"] >= "2021-01-01") & (c["ts"] < "2023-01-01")
        candles[symbol] = c[window].reset_index(drop=True)
    ds = build_dataset(
        features_of(candles), timeframe="4h", horizon=1, dead_zone=0.0005, streams=STREAMS
    )
    cfg = TrainConfig(fold_period="quarter", min_train_days=450, num_boost_round=60,
                      search_budget=2)  # 2022's last three quarters  # fmt: skip
    return ds, cfg, make_folds(ds, cfg)


def _fit(map_folds=None):
    from aaiti.ml.model import fit_here, search_params, walk_forward_evaluate

    ds, cfg, folds = _training_case()
    map_folds = map_folds or fit_here
    params = search_params(ds, cfg, folds, map_folds=map_folds)
    wf = walk_forward_evaluate(ds, cfg, params=params, folds=folds, map_folds=map_folds)
    return params, wf, len(folds)


@flow
def _fit_on_dask(address: str):
    """At module level: Prefect ships the flow by reference in each task's context."""
    from prefect_dask import DaskTaskRunner

    from flows.train import folds_on

    with DaskTaskRunner(address=address) as runner:
        return _fit(folds_on(runner))


def test_dask_workers_fit_the_training_folds_with_the_same_results(stack, monkeypatch):
    """The search's and the walk-forward's fold fits run as tasks on the cluster's workers
    (what the train flow does under AAITI_DASK_ADDRESS); every number equals a local fit."""
    import numpy as np
    from distributed import Client, LocalCluster, get_task_stream

    params_here, wf_here, n_folds = _fit()
    monkeypatch.setenv("PYTHONPATH", str(REPO))  # the workers import the flows package
    with (
        LocalCluster(n_workers=2, processes=True, threads_per_worker=1, host="127.0.0.1",
                     dashboard_address=None) as cluster,
        Client(cluster) as client,
    ):  # fmt: skip
        with get_task_stream(client) as stream:
            params, wf, _ = _fit_on_dask(cluster.scheduler_address)
        workers = {t["worker"] for t in stream.data}
        assert len(stream.data) >= 2 * n_folds + n_folds  # search + walk-forward
        assert workers <= set(cluster.scheduler_info["workers"]) and len(workers) == 2
    assert params == params_here
    assert [f.metrics for f in wf.folds] == [f.metrics for f in wf_here.folds]
    assert [f.best_iteration for f in wf.folds] == [f.best_iteration for f in wf_here.folds]
    assert np.array_equal(wf.oos["proba"].to_numpy(), wf_here.oos["proba"].to_numpy())


def test_a_slot_taken_with_no_lease_is_freed_and_a_held_one_is_not(stack, monkeypatch):
    """Prefect counts a slot taken, then writes its lease; when that write fails (a full
    disk under the server, found by the soak) the warehouse slot stayed taken forever and
    every later dbt build waited. A waiting writer now frees it, and only it; a slot taken
    again with no lease after every free is a cause freeing cannot mend: it stops."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import GlobalConcurrencyLimitUpdate
    from prefect.concurrency.sync import concurrency
    from prefect.settings import PREFECT_HOME, temporary_settings

    import flows.common as common
    from aaiti.stack import LEASES_ON_DISK

    settings, _ = stack
    monkeypatch.setenv("PREFECT_SERVER_CONCURRENCY_LEASE_STORAGE", LEASES_ON_DISK)
    monkeypatch.setattr(common, "SLOT_WAIT_S", 2.0)
    common.ensure_concurrency_limit()

    def taken() -> int:
        with get_client(sync_client=True) as client:
            return client.read_global_concurrency_limit_by_name(
                common.WAREHOUSE_WRITES
            ).active_slots

    with temporary_settings({PREFECT_HOME: settings.prefect_home.resolve()}):
        with concurrency(common.WAREHOUSE_WRITES, occupy=1, strict=True, lease_duration=60):
            assert taken() == 1
            assert not common.free_orphaned_slot(confirm_s=0.5)  # a lease holds it
            assert taken() == 1
        assert taken() == 0
        with get_client(sync_client=True) as client:  # what a failed lease write leaves
            client.update_global_concurrency_limit(
                common.WAREHOUSE_WRITES, GlobalConcurrencyLimitUpdate(active_slots=1)
            )
        started = time.monotonic()
        with common.warehouse_slot():
            assert taken() == 1  # now held by this writer, under a lease
        assert taken() == 0 and time.monotonic() - started < 30

        # taken again with no lease right after each free (a zombie server held the lease
        # index's lock): the writer frees it SLOT_MAX_FREES times, then fails its flow
        free = common.free_orphaned_slot

        def freed_and_taken_again(**kwargs) -> bool:
            freed = free(**kwargs)
            with get_client(sync_client=True) as client:
                client.update_global_concurrency_limit(
                    common.WAREHOUSE_WRITES, GlobalConcurrencyLimitUpdate(active_slots=1)
                )
            return freed

        monkeypatch.setattr(common, "free_orphaned_slot", freed_and_taken_again)
        monkeypatch.setattr(common, "SLOT_WAIT_S", 1.0)
        monkeypatch.setattr(common, "SLOT_CONFIRM_S", 0.2)
        with get_client(sync_client=True) as client:
            client.update_global_concurrency_limit(
                common.WAREHOUSE_WRITES, GlobalConcurrencyLimitUpdate(active_slots=1)
            )
        with (
            pytest.raises(common.OrphanedSlotError, match="freed 3 times in one wait"),
            common.warehouse_slot(),
        ):
            pytest.fail("the slot was never free")
        with get_client(sync_client=True) as client:  # leave the shared stack's limit free
            client.update_global_concurrency_limit(
                common.WAREHOUSE_WRITES, GlobalConcurrencyLimitUpdate(active_slots=0)
            )


# Last in the module: it stops the shared stack.
def test_down_stops_exactly_what_up_started(stack):
    settings, api = stack
    me = {"pid": os.getpid(), "command": ["not", "what", "runs", "here"]}
    pid_file(settings, "dashboard").write_text(json.dumps(me))  # a recycled pid
    assert "stale pid file" in status(settings, repo=REPO)["dashboard"]
    records = {n: json.loads(pid_file(settings, n).read_text()) for n in ("prefect", "serve")}
    executors = serve_children(settings)  # the warm runner's executor among them
    assert executors
    result = down(settings)
    assert result["dashboard"].startswith("was not running")  # and we are still alive
    assert result["prefect"].startswith(("stopped", "killed"))
    for r in records.values():
        assert (
            not Path(f"/proc/{r['pid']}").exists()
            or not Path(f"/proc/{r['pid']}/cmdline").read_bytes()
        )
    for pid in executors:
        assert not Path(f"/proc/{pid}").exists() or not Path(f"/proc/{pid}/cmdline").read_bytes()
    assert not list(run_dir(settings).glob("*.pid"))
    with pytest.raises(httpx.HTTPError):
        httpx.get(f"{api}/health", timeout=2)
