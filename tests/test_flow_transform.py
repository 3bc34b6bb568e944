"""Transform and demo flows on a real (temporary) Prefect server."""

from __future__ import annotations

import duckdb
import pytest

from tests.conftest import REPO

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def prefect_server():
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield


@pytest.fixture
def env(settings, monkeypatch):
    monkeypatch.setenv("AAITI_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("AAITI_SAMPLE_DIR", str(settings.sample_dir))
    return settings


def test_demo_flow_ingests_transforms_publishes_and_documents(prefect_server, env):
    from flows.demo import demo_flow

    state = demo_flow(return_state=True)
    assert state.is_completed(), state
    result = state.result()
    assert "0 failed" in result["transformed"]["summary"]
    assert result["trained"]["promoted"] and result["trained"]["version"] == 1
    assert [p["written"] for p in result["predictions"]] == [
        4,
        2,
        2,
        2,
    ]  # +the last history bar first
    assert sum(t["bars"] for t in result["trades"]) == 10  # 5 bars × 2 streams reach the broker
    assert "var_95_historical" in result["risk"]
    assert result["backtest"]["combinations"] == 2 * 11  # 2 symbols × the default grid
    monitored = result["monitor"]  # a drift report for the champion
    assert monitored["version"] == 1 and 0 <= monitored["drifted_share"] <= 1
    assert (env.data_dir / "reports" / "drift").exists() and monitored["report"].endswith(".html")
    # the README's and docs' figures are what this run computes (make results writes them)
    from aaiti.strategy.results import demo_figures, stale

    con = duckdb.connect(str(env.serving_path), read_only=True)
    try:
        figures = demo_figures(con, strategy=env.trading_strategy, timeframe=env.timeframe)
    finally:
        con.close()
    assert figures["portfolio"]["buy_and_hold"]["trades"] == 2 and figures["trials"] >= 1
    assert stale(REPO, figures) == [], "run `make results`: the committed figures are stale"
    assert result["raw_gate"]["coinbase:BTC/USD:4h"] == "passed"
    assert result["feature_gate"]["coinbase:ETH/USD:1d"] == "passed"
    assert (
        env.data_dir / "gx" / "gx" / "uncommitted" / "data_docs" / "local_site" / "index.html"
    ).exists()
    con = duckdb.connect(str(env.serving_path), read_only=True)
    try:
        tables = {
            r[0]
            for r in con.sql(
                "SELECT schema_name || '.' || table_name FROM duckdb_tables()"
            ).fetchall()
        }
        rows = con.sql(
            "SELECT symbol, timeframe, count(*), count(rsi_14) FROM marts.fct_features GROUP BY ALL ORDER BY ALL"
        ).fetchall()
    finally:
        con.close()
    assert {"marts.fct_features", "marts.fct_candles", "marts.dim_symbols"} <= tables
    assert [(s, tf) for s, tf, *_ in rows] == [
        ("BTC/USD", "1d"),
        ("BTC/USD", "4h"),
        ("ETH/USD", "1d"),
        ("ETH/USD", "4h"),
    ]
    assert all(n > 3_000 and n - with_rsi == 14 for *_, n, with_rsi in rows)
    assert (env.data_dir / "dbt" / "target" / "static_index.html").exists()
    con = duckdb.connect(str(env.serving_path), read_only=True)
    try:
        bad = con.sql(
            "SELECT ts, reason FROM raw.ohlcv_quarantine WHERE stage = 'gate' ORDER BY ts"
        ).fetchall()
        checks = con.sql("SELECT count(DISTINCT description) FROM ops.quality_results").fetchall()[
            0
        ][0]
    finally:
        con.close()
    # the sample's two known bad 4h rows: ETH's flash-crash wick to 0.10, BTC's bad print
    assert [str(ts.date()) for ts, _ in bad] == ["2017-06-21", "2018-04-03"]
    assert "wick alone" in bad[0][1] and "reverting spike" in bad[1][1]
    con = duckdb.connect(str(env.serving_path), read_only=True)
    try:
        preds = con.sql(
            "SELECT count(*), min(ts), count(DISTINCT run_id) FROM ml.predictions"
        ).fetchall()[0]
    finally:
        con.close()
    assert preds[0] == 10 and str(preds[1]).startswith("2024-12-31 20:00") and preds[2] == 1
    assert checks >= 20

    import asyncio

    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

    async def artifacts(key):
        async with get_client() as client:
            found = await client.read_artifacts(
                artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=[key]))
            )
            return [str(a.data) for a in found]

    # one version per validation run (history, then each replayed bar): the first one failed
    tables = asyncio.run(artifacts("quality-raw"))
    assert len(tables) >= 4
    assert any(
        "no reverting spike" in t and "FAIL" in t and "2018-04-03 20:00" in t for t in tables
    )


def test_a_failing_dbt_test_fails_the_flow_and_names_it(prefect_server, env):
    from aaiti.market import ReplayConfig, ingest_stream
    from aaiti.market.sample import SampleSource
    from aaiti.warehouse import Warehouse
    from flows.transform import TransformFailedError, transform_flow

    wh = Warehouse.from_settings(env)
    src = SampleSource(env.sample_dir, exchange="coinbase")
    ingest_stream(
        wh, src, src.validate_stream("BTC/USD", "4h"), replay=ReplayConfig(env.replay_start, 1)
    )
    with wh.writer() as con:  # a bad row that slipped past ingestion (written by hand)
        con.execute(
            "UPDATE raw.ohlcv SET high = low * 0.5 WHERE ts = (SELECT max(ts) FROM raw.ohlcv)"
        ).fetchall()
    state = transform_flow(docs=False, return_state=True)
    assert state.is_failed()
    with pytest.raises(TransformFailedError, match="expression_is_true_fct_candles_high"):
        state.result()
    assert not env.serving_path.exists()  # nothing was published
