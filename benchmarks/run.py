"""Run every benchmark; each writes benchmarks/results/<name>.json."""

from __future__ import annotations

import importlib
import sys

BENCHMARKS = [
    "bench_ingest",
    "bench_transform",
    "bench_quality",
    "bench_quality_incremental",
    "bench_ml",
    "bench_trading",
    "bench_strategy",
    "bench_monitoring",
    "bench_prefect",
    "bench_pipeline",
    "bench_dashboards",
    "bench_stack",
    "bench_universe",
]


def main(names: list[str]) -> None:
    for name in names or BENCHMARKS:
        print(f"== {name}", flush=True)
        importlib.import_module(f"benchmarks.{name}").main()


if __name__ == "__main__":
    main(sys.argv[1:])
