"""Real dbt builds on the bundled candles: models, tests, resampling, features, incremental."""

from __future__ import annotations

import shutil
import sys
import types
from datetime import UTC, datetime, timedelta

import duckdb
import numpy as np
import pandas as pd
import pytest

from aaiti.config import load_settings
from aaiti.features import compute_features
from aaiti.market import ReplayConfig, ingest_stream
from aaiti.market.sample import SampleSource
from aaiti.transform import build
from aaiti.warehouse import Warehouse
from tests.conftest import REPO, SAMPLE_DIR, sample_frame

pytestmark = pytest.mark.integration
KEY = ["exchange", "symbol", "timeframe", "ts"]


def _ingest(settings, *, start: datetime, bars_per_run: int = 1, source=None):
    wh = Warehouse.from_settings(settings)
    src = source or SampleSource(settings.sample_dir, exchange="coinbase")
    for symbol in ("BTC/USD", "ETH/USD"):
        ingest_stream(
            wh, src, src.validate_stream(symbol, "4h"), replay=ReplayConfig(start, bars_per_run)
        )
    return wh


def _table(settings, name: str, drop=()) -> pd.DataFrame:
    con = duckdb.connect(str(settings.warehouse_path), read_only=True)
    try:
        frame = con.sql(f"SELECT * FROM {name}").to_arrow_table().to_pandas()
    finally:
        con.close()
    return frame.drop(columns=list(drop)).sort_values(KEY).reset_index(drop=True)


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    settings = load_settings(
        data_dir=tmp_path_factory.mktemp("built") / "data", sample_dir=SAMPLE_DIR
    )
    _ingest(settings, start=datetime(2025, 1, 1, tzinfo=UTC))
    report = build(settings)
    return settings, report


def test_every_model_and_test_passes(built):
    _settings, report = built
    assert report.success, [(n.name, n.message) for n in report.failures]
    names = {n.name for n in report.models}
    assert {
        "stg_ohlcv",
        "int_candles_resampled",
        "int_returns",
        "int_gaps",
        "dim_symbols",
        "fct_candles",
        "fct_features",
        "int_features",
    } <= names
    assert len(report.tests) >= 30
    rows = {n.name: n.rows for n in report.models}
    assert rows["fct_features"] == rows["int_features"] > 40_000


def test_features_in_the_warehouse_match_the_references(built):
    from ta.momentum import RSIIndicator

    settings, _ = built
    features = _table(settings, "marts.fct_features")
    candles = sample_frame("coinbase", "BTC-USD", "4h")
    candles = candles[candles["ts"] < pd.Timestamp("2025-01-01", tz="UTC")].reset_index(drop=True)
    ours = features[
        (features["symbol"] == "BTC/USD") & (features["timeframe"] == "4h")
    ].reset_index(drop=True)
    assert len(ours) == len(candles)
    expected = compute_features(candles)
    for col in (
        "rsi_14",
        "macd",
        "macd_signal",
        "atr_14",
        "bb_pct_b",
        "volume_z_20",
        "dist_sma_200",
    ):
        np.testing.assert_array_equal(ours[col].to_numpy(dtype=float), expected[col].to_numpy())
    # and, independently of our library, RSI against ta after its seed has decayed
    ref = RSIIndicator(candles["close"], window=14).rsi().to_numpy()
    np.testing.assert_allclose(ours["rsi_14"].to_numpy(dtype=float)[400:], ref[400:], rtol=1e-9)
    assert ours["rsi_14"].iloc[:14].isna().all()


def test_resampled_daily_candles_equal_an_independent_aggregation(built):
    settings, _ = built
    daily = _table(settings, "marts.fct_candles")
    daily = daily[(daily["symbol"] == "BTC/USD") & (daily["timeframe"] == "1d")].set_index("ts")
    daily.index = daily.index.tz_convert("UTC").as_unit("ms")
    base = sample_frame("coinbase", "BTC-USD", "4h")
    base = base[base["ts"] < pd.Timestamp("2025-01-01", tz="UTC")].set_index("ts")
    ref = base.resample("1D").agg(
        {"open": "first", "high": "max", "low": "min", "close": "last", "volume": "sum"}
    )
    counts = base["close"].resample("1D").count()
    ref = ref[counts > 0]
    pd.testing.assert_frame_equal(
        daily[["open", "high", "low", "close"]],
        ref[["open", "high", "low", "close"]],
        check_freq=False,
        check_names=False,
    )
    np.testing.assert_allclose(daily["volume"], ref["volume"], rtol=1e-12)
    assert (daily["n_base_candles"] == counts[counts > 0]).all()
    # 2018-08-10: 3 of 6 bars missing in the real data (SOURCES.md) → not complete
    outage = daily.loc[pd.Timestamp("2018-08-10", tz="UTC")]
    assert (outage["n_base_candles"], outage["is_complete"]) == (3, False)
    assert daily["is_complete"].sum() == (counts == 6).sum()


