"""One new bar on 50 streams with 7 days of 1m history each: incremental vs full validation.

All run the real gate (`aaiti.quality.run_gates`: DuckDB reads, the derived columns, the
GX suite, the verdicts written) on the same warehouse, in the same process, after GX is
warm, for the same new bars. Two references, both judging every stream's whole history:
- ``full_per_stream``: one gate run per stream, as the gate ran before it was incremental;
- ``full_batched``: ``run_gates(full=True)``, all streams in one GX batch (today's full).
Reported: median seconds over the new bars, and the ratios. Targets (issue 15):
incremental ≥ 20× faster than full and under 3 s.
"""

from __future__ import annotations

import shutil
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from benchmarks.bench_ingest import _params
from benchmarks.common import peak_rss_mb, write_result

STREAMS = 50
BARS = 7 * 1440
START = datetime(2026, 1, 1, tzinfo=UTC)
NEW_BARS = 5


def main() -> dict:
    from aaiti.config import load_settings
    from aaiti.market import Stream
    from aaiti.market.store import upsert_candles
    from aaiti.market.synthetic import generate
    from aaiti.quality import RAW, run_gates, validator_for
    from aaiti.warehouse import Warehouse

    folder = Path(tempfile.mkdtemp(prefix="aaiti-bench-qinc-"))
    try:
        settings = load_settings(data_dir=folder / "data")
        wh = Warehouse.from_settings(settings)
        symbols = [f"SYN{i:02d}/USD" for i in range(STREAMS)]
        table = generate(
            _params(), symbols=symbols, start=START, bars=BARS + NEW_BARS, seed=11
        ).to_pandas()
        history = table[table["ts"] < START + timedelta(minutes=BARS)]
        with wh.writer() as con:
            upsert_candles(con, history, batch_id="history")
        streams = [Stream("synthetic", s, "1m") for s in symbols]
        validator = validator_for(settings, docs=False)
        gate = lambda **kw: run_gates(  # noqa: E731
            wh, settings.quality, streams, checkpoint=RAW, validator=validator, **kw
        )
        t0 = time.perf_counter()
        first = gate()  # the whole history: it sets every stream's mark
        first_s = time.perf_counter() - t0
        incremental, full, per_stream, judged = [], [], [], []
        for k in range(NEW_BARS):
            bar = table[table["ts"] == START + timedelta(minutes=BARS + k)]
            with wh.writer() as con:
                upsert_candles(con, bar, batch_id=f"bar{k}")
            t0 = time.perf_counter()
            inc = gate()
            incremental.append(time.perf_counter() - t0)
            judged.append(sum(r.rows_judged for r in inc))
            t0 = time.perf_counter()
            whole = gate(full=True)
            full.append(time.perf_counter() - t0)
            assert [r.status for r in inc] == [r.status for r in whole]
            if k < 2:  # ~1 min each: two are enough for a median of the slow reference
                t0 = time.perf_counter()
                for s in streams:
                    run_gates(
                        wh, settings.quality, [s], checkpoint=RAW, validator=validator, full=True
                    )
                per_stream.append(time.perf_counter() - t0)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    inc_s, full_s = statistics.median(incremental), statistics.median(full)
    per_s = statistics.median(per_stream)
    result = {
        "streams": STREAMS,
        "history_rows": STREAMS * BARS,
        "reference": "the same gate judging every stream's whole history for the same new "
        "bar: per stream (the gate before incremental validation) and batched (full=True)",
        "first_validation_s": first_s,
        "first_modes": sorted({r.mode for r in first}),
        "incremental_s": incremental,
        "full_s": full,
        "incremental_median_s": inc_s,
        "full_median_s": full_s,
        "full_per_stream_s": per_stream,
        "full_per_stream_median_s": per_s,
        "speedup_vs_full_batched": full_s / inc_s,
        "speedup_vs_full_per_stream": per_s / inc_s,
        "rows_judged_incremental": judged,
        "target": "speedup >= 20 and incremental < 3 s",
        "met_vs_full_per_stream": per_s / inc_s >= 20 and inc_s < 3,
        "met_vs_full_batched": full_s / inc_s >= 20 and inc_s < 3,
        "peak_rss_mb": peak_rss_mb(),
    }
    print(f"wrote {write_result('quality_incremental', result)}")
    return result


if __name__ == "__main__":
    import json

    print(json.dumps(main(), indent=2, default=str))
