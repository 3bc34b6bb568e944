"""The universe file: read and checked with errors that name the line, resolved to streams
(listed, or the top N of an exchange's markets by quote volume), and run by the commands
across several exchanges and timeframes."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest
from typer.testing import CliRunner

from aaiti.cli import app
from aaiti.config import load_settings
from aaiti.market import Stream
from aaiti.universe import UniverseError, load_universe, resolve_top, universe_for
from tests.conftest import SAMPLE_DIR, sample_frame
from tests.support.fake_binance import FakeBinance

ROOT = Path(__file__).resolve().parents[1]
runner = CliRunner()


def test_without_a_file_the_settings_are_the_universe_two_default_streams():
    u = universe_for(load_settings())
    assert [x.stream for x in u.streams()] == [
        Stream("coinbase", "BTC/USD", "4h"),
        Stream("coinbase", "ETH/USD", "4h"),
    ]


def test_the_example_file_lists_its_streams_and_models():
    u = load_universe(ROOT / "universe.example.yml")
    listed = u.streams()
    assert (
        len(listed) == 12
    )  # coinbase 2 × 2 timeframes, kraken 4 × 2 (USDT/USD a rate); binance's top is ranked later
    assert {x.stream.exchange for x in listed} == {"coinbase", "kraken"}
    assert u.model_of("1d") == "1d" and {x.model for x in listed} == {"4h", "1d", "1h"}
    (top,) = [s for s in u.sources if s.top is not None]
    assert (top.exchange, top.top, top.quotes) == ("binance", 20, ("USDT",))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("sources: [a\n", "line 1: not valid YAML: while parsing a flow sequence opened here"),
        ("sources:\n  - source: sample\n    symbols: [BTC/USD, ETH/USD\n    timeframes: [4h]\n",
         "line 3: not valid YAML"),
        ("sources:\n  - source: sample\n    exchange: [coinbase, kraken]\n    symbols: [BTC/USD]\n"
         "    timeframes: [4h]\n", "line 3: `exchange:` is one name, not a list"),
        ("sources:\n  - source: sample\n    symbols: []\n    timeframes: [4h]\n",
         "line 3: `symbols:` is empty: list at least one"),
        ("sources:\n  - source: sample\n    symbols: [BTC/USD, BTC/USD]\n    timeframes: [4h]\n",
         "line 2: stream coinbase:BTC/USD:4h is listed twice (first at line 2)"),
        ("sources:\n  - source: files:/no/such/folder\n    symbols: [BTC/USD]\n"
         "    timeframes: [4h]\n", "line 2: no folder at '/no/such/folder'"),
        ("sources:\n  - source: sample\n    exchange: ../..\n    symbols: [BTC/USD]\n"
         "    timeframes: [4h]\n", "line 3: exchange '../..' is not accepted"),
        ("sources:\n  - source: ccxt:binance\n    top: [5]\n    timeframes: [1h]\n",
         "line 3: `top:` is one name"),
        ("source: sample\n", "line 1: unknown key 'source' in the file; accepted: sources, models"),
        ("sources:\n  - source: sample\n    symbol: [BTC/USD]\n", "line 3: unknown key 'symbol'"),
        ("sources:\n  - source: kraken\n    symbols: [A/B]\n    timeframes: [1h]\n",
         "line 2: unknown source 'kraken'"),
        ("sources:\n  - source: sample\n    symbols: [BTC/USD]\n    timeframes: [3h]\n",
         "line 4: unsupported timeframe '3h'; supported: 1m"),
        ("sources:\n  - source: sample\n    symbols: [BTCUSD]\n    timeframes: [1h]\n",
         "line 3: symbol 'BTCUSD' is not accepted: BASE/QUOTE"),
        ("sources:\n  - source: sample\n    top: 5\n    timeframes: [1h]\n",
         "line 3: `top:` ranks an exchange's markets: it needs a ccxt source"),
        ("sources:\n  - source: ccxt:binance\n    top: 0\n    timeframes: [1h]\n",
         "line 3: `top:` is a positive number"),
        ("sources:\n  - source: sample\n    timeframes: [1h]\n", "line 2: source 'sample' needs `symbols:`"),
        ("sources:\n  - source: sample\n    symbols: [BTC/USD]\n", "needs `timeframes:`"),
        ("sources:\n  - source: sample\n    symbols: [BTC/USD]\n    timeframes: [4h]\n"
         "models:\n  1d: [4h]\n", "line 6: model '1d' names '1d', not a timeframe of any source"),
    ],
)  # fmt: skip
def test_a_bad_file_is_refused_naming_the_line_and_what_is_accepted(tmp_path, text, message):
    path = tmp_path / "universe.yml"
    path.write_text(text)
    with pytest.raises(UniverseError) as err:
        load_universe(path)
    assert message in str(err.value) and str(path) in str(err.value)


def _market(symbol: str, scale: float):
    frame = sample_frame("binance", "BTC-USDT", "1d").copy()
    frame["symbol"] = symbol
    frame["volume"] = frame["volume"] * scale
    return frame


def _env(data, universe, exchange_url: str) -> dict[str, str]:
    """The CLI's environment for a universe with a loopback exchange."""
    return {
        "AAITI_DATA_DIR": str(data),
        "AAITI_SAMPLE_DIR": str(SAMPLE_DIR),
        "AAITI_UNIVERSE_FILE": str(universe),
        "AAITI_CCXT_API_BASE_URL": exchange_url,
        "AAITI_CCXT_RATE_LIMIT_MS": "0",
        "AAITI_BACKFILL_SINCE": "2020-01-01",
    }


