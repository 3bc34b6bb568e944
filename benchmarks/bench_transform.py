"""dbt build vs a one-process pandas reference computing the same features (issue 3).

Data: synthetic 10 symbols × 1 year of 1m candles (5.26M rows) in raw.ohlcv; features on
1m and on 1h resampled from it. Reference: pandas reads the same raw table from DuckDB,
resamples to 1h, computes the same features (rolling windows, ewm recursions) per symbol
and writes them back to a DuckDB table, in one process. Targets: full build within 3× of
the reference; an incremental run for one new bar on 10 symbols under 3 s wall, in-process.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd

from benchmarks.bench_ingest import BARS, START, SYMBOLS, _params
from benchmarks.common import peak_rss_mb, write_result

VARS = {"resample_timeframes": ["1h"]}


def pandas_features(frame: pd.DataFrame) -> pd.DataFrame:
    """The feature set in idiomatic pandas (rolling + ewm), one stream."""
    c, h, lo, v = frame["close"], frame["high"], frame["low"], frame["volume"]
    out = pd.DataFrame({"ts": frame["ts"]})
    for k in (1, 4, 24):
        out[f"ret_{k}"] = c.pct_change(k)
    lr = np.log(c / c.shift(1))
    out["log_ret_1"] = lr
    out["realized_vol_20"] = lr.rolling(20).std()
    d = c.diff()
    up = d.clip(lower=0).ewm(alpha=1 / 14, adjust=False, min_periods=14).mean()
    dn = (-d).clip(lower=0).ewm(alpha=1 / 14, adjust=False, min_periods=14).mean()
    out["rsi_14"] = 100 - 100 / (1 + up / dn)
    macd = (
        c.ewm(span=12, adjust=False, min_periods=12).mean()
        - c.ewm(span=26, adjust=False, min_periods=26).mean()
    )
    sig = macd.ewm(span=9, adjust=False, min_periods=9).mean()
    out["macd"], out["macd_signal"], out["macd_hist"] = macd, sig, macd - sig
    mid, sd = c.rolling(20).mean(), c.rolling(20).std(ddof=0)
    out["bb_pct_b"] = (c - (mid - 2 * sd)) / (4 * sd)
    out["bb_bandwidth"] = 4 * sd / mid
    tr = pd.concat([h - lo, (h - c.shift()).abs(), (lo - c.shift()).abs()], axis=1).max(axis=1)
    out["atr_14"] = tr.ewm(alpha=1 / 14, adjust=False, min_periods=14).mean()
    out["volume_z_20"] = (v - v.rolling(20).mean()) / v.rolling(20).std()
    out["dist_sma_50"] = c / c.rolling(50).mean() - 1
    out["dist_sma_200"] = c / c.rolling(200).mean() - 1
    out["hour_of_day"] = frame["ts"].dt.hour
    out["day_of_week"] = frame["ts"].dt.dayofweek + 1
    return out


def pandas_reference(warehouse_path: Path) -> tuple[float, int]:
    import duckdb

    t0 = time.perf_counter()
    con = duckdb.connect(str(warehouse_path))
    raw = con.sql("SELECT * FROM raw.ohlcv ORDER BY symbol, ts").to_arrow_table().to_pandas()
    parts = []
    for symbol, frame in raw.groupby("symbol", sort=False):
        frame = frame.reset_index(drop=True)
        f1 = pandas_features(frame)
        f1["symbol"], f1["timeframe"] = symbol, "1m"
        hourly = (
            frame.set_index("ts")
            .resample("1h")
            .agg({"open": "first", "high": "max", "low": "min", "close": "last", "volume": "sum"})
            .dropna(subset=["close"])
            .reset_index()
        )
        f2 = pandas_features(hourly)
        f2["symbol"], f2["timeframe"] = symbol, "1h"
        parts += [f1, f2]
    out = pd.concat(parts, ignore_index=True)
    con.execute("CREATE OR REPLACE TABLE pandas_features AS SELECT * FROM out")
    con.close()
    return time.perf_counter() - t0, len(out)


def main() -> dict:
    from aaiti.config import load_settings
    from aaiti.market.store import upsert_candles
    from aaiti.market.synthetic import generate
    from aaiti.transform import build
    from aaiti.warehouse import Warehouse

    folder = Path(tempfile.mkdtemp(prefix="aaiti-bench-transform-"))
    try:
        settings = load_settings(data_dir=folder / "data", dbt_target="ci")
        wh = Warehouse.from_settings(settings)
        table = generate(_params(), symbols=SYMBOLS, start=START, bars=BARS + 1, seed=7)
        import pyarrow.compute as pc

        last_ts = table["ts"][BARS].as_py()
        history = table.filter(pc.less(table["ts"], pc.cast(pa_scalar(last_ts), table["ts"].type)))
        new_bar = table.filter(pc.equal(table["ts"], pc.cast(pa_scalar(last_ts), table["ts"].type)))
        with wh.writer() as con:
            upsert_candles(con, history, batch_id="bench")

        ref_s, ref_rows = pandas_reference(wh.path)

        t0 = time.perf_counter()
        report = build(settings, dbt_vars=VARS, run_tests=False)
        full_run_s = time.perf_counter() - t0
        assert report.success, report.failures
        rows = {n.name: n.rows for n in report.models}

        t0 = time.perf_counter()
        tested = build(settings, dbt_vars=VARS, run_tests=True, select="test_type:data")
        tests_s = time.perf_counter() - t0

        with wh.writer() as con:
            upsert_candles(con, new_bar, batch_id="bench-new-bar")
        t0 = time.perf_counter()
        inc = build(settings, dbt_vars=VARS, run_tests=False)
        incremental_s = time.perf_counter() - t0
        assert inc.success
        inc_models = {n.name: round(n.execution_time_s, 3) for n in inc.models}
    finally:
        shutil.rmtree(folder, ignore_errors=True)

    result = {
        "rows_raw": BARS * len(SYMBOLS),
        "reference": "pandas (rolling/ewm) in one process: read raw from DuckDB, resample 1m→1h, features, write back",
        "pandas_reference_s": ref_s,
        "pandas_reference_rows": ref_rows,
        "dbt_full_run_s": full_run_s,
        "dbt_full_run_vs_pandas": full_run_s / ref_s,
        "dbt_data_tests_s": tests_s,
        "dbt_tests_passed": tested.success,
        "feature_rows": rows.get("fct_features"),
        "incremental_one_bar_10_symbols_s": incremental_s,
        "incremental_per_model_s": inc_models,
        "peak_rss_mb": peak_rss_mb(),
        "targets": {
            "full run within 3x of pandas": full_run_s / ref_s <= 3.0,
            "incremental < 3 s": incremental_s < 3.0,
        },
    }
    print(f"wrote {write_result('transform', result)}")
    return result


def pa_scalar(value: datetime):
    import pyarrow as pa

    return pa.scalar(value.astimezone(UTC) if value.tzinfo else value, pa.timestamp("us", tz="UTC"))


if __name__ == "__main__":
    import json

    print(json.dumps(main(), indent=2, default=str))
