"""The stack's supervisor: the restart decisions as a pure core, then a real service killed
under a real supervisor, restarted, alerted, shown by status — and nothing restarted after
``down``."""

from __future__ import annotations

import json
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from aaiti.config import load_settings
from aaiti.stack import down, is_ours, pid_file, record_of, status, up
from aaiti.supervisor import RestartPolicy, Watch, delay, step
from aaiti.warehouse import Warehouse

REPO = Path(__file__).resolve().parents[1]
POLICY = RestartPolicy(interval_s=1.0, backoff_s=2.0, backoff_max_s=10.0, stable_s=30.0)


def test_backoff_doubles_from_the_second_death_up_to_its_ceiling():
    assert [delay(n, POLICY) for n in range(6)] == [0.0, 2.0, 4.0, 8.0, 10.0, 10.0]


def test_a_first_death_is_restarted_at_once_and_a_crash_loop_waits():
    w, restart = step(Watch(), alive=True, now=0.0, policy=POLICY)
    assert (w.up_since, restart) == (0.0, False)
    w, restart = step(w, alive=False, now=100.0, policy=POLICY)
    assert restart and (w.restarts, w.failures) == (1, 1)
    # it dies again a second later: no restart until the backoff (2 s) has passed
    w, restart = step(w, alive=False, now=101.0, policy=POLICY)
    assert not restart and w.retry_at == 103.0
    w, restart = step(w, alive=False, now=102.9, policy=POLICY)
    assert not restart
    w, restart = step(w, alive=False, now=103.0, policy=POLICY)
    assert restart and (w.restarts, w.failures) == (2, 2)
    w, restart = step(w, alive=False, now=104.0, policy=POLICY)
    assert not restart and w.retry_at == 108.0  # doubled


def test_a_service_that_stays_up_is_stable_again():
    w = Watch(restarts=3, failures=3, up_since=0.0)
    w, _ = step(w, alive=True, now=29.0, policy=POLICY)
    assert w.failures == 3
    w, _ = step(w, alive=True, now=30.0, policy=POLICY)
    assert w.failures == 0 and w.restarts == 3
    w, restart = step(w, alive=False, now=31.0, policy=POLICY)
    assert restart  # at once again


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(predicate, *, timeout_s: float, what: str):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout_s:.0f} s waiting for {what}")


def test_a_full_disk_does_not_stop_the_supervisor(tmp_path, monkeypatch):
    """Found by the soak: writing its state on a full disk raised and ended the supervisor,
    and nothing restarted the services it should have."""
    import errno
    import threading

    from aaiti import supervisor

    calls = []

    def full(*args):
        calls.append(time.monotonic())
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(supervisor, "_write_state", full)
    settings = load_settings(data_dir=tmp_path / "data", supervisor_interval_s=0.05)
    stop = threading.Event()
    loop = threading.Thread(target=supervisor.supervise, args=(settings,),
                            kwargs={"repo": REPO, "stop": stop}, daemon=True)  # fmt: skip
    loop.start()
    wait_for(lambda: len(calls) >= 5, timeout_s=10, what="five looks on a full disk")
    assert loop.is_alive()
    stop.set()
    loop.join(5)
    assert not loop.is_alive()


@pytest.mark.integration
def test_a_killed_service_is_restarted_alerted_and_shown_and_down_stops_all(tmp_path, monkeypatch):
    data = tmp_path / "data"
    port = free_port()
    for k, v in {
        "AAITI_DATA_DIR": str(data),
        "AAITI_METRICS_PORT": str(port),
        "AAITI_PREFECT_PORT": str(free_port()),  # nothing answers there: metrics says so
        "AAITI_SUPERVISOR_INTERVAL_S": "0.5",
        "AAITI_SUPERVISOR_BACKOFF_S": "1",
        "PREFECT_HOME": str(data / "prefect"),
    }.items():
        monkeypatch.setenv(k, v)
    settings = load_settings()
    Warehouse.from_settings(settings).migrate()  # the outbox the alert goes to
    try:
        up(settings, repo=REPO, only=["metrics", "supervisor"], timeout_s=120, echo=lambda _: None)
        first = record_of(settings, "metrics")
        os.killpg(first["pid"], signal.SIGKILL)
        killed_at = time.monotonic()

        def restarted():
            record = record_of(settings, "metrics")
            return record if record["pid"] != first["pid"] and is_ours(record) else None

        second = wait_for(restarted, timeout_s=30, what="the supervisor's restart")
        wait_for(lambda: _answers(port), timeout_s=60, what="the restarted exporter to answer")
        assert httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).status_code == 200
        recovered_s = time.monotonic() - killed_at
        shown = status(settings, repo=REPO)
        assert (
            "healthy" in shown["metrics"] and "restarted 1× by the supervisor" in shown["metrics"]
        )
        assert "healthy" in shown["supervisor"]
        alerts = wait_for(
            lambda: _alerts(settings), timeout_s=30, what="the supervisor's alert in the outbox"
        )
        assert alerts == [("supervisor", "warning", "supervisor:metrics")]
        # raised by a short-lived child: the supervisor itself never loads the outbox's
        # DuckDB and pandas (they kept it at 207 MB instead of 44 MB for good)
        maps = Path(f"/proc/{record_of(settings, 'supervisor')['pid']}/maps").read_text()
        assert "duckdb" not in maps and "pandas" not in maps
        print(f"metrics recovered {recovered_s:.1f} s after SIGKILL")
    finally:
        result = down(settings)
    assert result["supervisor"].startswith("stopped")
    time.sleep(2.0)  # four supervisor intervals: nothing may come back
    assert not list((data / "run").glob("*.pid"))
    for pid in (first["pid"], second["pid"]):
        assert not Path(f"/proc/{pid}").exists() or not Path(f"/proc/{pid}/cmdline").read_bytes()
    assert not _answers(port)
    assert (
        json.loads((data / "run" / "supervisor.json").read_text())["services"]["metrics"][
            "restarts"
        ]
        == 1
    )
    assert pid_file(settings, "metrics").exists() is False