@pytest.mark.integration
def test_top_n_ranks_the_exchange_markets_by_quote_volume_over_loopback(tmp_path):
    markets = {"BTCUSDT": 1.0, "ETHUSDT": 3.0, "SOLUSDT": 0.5, "ETHBTC": 50.0}
    frames = {m: _market(m, k) for m, k in markets.items()}
    path = tmp_path / "universe.yml"
    path.write_text("sources:\n  - source: ccxt:binance\n    top: 2\n    quote: [USDT]\n"
                    "    timeframes: [1d]\n")  # fmt: skip
    data = tmp_path / "data"
    with FakeBinance(frames, "1d") as ex:
        settings = load_settings(universe_file=path, ccxt_api_base_url=ex.url, ccxt_rate_limit_ms=0)
        u = universe_for(settings)
        top = resolve_top(u, settings)
        env = _env(data, path, ex.url)
        ingested = runner.invoke(app, ["ingest"], env=env)
        assert ingested.exit_code == 0, ingested.output
    # the gates judge what the top-N source stored, with the exchange out of reach
    validated = runner.invoke(app, ["validate"], env=env)
    assert validated.exit_code == 0, validated.output
    con = duckdb.connect(str(data / "warehouse.duckdb"), read_only=True)
    try:
        gated = con.sql("SELECT symbol FROM ops.stream_gates WHERE checkpoint = 'raw'").fetchall()
    finally:
        con.close()
    assert sorted(s for (s,) in gated) == ["BTC/USDT", "ETH/USDT"]
    # the two USDT markets with the largest Σ close × volume over the last day
    last = {m: float((f["close"] * f["volume"]).iloc[-1]) for m, f in frames.items()}
    expected = sorted((m for m in last if m.endswith("USDT")), key=last.get, reverse=True)[:2]
    assert top == {"ccxt:binance": [m.replace("USDT", "/USDT") for m in expected]}
    assert [x.stream.symbol for x in u.streams(top)] == ["ETH/USDT", "BTC/USDT"]


@pytest.mark.integration
def test_ingest_and_validate_run_a_universe_of_two_exchanges_and_two_timeframes(tmp_path):
    """The sample's Coinbase (4h and 1d) and a loopback Binance through ccxt (1d), from
    one file: every stream ingested and gated; the cross-timeframe rule compares
    Coinbase BTC/USD's native daily bars with its 4h bars."""
    frames = {"BTCUSDT": sample_frame("binance", "BTC-USDT", "1d")}
    path = tmp_path / "universe.yml"
    path.write_text(
        "sources:\n"
        "  - source: sample\n    exchange: coinbase\n    symbols: [BTC/USD]\n"
        "    timeframes: [4h, 1d]\n"
        "  - source: ccxt:binance\n    symbols: [BTC/USDT]\n    timeframes: [1d]\n"
    )
    data = tmp_path / "data"
    with FakeBinance(frames, "1d") as ex:
        env = _env(data, path, ex.url)
        listed = runner.invoke(app, ["universe"], env=env)
        assert listed.exit_code == 0 and "3 stream(s)" in listed.output, listed.output
        ingested = runner.invoke(app, ["ingest"], env=env)
        assert ingested.exit_code == 0, ingested.output
    validated = runner.invoke(app, ["validate"], env=env)
    assert validated.exit_code == 0, validated.output
    con = duckdb.connect(str(data / "warehouse.duckdb"), read_only=True)
    try:
        raw = set(con.sql("SELECT DISTINCT exchange, symbol, timeframe FROM raw.ohlcv").fetchall())
        gates = dict(
            con.sql("SELECT exchange || ':' || timeframe, status FROM ops.stream_gates").fetchall()
        )
        ((compared,),) = con.sql(
            "SELECT count(*) FROM ops.quality_results WHERE column_name = 'timeframe_mismatch' "
            "AND exchange = 'coinbase' AND timeframe = '1d'"
        ).fetchall()
    finally:
        con.close()
    assert raw == {("coinbase", "BTC/USD", "4h"), ("coinbase", "BTC/USD", "1d"),
                   ("binance", "BTC/USDT", "1d")}  # fmt: skip
    assert gates == {"coinbase:4h": "passed", "coinbase:1d": "passed", "binance:1d": "passed"}
    assert compared >= 2  # the critical bound and the warning, on the daily stream
