"""Run every benchmark, each in its own process (so its peak RSS is its own: run after
another in one interpreter, the ingest benchmark reported 8.7 GB); each writes
``benchmarks/results/<name>.json``."""

from __future__ import annotations

import subprocess
import sys

BENCHMARKS = [
    "bench_ingest",
    "bench_transform",
    "bench_quality",
    "bench_quality_incremental",
    "bench_quality_dask",
    "bench_ml",
    "bench_trading",
    "bench_strategy",
    "bench_monitoring",
    "bench_prefect",
    "bench_pipeline",
    "bench_dashboards",
    "bench_stack",
    "bench_universe",
    "bench_full_build",
]


def main(names: list[str]) -> None:
    failed = []
    for name in names or BENCHMARKS:
        print(f"== {name}", flush=True)
        if subprocess.run([sys.executable, "-m", f"benchmarks.{name}"], check=False).returncode:
            failed.append(name)
    if failed:
        raise SystemExit(f"benchmarks failed: {', '.join(failed)}")


if __name__ == "__main__":
    main(sys.argv[1:])
