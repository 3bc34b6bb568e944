"""The raw gate's whole-history run on a Dask LocalCluster (2 worker processes, 1 thread
each) against the same run here, in one process (issue 16: the gates on Dask).

40 synthetic 1m streams × 6 days (345,600 rows, one batch): GX's runs go to the workers,
one per worker thread of about equal rows (``aaiti.quality.gate.balanced_runs``), and their
results come back to this data folder's GX store. Each variant runs in its own process, on its own warehouse, after
one untimed warm-up run (GX's checkpoint made, the workers' imports done). The reference
is the run here, in the same benchmark run: ``cluster_to_here`` below 1 says the spread
pays for its shipping on this machine (``benchmarks/results/quality_dask.json``).
``headroom`` says what two workers can gain here at all: one half of the rows validated
alone on the cluster, then both halves side by side (a speedup of 2 on two free cores).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from benchmarks.common import peak_rss_mb, write_result

STREAMS = 40
BARS = 6 * 1440
START = datetime(2026, 1, 1, tzinfo=UTC)


def child(where: str) -> dict:
    from aaiti.market.store import upsert_candles
    from aaiti.market.synthetic import generate
    from aaiti.quality import RAW, run_gates, validator_for
    from aaiti.universe import universe_streams
    from aaiti.warehouse import Warehouse
    from benchmarks.bench_ingest import _params
    from benchmarks.common import synthetic_settings

    folder = Path(tempfile.mkdtemp(prefix=f"aaiti-bench-qdask-{where}-"))
    cluster = None
    try:
        if where == "cluster":
            from distributed import LocalCluster

            cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                   host="127.0.0.1", dashboard_address=None)  # fmt: skip
        address = cluster.scheduler_address if cluster else None
        symbols = [f"Q{i:03d}/USD" for i in range(STREAMS)]
        settings = synthetic_settings(folder, symbols, dask_address=address)
        wh = Warehouse.from_settings(settings)
        with wh.writer() as con:
            upsert_candles(con, generate(_params(), symbols=symbols, start=START, bars=BARS,
                                         seed=3), batch_id="history")  # fmt: skip
        streams = universe_streams(settings)
        validator = validator_for(settings, docs=False)
        runs = []
        for _ in range(3):  # the first one warms up
            t = time.perf_counter()
            results = run_gates(wh, settings.quality, streams, checkpoint=RAW,
                                validator=validator, full=True)  # fmt: skip
            runs.append(time.perf_counter() - t)
        passed = sum(r.passed for r in results)
        headroom = _headroom(settings, symbols, validator) if cluster else None
    finally:
        if cluster is not None:
            cluster.close()
        shutil.rmtree(folder, ignore_errors=True)
    timed = sorted(runs[1:])
    return {"where": where, "rows": STREAMS * BARS, "runs_s": runs, "best_s": timed[0],
            "passed": passed, "headroom": headroom, "peak_rss_mb": peak_rss_mb()}  # fmt: skip


def _headroom(settings, symbols: list[str], validator) -> dict:  # type: ignore[no-untyped-def]
    """What two workers gain on this machine: one half of the rows validated alone on the
    cluster, then both halves side by side (best of two each)."""
    import pandas as pd

    from aaiti.market import Stream
    from aaiti.market.synthetic import generate
    from aaiti.quality import raw_parameters
    from aaiti.quality.checks import raw_batch
    from aaiti.quality.gx import Job
    from benchmarks.bench_ingest import _params

    table = generate(_params(), symbols=symbols, start=START, bars=BARS, seed=3).to_pandas()
    now = datetime.now(UTC)
    frames = [raw_batch(g.reset_index(drop=True), timeframe="1m", now=now)
              for _, g in table.groupby("symbol")]  # fmt: skip
    params = raw_parameters(settings.quality, Stream("synthetic", symbols[0], "1m"))
    params["symbols"] = symbols
    half = len(frames) // 2
    a, b = (Job(pd.concat(f, ignore_index=True), params, "half")
            for f in (frames[:half], frames[half:]))  # fmt: skip
    out = {}
    for name, jobs in (("one_half_alone_s", [a]), ("both_halves_side_by_side_s", [a, b])):
        times = []
        for _ in range(2):
            t = time.perf_counter()
            validator.validate_all("raw_ohlcv", jobs)
            times.append(time.perf_counter() - t)
        out[name] = min(times)
    out["parallel_speedup"] = 2 * out["one_half_alone_s"] / out["both_halves_side_by_side_s"]
    return out


def main() -> dict:
    out = {}
    for where in ("here", "cluster"):
        done = subprocess.run([sys.executable, "-m", "benchmarks.bench_quality_dask", where],
                              stdout=subprocess.PIPE, text=True, check=True)  # fmt: skip
        out[where] = json.loads(done.stdout.strip().splitlines()[-1])
        print(f"{where}: best {out[where]['best_s']:.1f} s", flush=True)
    payload = {
        "reference": "the same whole-history raw gate in one process, same run",
        "machine_note": "2 CPUs: the caller and both workers share them",
        "runs": out,
        "cluster_to_here": out["cluster"]["best_s"] / out["here"]["best_s"],
    }
    write_result("quality_dask", payload)
    return payload


if __name__ == "__main__":
    if len(sys.argv) == 2:
        print(json.dumps(child(sys.argv[1])))
    else:
        print(json.dumps(main(), indent=1))
