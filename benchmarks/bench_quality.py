"""Validating 5.26M raw rows: GX suites vs plain pandas evaluating the same rules (issue 4).

Both read the same synthetic 10 × 525,600 1m candles from DuckDB stream by stream and add
the same derived columns (aaiti.quality.checks.raw_batch); then GX runs the raw_ohlcv suite
(result format COMPLETE, naming offending rows, Data Docs off) while the reference
evaluates the same rules as numpy masks. Reported: seconds per million rows and the ratio.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from benchmarks.bench_ingest import BARS, START, SYMBOLS, _params
from benchmarks.common import peak_rss_mb, write_result


def pandas_rules(b, p) -> dict[str, int]:
    """The raw suite's rules, evaluated directly; failures per rule."""
    fails = {}
    for col in ("exchange", "symbol", "timeframe", "ts", "open", "high", "low", "close", "volume"):
        fails[f"not_null:{col}"] = int(b[col].isna().sum())
    for col in ("open", "high", "low", "close"):
        fails[f"positive:{col}"] = int((b[col] <= 0).sum())
    fails["high>=max(o,c)"] = int((b["high"] < b["max_open_close"]).sum())
    fails["low<=min(o,c)"] = int((b["low"] > b["min_open_close"]).sum())
    fails["volume>=0"] = int((b["volume"] < 0).sum())
    fails["symbol"] = int((~b["symbol"].isin(p["symbols"])).sum())
    fails["ts order"] = int((b["ts_step_s"] < 1).sum())
    fails["aligned"] = int((b["ts_offset_s"] != 0).sum())
    fails["future"] = int((b["seconds_in_future"] > 0).sum())
    fails["return"] = int((b["move_from_accepted"] > p["max_abs_log_return"]).sum())
    fails["level shift"] = int((b["level_shift"] > 0).sum())
    fails["unconfirmed jump"] = int((b["unconfirmed_jump"] > 0).sum())
    fails["spike"] = int((b["spike"] > p["max_spike"]).sum())
    fails["wick"] = int((b["wick_beyond"] > p["max_abs_log_return"]).sum())
    fails["stale"] = int((b["stale_run"] > p["max_stale_run"]).sum())
    fails["frozen"] = int((b["frozen_run"] > p["max_stale_run"]).sum())
    fails["zero volume"] = int((b["zero_volume_run"] > p["max_zero_volume_run"]).sum())
    fails["gap"] = int((b["gap_hours_before"] > p["max_gap_hours"]).sum())
    fails["volume"] = int((b["volume_z"] > p["max_volume_z"]).sum())
    fails["volume shift"] = int((b["volume_shift"] > 0).sum())
    fails["volume pending"] = int((b["volume_unconfirmed"] > 0).sum())
    fails["timeframe"] = int((b["timeframe_mismatch"] > p["max_timeframe_mismatch"]).sum())
    fails["timeframe warning"] = int((b["timeframe_mismatch"] > 1e-9).sum())
    return fails


