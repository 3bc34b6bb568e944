"""Store upsert vs DuckDB's bare MERGE INTO and INSERT … SELECT (issue 2 targets).

Synthetic 10 symbols × 1 year of 1m candles (5.26M rows). Each variant loads the same Arrow
table into a fresh file warehouse. Targets: store full upsert ≥ 0.5× the speed of bare
MERGE INTO; one-bar incremental upsert for 10 symbols < 50 ms; peak RSS < 2 GB (measured
in a child process that only generates and upserts).
"""

from __future__ import annotations

import multiprocessing as mp
import shutil
import tempfile
from datetime import UTC, datetime
from pathlib import Path

from benchmarks.common import peak_rss_mb, timed, write_result

SYMBOLS = [f"SYN{i}/USD" for i in range(10)]
BARS = 525_600
START = datetime(2025, 1, 1, tzinfo=UTC)


def _params():
    from aaiti.market.synthetic import GarchT

    # fixed parameters (close to the calibration on the sample) so the bench needs no fit
    return GarchT(mu=2.7e-4, omega=2.9e-6, alpha=0.1, beta=0.89, nu=3.3, timeframe="4h").rescaled(
        "1m"
    )


def _table():
    from aaiti.market.synthetic import generate

    return generate(_params(), symbols=SYMBOLS, start=START, bars=BARS, seed=7)


def _fresh(folder: Path):
    from aaiti.warehouse import Warehouse

    shutil.rmtree(folder, ignore_errors=True)
    wh = Warehouse(folder / "w.duckdb", folder / "s.duckdb")
    wh.migrate()
    return wh


BARE_MERGE = """
MERGE INTO raw.ohlcv AS t USING incoming AS i
  ON t.exchange = i.exchange AND t.symbol = i.symbol AND t.timeframe = i.timeframe AND t.ts = i.ts
WHEN MATCHED THEN UPDATE SET open = i.open, high = i.high, low = i.low, close = i.close,
  volume = i.volume, ingest_batch_id = 'bench', ingested_at = now()
WHEN NOT MATCHED THEN INSERT VALUES (i.exchange, i.symbol, i.timeframe, i.ts, i.open, i.high,
  i.low, i.close, i.volume, 'bench', now())
"""
BARE_INSERT = """
INSERT INTO raw.ohlcv SELECT exchange, symbol, timeframe, ts, open, high, low, close, volume,
  'bench', now() FROM incoming
"""


def _bare(wh, table, sql):
    with wh.writer() as con:
        con.register("incoming", table)
        con.execute(sql).fetchall()
        con.unregister("incoming")


def _store(wh, table):
    from aaiti.market.store import upsert_candles

    with wh.writer() as con:
        return upsert_candles(con, table, batch_id="bench")


def _child(queue):
    """Generate and upsert in a fresh process: its peak RSS is the store path's."""
    folder = Path(tempfile.mkdtemp(prefix="aaiti-bench-rss-"))
    try:
        table = _table()
        _store(_fresh(folder), table)
        queue.put(peak_rss_mb())
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def main() -> dict:
    import pyarrow as pa

    table = _table()
    rows = table.num_rows
    folder = Path(tempfile.mkdtemp(prefix="aaiti-bench-"))
    holder = {}

    def fresh():
        holder["wh"] = _fresh(folder)

    try:
        insert = timed(lambda: _bare(holder["wh"], table, BARE_INSERT), setup=fresh)
        merge_empty = timed(lambda: _bare(holder["wh"], table, BARE_MERGE), setup=fresh)
        store_empty = timed(lambda: _store(holder["wh"], table), setup=fresh)

        # all keys already stored, values identical
        fresh()
        _store(holder["wh"], table)
        merge_full = timed(lambda: _bare(holder["wh"], table, BARE_MERGE))
        store_full = timed(lambda: _store(holder["wh"], table))

        # one new bar for each of the 10 symbols
        from aaiti.market.synthetic import generate

        longer = generate(_params(), symbols=SYMBOLS, start=START, bars=BARS + 3, seed=7)
        import pyarrow.compute as pc

        new_bars = [
            longer.filter(
                pc.equal(longer["ts"], pa.scalar(longer["ts"][BARS + k].as_py(), longer["ts"].type))
            )
            for k in range(3)
        ]
        it = iter(new_bars)
        incremental = timed(lambda: _store(holder["wh"], next(it)), repeat=3)
        assert all(t.num_rows == 10 for t in new_bars)
    finally:
        shutil.rmtree(folder, ignore_errors=True)

    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    child = ctx.Process(target=_child, args=(queue,))
    child.start()
    rss = queue.get(timeout=600)
    child.join()

    result = {
        "rows": rows,
        "reference": "DuckDB MERGE INTO of the same Arrow table into the same schema (same run)",
        "into_empty_table": {
            "bare_insert_select": insert,
            "bare_merge_into": merge_empty,
            "store_upsert": store_empty,
            "store_speed_vs_bare_merge": merge_empty["median_s"] / store_empty["median_s"],
            "store_rows_per_s": rows / store_empty["median_s"],
        },
        "all_keys_already_stored": {
            "bare_merge_into": merge_full,
            "store_upsert": store_full,
            "store_speed_vs_bare_merge": merge_full["median_s"] / store_full["median_s"],
        },
        "incremental_one_bar_10_symbols": incremental,
        "peak_rss_mb_store_process": rss,
        "targets": {
            "store_speed_vs_bare_merge >= 0.5": min(
                merge_empty["median_s"] / store_empty["median_s"],
                merge_full["median_s"] / store_full["median_s"],
            )
            >= 0.5,
            "incremental < 50 ms": incremental["median_s"] < 0.050,
            "peak RSS < 2 GB": rss < 2048,
        },
    }
    path = write_result("ingest", result)
    print(f"wrote {path}")
    return result


if __name__ == "__main__":
    import json

    print(json.dumps(main(), indent=2, default=str))