def test_an_open_bucket_is_never_complete_and_gets_no_feature_row(tmp_path):
    settings = load_settings(data_dir=tmp_path / "data", sample_dir=SAMPLE_DIR)
    _ingest(settings, start=datetime(2024, 3, 1, tzinfo=UTC))
    _ingest(
        settings, start=datetime(2024, 3, 1, tzinfo=UTC), bars_per_run=2
    )  # 2 of 6 bars of 03-01
    assert build(settings, select="+fct_features").success
    candles = _table(settings, "marts.fct_candles")
    edge = candles[
        (candles["timeframe"] == "1d") & (candles["ts"] == pd.Timestamp("2024-03-01", tz="UTC"))
    ]
    assert len(edge) == 2 and edge["is_open"].all() and not edge["is_complete"].any()
    assert (edge["n_base_candles"] == 2).all()
    features = _table(settings, "marts.fct_features")
    daily = features[features["timeframe"] == "1d"]
    assert daily["ts"].max() == pd.Timestamp("2024-02-29", tz="UTC")


class HidingSample(SampleSource):
    """The sample with one candle missing until it is 'repaired' later (a gap fill)."""

    hidden = pd.Timestamp("2023-11-15 08:00", tz="UTC")

    def fetch(self, stream, *, since=None, until=None):
        for page in super().fetch(stream, since=since, until=until):
            yield page[page["ts"] != self.hidden].reset_index(drop=True)


def test_full_refresh_and_any_sequence_of_incremental_runs_are_identical(tmp_path):
    start = datetime(2024, 1, 1, tzinfo=UTC)
    inc = load_settings(data_dir=tmp_path / "inc", sample_dir=SAMPLE_DIR)
    hiding = HidingSample(SAMPLE_DIR, exchange="coinbase")
    _ingest(inc, start=start, source=hiding)
    assert build(inc).success
    for bars in (1, 5, 2):  # new bars arrive in uneven batches, each followed by a build
        _ingest(inc, start=start, bars_per_run=bars, source=hiding)
        assert build(inc).success
    # a past hole is repaired: the stream must be recomputed, not patched at the end
    wh = Warehouse.from_settings(inc)
    src = SampleSource(SAMPLE_DIR, exchange="coinbase")
    stream = src.validate_stream("BTC/USD", "4h")
    repaired = ingest_stream(
        wh,
        src,
        stream,
        kind="backfill",
        since=HidingSample.hidden,
        until=HidingSample.hidden + timedelta(hours=4),
        replay=ReplayConfig(start, 1),
    )
    assert repaired.inserted == 1
    assert build(inc).success

    full = load_settings(data_dir=tmp_path / "full", sample_dir=SAMPLE_DIR)
    full.data_dir.mkdir(parents=True)
    shutil.copyfile(inc.warehouse_path, full.warehouse_path)
    assert build(full, full_refresh=True).success

    for name, volatile in (
        ("marts.fct_candles", ["loaded_at"]),
        ("marts.fct_features", ["computed_at"]),
        ("intermediate.int_features", ["computed_at", "stream_watermark"]),
    ):
        a, b = _table(inc, name, volatile), _table(full, name, volatile)
        assert len(a) == len(b) > 30_000
        pd.testing.assert_frame_equal(a, b, check_exact=True, obj=name)
    features = _table(inc, "marts.fct_features")
    assert (features["ts"] == HidingSample.hidden).sum() == 1


def test_a_full_build_on_dask_workers_writes_the_same_features(built, tmp_path, monkeypatch):
    """AAITI_DASK_ADDRESS: the streams computed from their first bar run on a LocalCluster's
    two workers; dbt still writes every row, and every row equals the one built here."""
    from distributed import Client, LocalCluster, get_task_stream

    here, _ = built
    monkeypatch.setenv("PYTHONPATH", str(REPO))  # the workers import aaiti
    # a spawned worker re-runs the parent's __main__ file: after Streamlit's AppTest (the
    # dashboard tests) that was a dashboard page, and the workers died running it
    monkeypatch.setitem(sys.modules, "__main__", types.ModuleType("__main__"))
    with (
        LocalCluster(n_workers=2, processes=True, threads_per_worker=1, host="127.0.0.1",
                     dashboard_address=None) as cluster,
        Client(cluster) as client,
    ):  # fmt: skip
        there = load_settings(
            data_dir=tmp_path / "data", sample_dir=SAMPLE_DIR,
            dask_address=cluster.scheduler_address,
        )  # fmt: skip
        there.data_dir.mkdir(parents=True)
        shutil.copyfile(here.warehouse_path, there.warehouse_path)
        with get_task_stream(client) as stream:
            assert build(there, full_refresh=True, select="int_features+").success
        ran = [t for t in stream.data if "stream_from_first_bar" in t["key"]]
        assert len(ran) == 4  # 2 symbols × (4h, and 1d resampled from it)
        assert {t["worker"] for t in ran} == set(cluster.scheduler_info["workers"])
    for name, volatile in (
        ("marts.fct_features", ["computed_at"]),
        ("intermediate.int_features", ["computed_at"]),
    ):
        a, b = _table(here, name, volatile), _table(there, name, volatile)
        assert len(a) > 10_000
        pd.testing.assert_frame_equal(a, b, check_exact=True, obj=name)


def test_a_dask_scheduler_that_cannot_be_reached_is_an_error_not_one_machine(monkeypatch):
    from aaiti import cluster

    monkeypatch.setattr(cluster, "CONNECT_TIMEOUT_S", 1)
    unreachable = pytest.raises(
        ConnectionError, match=r"no Dask scheduler at tcp://127\.0\.0\.1:9 "
    )
    with unreachable, cluster.mapper("tcp://127.0.0.1:9"):
        pass
