"""The pipeline, end to end, in separate processes (as a scheduled run would be).

1. **One cycle, one new bar, the 2 default streams.** The demo's state (history, a champion,
   4 replayed bars) is copied twice. On copy A, ``pipeline_flow`` runs through Prefect (its
   temporary server already warm): wall time from flow start to the risk rows written. On
   copy B, the same stages run as plain library calls, in the same order, on the same bars.
   The orchestration overhead is the difference, as a share of A. Each side runs two
   cycles in one process: "cold" pays the imports and first-use costs a fresh process
   pays; "warm" is the steady state. Then **as served**: a real Prefect server and
   ``aaiti-serve`` (``aaiti.stack.up``) on a third copy, three ``pipeline`` runs triggered
   through the API, run start → the risk subflow's end, once with the warm runner
   (``flows/warm_runner.py``, the default) and once with Prefect's own runner (a fresh
   interpreter per run) as the reference. Target: cycle under 10 s.
2. **The full pipeline on synthetic 10 symbols × 1 year of 1m candles** (5.26M rows): one
   ``pipeline_flow`` from an empty warehouse, so ingest, both gates and the full dbt build
   all run at size. Training is its own daily flow, not part of the cycle, so the cycle
   predicts nothing here. Wall time and the peak RSS of the whole process tree (the flow,
   its temporary Prefect server, dbt in-process), sampled every 0.2 s. Targets: under 10
   minutes and under 4 GB.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from benchmarks.common import RESULTS, write_result

WORK = RESULTS / "work"
SYMBOLS = [f"S{i:02d}/USD" for i in range(10)]


def _env(data: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AAITI_")}
    repo = Path(__file__).resolve().parents[1]
    env.update(
        AAITI_DATA_DIR=str(data),
        AAITI_SAMPLE_DIR=str(repo / "data" / "sample"),
        PREFECT_HOME=str(data / "prefect"),
        PYTHONPATH=str(repo),
        **extra,
    )
    env.pop("PREFECT_API_URL", None)
    (data / "prefect").mkdir(parents=True, exist_ok=True)
    return env


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _tree_rss_mb(pid: int) -> float:
    from aaiti.stack import tree_rss  # the measure `make status` reports

    return tree_rss(pid) / 2**20


def _run(args: list[str], env: dict[str, str]) -> tuple[float, float, str]:
    """Wall seconds, peak process-tree RSS (MB) and stdout of one child process."""
    t0 = time.perf_counter()
    err = (RESULTS / "work" / "last-child-stderr.log").open("wb")
    proc = subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=err)
    peak = 0.0
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, _tree_rss_mb(proc.pid))
            time.sleep(0.2)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    out, _ = proc.communicate()
    done.set()
    sampler.join()
    err.close()
    if proc.returncode:
        tail = (RESULTS / "work" / "last-child-stderr.log").read_text()[-3000:]
        raise SystemExit(f"{' '.join(args)} failed with exit code {proc.returncode}:\n{tail}")
    return time.perf_counter() - t0, peak, out.decode()


def cycle_with_prefect() -> dict:
    """(child) Warm the temporary server, then two cycles (two new bars) in this process:
    the first pays the imports (GX, dbt, MLflow, XGBoost) as a served run's fresh process
    does; the second is the steady state. Seconds from flow start to the risk rows written."""
    import duckdb
    from prefect import flow

    from aaiti.config import load_settings
    from flows.pipeline import pipeline_flow

    @flow
    def warm() -> None:
        pass

    warm()
    settings = load_settings()
    out = {}
    for label in ("cold", "warm"):
        started = datetime.now(UTC)
        t0 = time.perf_counter()
        pipeline_flow()
        wall = time.perf_counter() - t0
        con = duckdb.connect(str(settings.warehouse_path), read_only=True)
        risk_at = con.sql("SELECT max(computed_at) FROM risk.metrics").fetchall()[0][0]
        con.close()
        out[label] = {"wall_s": wall, "to_risk_written_s": (risk_at - started).total_seconds()}
    return out


def cycle_library_only() -> dict:
    """(child) The same stages as plain library calls, no Prefect: two cycles, as above."""
    from aaiti.config import apply_tool_environment, load_settings
    from aaiti.market import fill_gaps, ingest_stream, open_source, replay_config
    from aaiti.ml import predict_new
    from aaiti.quality import FEATURES, RAW, run_gates, validator_for
    from aaiti.risk.job import compute_risk
    from aaiti.trading.cycle import trading_cycle
    from aaiti.transform import build
    from aaiti.universe import universe_streams
    from aaiti.warehouse import Warehouse
    from flows.validate import universe_feature_streams

    settings = load_settings()
    apply_tool_environment(settings)
    wh = Warehouse.from_settings(settings)

    def one_cycle() -> dict[str, float]:
        stages = {}
        t = time.perf_counter()
        src = open_source(settings, source=settings.source, exchange=settings.exchange)
        for symbol in settings.symbols:
            stream = src.validate_stream(symbol, settings.timeframe)
            ingest_stream(wh, src, stream, replay=replay_config(settings, src))
            fill_gaps(wh, src, stream)
        stages["ingest"] = time.perf_counter() - t
        quiet = validator_for(settings, docs=False)
        t = time.perf_counter()
        run_gates(wh, settings.quality, universe_streams(settings), checkpoint=RAW, validator=quiet)
        stages["validate_raw"] = time.perf_counter() - t
        t = time.perf_counter()
        build(settings)
        stages["transform"] = time.perf_counter() - t
        t = time.perf_counter()
        run_gates(
            wh,
            settings.quality,
            universe_feature_streams(settings),
            checkpoint=FEATURES,
            validator=quiet,
        )
        validator_for(settings).build_docs()
        stages["validate_features"] = time.perf_counter() - t
        for name, fn in (
            ("predict", predict_new),
            ("trade", trading_cycle),
            ("risk", compute_risk),
        ):
            t = time.perf_counter()
            fn(settings)
            stages[name] = time.perf_counter() - t
        t = time.perf_counter()
        wh.publish_snapshot()
        stages["publish"] = time.perf_counter() - t
        return stages

    out = {}
    for label in ("cold", "warm"):
        stages = one_cycle()
        out[label] = {"total_s": sum(stages.values()), "stages_s": stages}
    return out


def cycle_served(cycles: int = 3) -> dict:
    """(child) The cycle as the stack runs it: a real Prefect server and ``aaiti-serve``
    started by ``aaiti.stack.up``; ``pipeline`` runs triggered through the API, one after
    another (each releases one bar). Per run: seconds from the run's start to its ``risk``
    subflow's end (the risk rows committed), and from creation to start (pickup). Which
    runner serves the pipeline is ``AAITI_PIPELINE_RUNNER`` (warm, or Prefect's own)."""
    import httpx

    from aaiti.config import load_settings
    from aaiti.stack import down, up

    settings = load_settings()
    api = f"http://{settings.bind_host}:{settings.prefect_port}/api"

    def at(text: str) -> datetime:
        return datetime.fromisoformat(text)

    up(settings, repo=Path(__file__).resolve().parents[1], only=["prefect", "serve"],
       timeout_s=300, echo=lambda _: None)  # fmt: skip
    try:
        found = httpx.post(f"{api}/deployments/filter", json={"limit": 50}, timeout=10).json()
        pipeline = next(d for d in found if d["name"] == "pipeline")
        [risk] = httpx.post(
            f"{api}/flows/filter", json={"flows": {"name": {"any_": ["risk"]}}}, timeout=10
        ).json()
        out = []
        for _ in range(cycles):
            run_id = httpx.post(
                f"{api}/deployments/{pipeline['id']}/create_flow_run", json={}, timeout=10
            ).json()["id"]
            while True:
                run = httpx.get(f"{api}/flow_runs/{run_id}", timeout=10).json()
                if run["state"]["type"] in ("COMPLETED", "FAILED", "CRASHED", "CANCELLED"):
                    break
                time.sleep(0.2)
            if run["state"]["type"] != "COMPLETED":
                raise SystemExit(f"served pipeline run ended {run['state']}")
            [risk_run] = httpx.post(
                f"{api}/flow_runs/filter",
                json={"flow_runs": {"parent_flow_run_id": {"any_": [run_id]}},
                      "flows": {"id": {"any_": [risk["id"]]}}},
                timeout=10,
            ).json()  # fmt: skip
            out.append(
                {
                    "to_risk_written_s": (
                        at(risk_run["end_time"]) - at(run["start_time"])
                    ).total_seconds(),
                    "pickup_s": (at(run["start_time"]) - at(run["created"])).total_seconds(),
                }
            )
        return {"runner": settings.pipeline_runner, "cycles": out}
    finally:
        down(settings)


def full_run() -> dict:
    """(child) One pipeline cycle on an empty warehouse, 10 synthetic symbols × 1 year of 1m."""
    from flows.pipeline import pipeline_flow

    t0 = time.perf_counter()
    result = pipeline_flow()
    return {
        "wall_in_flow_s": time.perf_counter() - t0,
        "rows_ingested": sum(r["inserted"] for r in result["ingested"]),
        "raw_gate": result["raw_gate"],
    }


def main() -> None:
    py = sys.executable
    me = "benchmarks.bench_pipeline"
    WORK.mkdir(parents=True, exist_ok=True)

    # 1. one cycle on the demo's state
    base = WORK / "demo"
    shutil.rmtree(base, ignore_errors=True)
    demo_s, _, _ = _run([py, "-m", "flows.demo"], _env(base))
    copies = {}
    for name in ("prefect", "library"):
        copies[name] = WORK / f"cycle-{name}"
        shutil.rmtree(copies[name], ignore_errors=True)
        shutil.copytree(base, copies[name])
    # a copy lives at a new path, so its first dbt run re-parses the project in full: one
    # untimed library cycle per copy settles that (and releases a bar), as on a live system
    for copy in copies.values():
        _run([py, "-m", me, "--cycle-library"], _env(copy))
    _, _, out = _run([py, "-m", me, "--cycle-prefect"], _env(copies["prefect"]))
    with_prefect = json.loads(out.strip().splitlines()[-1])
    _, _, out = _run([py, "-m", me, "--cycle-library"], _env(copies["library"]))
    library = json.loads(out.strip().splitlines()[-1])
    overhead = {
        k: with_prefect[k]["to_risk_written_s"] - library[k]["total_s"] for k in ("cold", "warm")
    }
    served = {}
    for runner in ("warm", "prefect"):  # Prefect's own runner is the reference
        copy = WORK / f"cycle-served-{runner}"
        shutil.rmtree(copy, ignore_errors=True)
        shutil.copytree(copies["library"], copy)
        _run([py, "-m", me, "--cycle-library"], _env(copy))  # settle dbt's parse at this path
        env = _env(copy, AAITI_PIPELINE_RUNNER=runner, AAITI_PREFECT_PORT=str(_free_port()),
                   AAITI_REPLAY_INTERVAL_S="86400")  # fmt: skip
        _, _, out = _run([py, "-m", me, "--cycle-served"], env)
        served[runner] = json.loads(out.strip().splitlines()[-1])
    steady = {
        runner: statistics.median(c["to_risk_written_s"] for c in result["cycles"][1:])
        for runner, result in served.items()
    }

    # 2. the full pipeline at size
    origin = (datetime.now(UTC) - timedelta(days=365)).replace(second=0, microsecond=0)
    full_dir = WORK / "full"
    shutil.rmtree(full_dir, ignore_errors=True)
    full_env = _env(
        full_dir,
        AAITI_SOURCE="synthetic",
        AAITI_SYMBOLS=",".join(SYMBOLS),
        AAITI_TIMEFRAME="1m",
        AAITI_SYNTHETIC_ORIGIN=origin.isoformat(),
        AAITI_BACKFILL_SINCE=origin.isoformat(),
    )
    full_s, full_rss, out = _run([py, "-m", me, "--full"], full_env)
    full = json.loads(out.strip().splitlines()[-1])

    path = write_result(
        "pipeline",
        {
            "demo_setup_s": demo_s,
            "cycle": {
                "streams": 2,
                "with_prefect": with_prefect,
                "library_only": library,
                "orchestration_overhead_s": overhead,
                "orchestration_share": {
                    k: overhead[k] / with_prefect[k]["to_risk_written_s"] for k in overhead
                },
                "served": served,
                "served_steady_s": steady,
                "served_warm_vs_prefect_runner": steady["warm"] / steady["prefect"],
                "target_s": 10,
            },
            "full": {
                "symbols": len(SYMBOLS),
                "timeframe": "1m",
                "rows_ingested": full["rows_ingested"],
                "process_wall_s": full_s,
                "wall_in_flow_s": full["wall_in_flow_s"],
                "peak_tree_rss_mb": full_rss,
                "target_wall_s": 600,
                "target_rss_mb": 4096,
                "data_dir": str(full_dir),
            },
        },
    )
    print(path.read_text())


if __name__ == "__main__":
    if sys.argv[1:] == ["--cycle-prefect"]:
        print(json.dumps(cycle_with_prefect()))
    elif sys.argv[1:] == ["--cycle-library"]:
        print(json.dumps(cycle_library_only()))
    elif sys.argv[1:] == ["--cycle-served"]:
        print(json.dumps(cycle_served()))
    elif sys.argv[1:] == ["--full"]:
        print(json.dumps(full_run()))
    else:
        main()