def main() -> dict:
    from aaiti.config import load_settings
    from aaiti.market import Stream
    from aaiti.market.store import upsert_candles
    from aaiti.market.synthetic import generate
    from aaiti.quality import RAW, raw_parameters, run_gates, validator_for
    from aaiti.quality.checks import raw_batch
    from aaiti.quality.verdicts import volume_rule
    from aaiti.warehouse import Warehouse
    from aaiti.warehouse.sql import load_sql

    folder = Path(tempfile.mkdtemp(prefix="aaiti-bench-quality-"))
    try:
        settings = load_settings(data_dir=folder / "data")
        wh = Warehouse.from_settings(settings)
        with wh.writer() as con:
            upsert_candles(
                con,
                generate(_params(), symbols=SYMBOLS, start=START, bars=BARS, seed=7),
                batch_id="bench",
            )
        validator = validator_for(settings, docs=False)
        now = datetime.now(UTC)
        streams = [Stream("synthetic", s, "1m") for s in SYMBOLS]
        validator.validate(
            "raw_ohlcv",
            raw_batch(_read(wh, streams[0], load_sql).head(1000), timeframe="1m", now=now),
            parameters=raw_parameters(settings.quality, streams[0]),
            batch_label="warm-up",
        )

        timings = {"read_s": 0.0, "derive_s": 0.0, "gx_s": 0.0, "pandas_rules_s": 0.0}
        failures_gx = failures_pd = 0
        for stream in streams:
            t0 = time.perf_counter()
            frame = _read(wh, stream, load_sql)
            if stream is streams[0]:  # a few bad prints, so both must find the same failures
                bad = frame.index[[1000, 50_000, 300_000]]
                frame.loc[bad, "close"] *= 10
                frame.loc[bad, "high"] = frame.loc[bad, ["high", "close"]].max(axis=1)
            t1 = time.perf_counter()
            params = raw_parameters(settings.quality, stream)
            batch = raw_batch(
                frame,
                timeframe="1m",
                now=now,
                max_move=params["max_abs_log_return"],
                volume_rule=volume_rule(settings.quality),
            )
            t2 = time.perf_counter()
            outcome = validator.validate(
                "raw_ohlcv", batch, parameters=params, batch_label=str(stream)
            )
            t3 = time.perf_counter()
            fails = pandas_rules(batch, params)
            t4 = time.perf_counter()
            timings["read_s"] += t1 - t0
            timings["derive_s"] += t2 - t1
            timings["gx_s"] += t3 - t2
            timings["pandas_rules_s"] += t4 - t3
            failures_gx += sum(o.unexpected_count or 0 for o in outcome.outcomes if not o.success)
            failures_pd += sum(fails.values())
        # the gate itself, as a cycle runs it with nothing to go on: every history read,
        # derived, validated and its verdicts written (the bad prints above are not in the
        # warehouse, so it quarantines nothing)
        t0 = time.perf_counter()
        results = run_gates(
            wh, settings.quality, streams, checkpoint=RAW, validator=validator, full=True
        )
        timings["run_gates_full_s"] = time.perf_counter() - t0
        assert all(r.passed for r in results)
    finally:
        shutil.rmtree(folder, ignore_errors=True)

    rows = BARS * len(SYMBOLS)
    per_m = lambda s: s / rows * 1e6  # noqa: E731
    gate = timings["read_s"] + timings["derive_s"] + timings["gx_s"]
    reference = timings["read_s"] + timings["derive_s"] + timings["pandas_rules_s"]
    result = {
        "rows": rows,
        "reference": "plain pandas/numpy masks evaluating the same rules on the same derived batch",
        **timings,
        "gate_s_per_million_rows": per_m(gate),
        "run_gates_full_s_per_million_rows": per_m(timings["run_gates_full_s"]),
        "pandas_s_per_million_rows": per_m(reference),
        "gx_only_s_per_million_rows": per_m(timings["gx_s"]),
        "pandas_rules_only_s_per_million_rows": per_m(timings["pandas_rules_s"]),
        "gate_vs_pandas": gate / reference,
        "gx_vs_pandas_rules_only": timings["gx_s"] / timings["pandas_rules_s"],
        "same_failures_found": failures_gx == failures_pd,
        "failures": {"gx": failures_gx, "pandas": failures_pd},
        "peak_rss_mb": peak_rss_mb(),
    }
    print(f"wrote {write_result('quality', result)}")
    return result


def _read(wh, stream, load_sql):
    with wh.writer() as con:
        return (
            con.sql(
                load_sql("aaiti.quality", "stream_candles"),
                params=[stream.exchange, stream.symbol, stream.timeframe],
            )
            .to_arrow_table()
            .to_pandas()
        )


if __name__ == "__main__":
    import json

    print(json.dumps(main(), indent=2, default=str))
