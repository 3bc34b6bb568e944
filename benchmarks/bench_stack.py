"""The served stack as ``make up`` runs it: its memory between cycles, and how long each
service takes to answer again after a SIGKILL, which the supervisor restarts.

On a copy of the demo's state, all services start (``aaiti.stack.up``, free ports), two
``pipeline`` runs are triggered through the API, the dashboard's Overview is rendered once
in headless Chromium (when installed) so its process holds a session, and after a settle
the resident memory of each service's process group is read — the figure ``make status``
reports. Target: under 2 GB in total. Then each service's main process is SIGKILLed in
turn; recovery is the time until a new process answers its health check, against the
reference of the same service's start-up time measured by ``up`` in the same run. A last
``pipeline`` run after the Prefect server's and ``serve``'s restarts must complete.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from benchmarks.bench_pipeline import WORK, _env, _free_port, _run
from benchmarks.common import write_result

REPO = Path(__file__).resolve().parents[1]
KILL_ORDER = ("dashboard", "metrics", "mlflow", "serve", "prefect")


def _pipeline_run(api: str) -> str:
    import httpx

    found = httpx.post(f"{api}/deployments/filter", json={"limit": 50}, timeout=10).json()
    pipeline = next(d for d in found if d["name"] == "pipeline")
    run_id = httpx.post(
        f"{api}/deployments/{pipeline['id']}/create_flow_run", json={}, timeout=10
    ).json()["id"]
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        try:
            state = httpx.get(f"{api}/flow_runs/{run_id}", timeout=10).json()["state"]["type"]
        except httpx.HTTPError:  # the server restarting
            state = "UNKNOWN"
        if state in ("COMPLETED", "FAILED", "CRASHED", "CANCELLED"):
            return state
        time.sleep(0.5)
    return "TIMED_OUT"


def _render_overview(url: str) -> bool:
    chromium = shutil.which("chromium") or "/usr/bin/chromium"
    if not Path(chromium).exists():
        return False
    subprocess.run(
        [chromium, "--headless", "--no-sandbox", "--disable-gpu",
         "--virtual-time-budget=20000", "--dump-dom", url],
        capture_output=True, timeout=120, check=False,
    )  # fmt: skip
    return True


def measure() -> dict:
    """(child) Start, cycle, measure memory, kill each service, measure recovery."""
    from aaiti.config import load_settings
    from aaiti.stack import COMPONENTS, components, down, is_ours, record_of, tree_rss, up

    settings = load_settings()
    table = components(settings, repo=REPO)
    api = f"http://{settings.bind_host}:{settings.prefect_port}/api"
    startup = {}
    try:
        for name in COMPONENTS:
            t0 = time.perf_counter()
            up(settings, repo=REPO, only=[name], timeout_s=300, echo=lambda _: None)
            startup[name] = time.perf_counter() - t0
        cycles = [_pipeline_run(api) for _ in range(2)]
        rendered = _render_overview(table["dashboard"].url)
        time.sleep(10)
        rss = {n: tree_rss(record_of(settings, n)["pid"]) / 2**20 for n in COMPONENTS}
        recovery = {}
        for name in KILL_ORDER:
            before = record_of(settings, name)["pid"]
            os.kill(before, signal.SIGKILL)
            t0 = time.perf_counter()
            while time.perf_counter() - t0 < 300:
                now = record_of(settings, name)
                if now and now["pid"] != before and is_ours(now) and table[name].health():
                    break
                time.sleep(0.2)
            recovery[name] = time.perf_counter() - t0
            time.sleep(3)
        after = _pipeline_run(api)
    finally:
        down(settings)
    return {
        "startup_s": startup,
        "cycles": cycles,
        "overview_rendered": rendered,
        "rss_mb": rss,
        "total_rss_mb": sum(rss.values()),
        "recovery_s": recovery,
        "pipeline_after_restarts": after,
    }


def main() -> None:
    py = sys.executable
    WORK.mkdir(parents=True, exist_ok=True)
    base = WORK / "stack-demo"
    shutil.rmtree(base, ignore_errors=True)
    _run([py, "-m", "flows.demo"], _env(base))
    ports = {f"AAITI_{n}_PORT": str(_free_port()) for n in ("PREFECT", "MLFLOW", "DASHBOARD",
                                                             "METRICS")}  # fmt: skip
    env = _env(base, AAITI_REPLAY_INTERVAL_S="86400", **ports)
    _, _, out = _run([py, "-m", "benchmarks.bench_stack", "--measure"], env)
    result = json.loads(out.strip().splitlines()[-1])
    result["target_total_rss_mb"] = 2048
    result["total_vs_target"] = result["total_rss_mb"] / 2048
    result["recovery_vs_startup"] = {
        n: result["recovery_s"][n] / result["startup_s"][n] for n in result["recovery_s"]
    }
    path = write_result("stack", result)
    print(json.dumps(result, indent=1))
    print(f"wrote {path}")


if __name__ == "__main__":
    if sys.argv[1:] == ["--measure"]:
        print(json.dumps(measure()))
    else:
        main()
