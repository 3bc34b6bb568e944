"""The full build of a wide universe (issue 16's target: 500 synthetic 1m streams × 30 days,
21.6M rows, in under 30 min and under 8 GB peak RSS), then predict for one new bar on
every stream (target: under 2 s).

Each size runs in its own process (``--streams N``), so its peak RSS is its own. The child
runs the stages as library calls in the pipeline's order on an empty warehouse:

- ``store``: the history upserted into ``raw.ohlcv``, a transaction per chunk of streams
  (ingest writes per stream; what an exchange costs to ask is the ingest benchmark's);
- ``validate_raw``, ``transform`` (dbt, full refresh), ``validate_features``, ``publish``;
- ``train``: the pooled model on each stream's newest ``AAITI_MODEL_TRAIN_BARS`` (the
  setting that caps training's window; 1 day here), walk-forward and the strategy judged;
- ``predict``: one new bar stored and transformed on every stream, then ``predict_new``
  alone timed (it scores only the rows after the model's data).

The reference is the same build on 50 streams (1/10 of the rows), in the same run:
a ratio near 10 says the build follows the rows (``benchmarks/results/full_build.json``).
"""

from __future__ import annotations

import shutil
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from benchmarks.common import each_size, peak_rss_mb, sizes_cli, synthetic_settings, write_result

SIZES = (50, 500)
BARS = 30 * 1440
CHUNK = 25  # streams generated and stored per transaction
TRAIN_BARS = 1440
START = datetime(2026, 1, 1, tzinfo=UTC)
KEEP = bool(__import__("os").environ.get("BENCH_KEEP"))  # leave the folder for a look


def child(n: int) -> dict:
    """One universe size: the full build, stage by stage, then one new bar predicted."""
    from aaiti.market.store import upsert_candles
    from aaiti.market.synthetic import generate
    from aaiti.ml import predict_new
    from aaiti.quality import FEATURES, RAW, run_gates, validator_for
    from aaiti.strategy.training import train_and_register
    from aaiti.transform import build
    from aaiti.universe import universe_streams
    from aaiti.warehouse import Warehouse
    from benchmarks.bench_ingest import _params
    from flows.validate import universe_feature_streams

    folder = Path(tempfile.mkdtemp(prefix=f"aaiti-bench-full-{n}-"))
    stages: dict[str, float] = {}

    def timed(name: str, fn, *args, **kwargs):  # type: ignore[no-untyped-def]
        t = time.perf_counter()
        out = fn(*args, **kwargs)
        stages[name] = time.perf_counter() - t
        print(f"  {n}: {name} {stages[name]:.1f} s, peak {peak_rss_mb():.0f} MB", file=sys.stderr)
        return out

    try:
        symbols = [f"U{i:03d}/USD" for i in range(n)]
        settings = synthetic_settings(folder, symbols, model_train_bars=TRAIN_BARS)
        wh = Warehouse.from_settings(settings)
        wh.migrate()
        validator = validator_for(settings, docs=False)

        def store(bars: int, at: datetime, label: str) -> None:
            for i in range(0, n, CHUNK):
                part = symbols[i : i + CHUNK]
                table = generate(_params(), symbols=part, start=at, bars=bars, seed=11)
                with wh.writer() as con:
                    upsert_candles(con, table, batch_id=f"{label}-{i}")

        def gates(checkpoint: str, streams: list) -> None:
            run_gates(wh, settings.quality, streams, checkpoint=checkpoint, validator=validator)

        t0 = time.perf_counter()
        timed("store", store, BARS, START, "history")
        timed("validate_raw", gates, RAW, universe_streams(settings))
        timed("transform", build, settings, full_refresh=True)
        timed("validate_features", gates, FEATURES, universe_feature_streams(settings))
        timed("publish", wh.publish_snapshot)
        report = timed("train", train_and_register, settings, timeframe="1m")
        build_s = time.perf_counter() - t0
        build_peak = peak_rss_mb()

        store(1, START + timedelta(minutes=BARS), "new")  # a bar the model has not seen
        build(settings)
        predicted = timed("predict", predict_new, settings, timeframe="1m")
    finally:
        if not KEEP:
            shutil.rmtree(folder, ignore_errors=True)
    return {
        "streams": n,
        "rows": n * BARS,
        "train_rows": report.rows,
        "build_s": build_s,
        "stages_s": stages,
        "predict_new_bar_s": stages["predict"],
        "new_bars_predicted": predicted.written,
        "build_peak_rss_mb": build_peak,
        "peak_rss_mb": peak_rss_mb(),
    }


def main(sizes: tuple[int, ...] = SIZES) -> dict:
    runs = each_size(
        "benchmarks.bench_full_build", sizes, say=lambda r: f"build {r['build_s']:.0f} s"
    )
    ref = min(runs)
    payload = {
        "reference": f"the same build on {ref} streams, same run",
        "sizes": runs,
        "build_ratio_to_reference": {
            n: r["build_s"] / runs[ref]["build_s"] for n, r in runs.items()
        },
        "rows_ratio_to_reference": {n: r["rows"] / runs[ref]["rows"] for n, r in runs.items()},
        "targets": {"build(500)": "< 30 min, < 8 GB peak RSS", "predict(500)": "< 2 s"},
    }
    write_result("full_build", payload)
    return payload


if __name__ == "__main__":
    sizes_cli(child, main, SIZES)
