"""Helpers shared by the benchmarks: timing, peak memory, JSON results."""

from __future__ import annotations

import json
import platform
import resource
import statistics
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"


def timed(
    fn: Callable[[], object], *, repeat: int = 3, setup: Callable[[], object] | None = None
) -> dict:
    """Median and all wall times of ``fn`` over ``repeat`` runs (``setup`` untimed before each)."""
    times = []
    for _ in range(repeat):
        if setup:
            setup()
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return {"median_s": statistics.median(times), "runs_s": times}


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def write_result(name: str, payload: dict) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    payload = {
        "benchmark": name,
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"python": platform.python_version(), "cpus": __import__("os").cpu_count()},
        **payload,
    }
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps(payload, indent=2, default=str))
    return path


def each_size(module: str, sizes: tuple[int, ...], *, say: Callable[[dict], str]) -> dict:
    """``python -m <module> --streams N`` for each size, each in its own process so its
    peak RSS is its own; the JSON line each prints, by size."""
    import subprocess
    import sys

    runs = {}
    for n in sizes:
        done = subprocess.run(
            [sys.executable, "-m", module, "--streams", str(n)],
            stdout=subprocess.PIPE, text=True, check=False,
        )  # fmt: skip  # stderr (progress) goes straight through
        if done.returncode:
            raise SystemExit(f"{module}: {n} streams failed (exit {done.returncode})")
        runs[n] = json.loads(done.stdout.strip().splitlines()[-1])
        print(f"{n} streams: {say(runs[n])}", flush=True)
    return runs


def sizes_cli(
    child: Callable[[int], dict], main: Callable[[tuple[int, ...]], dict], default: tuple[int, ...]
) -> None:
    """``--streams N``: one size, its JSON on the last line; else the sizes given (or
    ``default``), each in its own process."""
    import sys

    if len(sys.argv) == 3 and sys.argv[1] == "--streams":
        print(json.dumps(child(int(sys.argv[2]))))
    else:
        print(json.dumps(main(tuple(int(a) for a in sys.argv[1:]) or default), indent=1))


def synthetic_settings(folder: Path, symbols: list[str], **overrides: object):  # type: ignore[no-untyped-def]
    """Settings of a synthetic 1m universe under ``folder``, the tools pointed at it. The
    label is ``direction``: a 1m move rarely beats the round trip, so both classes occur."""
    from aaiti.config import apply_tool_environment, load_settings

    settings = load_settings(
        data_dir=folder / "data", source="synthetic", exchange="synthetic", symbols=symbols,
        timeframe="1m", model_fold_period="6h", model_min_train_days=0.25, model_label="direction",
        **overrides,
    )  # fmt: skip
    apply_tool_environment(settings)
    return settings