def _answers(port: int) -> bool:
    try:
        httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=2)
    except httpx.HTTPError:
        return False
    return True


def _alerts(settings) -> list[tuple]:
    import duckdb

    from aaiti.warehouse.lock import writer_lock

    warehouse = Warehouse.from_settings(settings)
    with writer_lock(warehouse.lock_path, timeout_s=30, purpose="test read"):
        con = duckdb.connect(str(warehouse.path), read_only=True)
        try:
            return con.sql(
                "SELECT source, severity, dedup_key FROM ops.alerts WHERE source = 'supervisor'"
            ).fetchall()
        finally:
            con.close()


def test_down_stops_the_orphans_of_a_component_whose_leader_died(tmp_path):
    """A service's leader SIGKILLed with the supervisor gone leaves its workers (MLflow's
    uvicorn) in the group: ``down`` stops them too, and nothing outside the group."""
    import subprocess
    import sys

    settings = load_settings(data_dir=tmp_path / "data")
    (tmp_path / "data" / "run").mkdir(parents=True)
    spawn = "import subprocess, sys; print(subprocess.Popen(['sleep', '300']).pid, flush=True)"
    leader = subprocess.Popen([sys.executable, "-c", spawn], stdout=subprocess.PIPE, text=True,
                              start_new_session=True)  # fmt: skip
    orphan = int(leader.stdout.readline())
    leader.wait(timeout=10)  # the leader is gone; its child lives on in the group
    bystander = subprocess.Popen(["sleep", "300"])  # our own group: must survive
    record = {"pid": leader.pid, "command": [sys.executable, "-c", spawn]}
    pid_file(settings, "mlflow").write_text(json.dumps(record))
    try:
        assert Path(f"/proc/{orphan}").exists() and not is_ours(record)
        result = down(settings)
        assert "1 orphaned process" in result["mlflow"], result
        wait_for(lambda: not Path(f"/proc/{orphan}").exists() or
                 Path(f"/proc/{orphan}/stat").read_text().split(") ")[1][0] == "Z",
                 timeout_s=10, what="the orphan to be stopped")  # fmt: skip
        assert bystander.poll() is None
    finally:
        bystander.kill()
        os.system(f"kill -9 {orphan} 2>/dev/null")


def test_a_process_is_ours_by_its_start_time_through_an_exec_and_not_after_its_pid_is_reused():
    """MLflow's launcher execs its server in place, so the command line changes under the
    same pid: the record's start time still names it. A recycled pid (another start time)
    is someone else's, whatever its command."""
    from aaiti.stack import _started, is_ours

    proc = subprocess.Popen([sys.executable, "-c", "import os, sys; os.execv(sys.executable, "
                             "[sys.executable, '-c', 'import time; time.sleep(30)'])"])  # fmt: skip
    try:
        record = {"pid": proc.pid, "command": ["before", "the", "exec"],
                  "started": _started(proc.pid)}  # fmt: skip
        wait_for(lambda: "time.sleep" in Path(f"/proc/{proc.pid}/cmdline").read_text(),
                 timeout_s=10, what="the exec")  # fmt: skip
        assert is_ours(record)
        assert not is_ours({**record, "started": record["started"] - 1})  # a recycled pid
    finally:
        proc.kill()
        proc.wait()
    assert not is_ours(record)


def test_a_started_component_that_dies_leaves_no_zombie_in_a_caller_that_lives_on(tmp_path, caplog):
    """`kill(pid, 0)` says a zombie is alive: Prefect's file lock named the SIGKILLed server's
    pid, and the soak's dbt build waited on that lock for 20 minutes. The caller that started
    a component collects it the moment it ends, and logs how it ended."""
    from aaiti.stack import Component, run_dir, start

    caplog.set_level(logging.INFO, logger="aaiti.stack")

    settings = load_settings(data_dir=tmp_path / "data")
    run_dir(settings).mkdir(parents=True)
    sleeper = Component("sleeper", [sys.executable, "-c", "import time; time.sleep(60)"],
                        "", lambda: True, {}, None)  # fmt: skip
    pid = start(settings, sleeper, repo=tmp_path)
    os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not Path(f"/proc/{pid}").exists(), Path(f"/proc/{pid}/status").read_text()[:80]
    line = f"sleeper: pid {pid} ended (signal 9)"
    while line not in caplog.text and time.monotonic() < deadline:
        time.sleep(0.05)
    assert line in caplog.text, caplog.text
