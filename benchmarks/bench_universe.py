"""The per-bar cycle as the universe grows: 2, 20, 100 and 500 synthetic 1m streams with
7 days of history each, then new bars, each stage timed (issue 16's targets:
cycle(100) / cycle(2) ≤ 3, cycle(500) under 60 s on this 2-core machine).

Each universe size runs in its own process (``--streams N``), so its peak RSS is its own.
The child builds the state once — history stored, both gates, the full dbt build, a champion
trained on each stream's last day (the full-build target is another benchmark), the history
scored — then times ``NEW_BARS`` cycles of one new bar on every stream, stage by stage, as
library calls in the pipeline's order:

- ``store``: the new bars upserted into ``raw.ohlcv`` (ingest's write; what an exchange
  costs to ask is the ingest benchmark's, and a loopback exchange's speed says nothing);
- ``validate_raw``, ``transform`` (dbt, incremental), ``validate_features``;
- ``predict``, ``trade`` (the paper cycle over the new bars), ``risk``;
- ``publish``: the serving snapshot, once per cycle.

The reference is the same cycle on 2 streams, in the same run. Reported per size: the
median cycle, each stage's median, the build's seconds and the peak RSS
(``benchmarks/results/universe.json``).
"""

from __future__ import annotations

import shutil
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from benchmarks.common import each_size, peak_rss_mb, sizes_cli, synthetic_settings, write_result

SIZES = (2, 20, 100, 500)
BARS = 7 * 1440
NEW_BARS = 3
START = datetime(2026, 1, 1, tzinfo=UTC)
TRAIN_BARS = 1440  # the champion learns each stream's last day of history
KEEP = bool(__import__("os").environ.get("BENCH_KEEP"))  # leave the folder for a look


def child(n: int) -> dict:
    """One universe size: build, then ``NEW_BARS`` timed cycles."""
    from aaiti.market.store import upsert_candles
    from aaiti.market.synthetic import generate
    from aaiti.ml import predict_new
    from aaiti.ml.features import load_features
    from aaiti.quality import FEATURES, RAW, run_gates, validator_for
    from aaiti.risk.job import compute_risk
    from aaiti.strategy.training import train_and_register
    from aaiti.trading.cycle import trading_cycle
    from aaiti.transform import build
    from aaiti.universe import universe_streams
    from aaiti.warehouse import Warehouse
    from benchmarks.bench_ingest import _params
    from flows.validate import universe_feature_streams

    folder = Path(tempfile.mkdtemp(prefix=f"aaiti-bench-universe-{n}-"))
    try:
        symbols = [f"U{i:03d}/USD" for i in range(n)]
        settings = synthetic_settings(folder, symbols)
        wh = Warehouse.from_settings(settings)
        wh.migrate()
        table = generate(
            _params(), symbols=symbols, start=START, bars=BARS + NEW_BARS, seed=11
        ).to_pandas()
        cut = START + timedelta(minutes=BARS)
        validator = validator_for(settings, docs=False)

        def gates(checkpoint: str, streams: list) -> None:
            run_gates(wh, settings.quality, streams, checkpoint=checkpoint, validator=validator)

        t0 = time.perf_counter()
        with wh.writer() as con:
            upsert_candles(con, table[table["ts"] < cut], batch_id="history")
        gates(RAW, universe_streams(settings))
        build(settings, full_refresh=True)
        gates(FEATURES, universe_feature_streams(settings))
        wh.publish_snapshot()
        features = load_features(wh, timeframe="1m", symbols=symbols)
        recent = features.groupby("symbol", group_keys=False).tail(TRAIN_BARS)
        train_and_register(settings, timeframe="1m", features=recent)
        predict_new(settings)
        trading_cycle(settings)
        compute_risk(settings)
        build_s = time.perf_counter() - t0

        def one_cycle(bar, label: str) -> dict[str, float]:  # type: ignore[no-untyped-def]
            stages: dict[str, float] = {}

            def timed(name: str, fn, *args) -> None:  # type: ignore[no-untyped-def]
                t = time.perf_counter()
                fn(*args)
                stages[name] = time.perf_counter() - t

            def store() -> None:
                with wh.writer() as con:
                    upsert_candles(con, bar, batch_id=label)

            timed("store", store)
            timed("validate_raw", gates, RAW, universe_streams(settings))
            timed("transform", build, settings)
            timed("validate_features", gates, FEATURES, universe_feature_streams(settings))
            timed("predict", predict_new, settings)
            timed("trade", trading_cycle, settings)
            timed("risk", compute_risk, settings)
            timed("publish", wh.publish_snapshot)
            return stages

        cycles = [
            one_cycle(table[table["ts"] == cut + timedelta(minutes=k)], f"bar{k}")
            for k in range(NEW_BARS)
        ]
        with wh.writer() as con:
            predicted = con.sql(
                "SELECT count(*) FROM ml.predictions WHERE ts >= ?", params=[cut]
            ).fetchall()[0][0]
    finally:
        if not KEEP:
            shutil.rmtree(folder, ignore_errors=True)
    totals = [sum(c.values()) for c in cycles]
    return {
        "streams": n,
        "history_rows": n * BARS,
        "build_s": build_s,
        "cycle_s": statistics.median(totals),
        "cycles_s": totals,
        "stages_s": {s: statistics.median(c[s] for c in cycles) for s in cycles[0]},
        "new_bars_predicted": predicted,
        "peak_rss_mb": peak_rss_mb(),
    }


def main(sizes: tuple[int, ...] = SIZES) -> dict:
    runs = each_size(
        "benchmarks.bench_universe", sizes, say=lambda r: f"cycle {r['cycle_s']:.2f} s"
    )
    ref = runs[min(runs)]["cycle_s"]
    payload = {
        "reference": f"the same cycle on {min(runs)} streams, same run",
        "sizes": runs,
        "ratio_to_reference": {n: r["cycle_s"] / ref for n, r in runs.items()},
        "targets": {"cycle(100)/cycle(2)": "<= 3", "cycle(500)": "< 60 s"},
    }
    write_result("universe", payload)
    return payload


if __name__ == "__main__":
    sizes_cli(child, main, SIZES)
