"""`aaiti import`: the user's own candle files — freqtrade's data folder read as it is, CSV
with its own column names, timezone and timestamp unit — checked, stored and gated like any
source; a folder declared in the universe file replays like the sample. Real candles from
the bundled sample, written by the test into each layout."""

from __future__ import annotations

import json

import duckdb
import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from aaiti.cli import app
from tests.conftest import SAMPLE_DIR, sample_frame

pytestmark = pytest.mark.integration
runner = CliRunner()
OHLCV = ["open", "high", "low", "close", "volume"]


def _env(tmp_path) -> dict[str, str]:
    return {"AAITI_DATA_DIR": str(tmp_path / "data"), "AAITI_SAMPLE_DIR": str(SAMPLE_DIR)}


def _raw(tmp_path, where: str = "true") -> pd.DataFrame:
    con = duckdb.connect(str(tmp_path / "data" / "warehouse.duckdb"), read_only=True)
    try:
        return con.sql(
            f"SELECT exchange, symbol, timeframe, ts, {', '.join(OHLCV)} FROM raw.ohlcv "
            f"WHERE {where} ORDER BY exchange, symbol, timeframe, ts"
        ).df()
    finally:
        con.close()


def _freqtrade_folder(root):
    """user_data/data/binance as freqtrade writes it: feather and json candles, a futures
    subfolder, and a funding-rate file that is not candles."""
    folder = root / "user_data" / "data" / "binance"
    (folder / "futures").mkdir(parents=True)
    btc = sample_frame("binance", "BTC-USDT", "1h")
    eth = sample_frame("binance", "BTC-USDT", "1d")
    ft = btc.rename(columns={"ts": "date"})[["date", *OHLCV]]
    ft.to_feather(folder / "BTC_USDT-1h.feather")
    rows = [[int(t.timestamp() * 1000), *map(float, r)] for t, *r in
            eth[["ts", *OHLCV]].itertuples(index=False)]  # fmt: skip
    (folder / "ETH_USDT-1d.json").write_text(json.dumps(rows))
    ft.to_feather(folder / "futures" / "BTC_USDT_USDT-1h-futures.feather")
    pd.DataFrame({"date": btc["ts"], "open": 0.0001, "high": 0.0001, "low": 0.0001,
                  "close": 0.0001, "volume": 0.0}).to_feather(
        folder / "futures" / "BTC_USDT_USDT-8h-funding_rate.feather")  # fmt: skip
    return root / "user_data" / "data", btc, eth


def test_a_freqtrade_data_folder_is_read_as_it_is_stored_and_gated(tmp_path):
    folder, btc, eth = _freqtrade_folder(tmp_path)
    result = runner.invoke(app, ["import", str(folder)], env=_env(tmp_path))
    assert result.exit_code == 0, result.output
    assert "skipped binance/futures/BTC_USDT_USDT-8h-funding_rate.feather" in result.output
    raw = _raw(tmp_path)
    streams = set(raw[["exchange", "symbol", "timeframe"]].itertuples(index=False, name=None))
    assert streams == {("binance", "BTC/USDT", "1h"), ("binance", "ETH/USDT", "1d"),
                       ("binance", "BTC/USDT:USDT", "1h")}  # fmt: skip
    for symbol, tf, frame in (("BTC/USDT", "1h", btc), ("ETH/USDT", "1d", eth),
                              ("BTC/USDT:USDT", "1h", btc)):  # fmt: skip
        got = raw[(raw["symbol"] == symbol) & (raw["timeframe"] == tf)]
        assert list(got["ts"]) == list(frame["ts"])
        np.testing.assert_allclose(got[OHLCV].to_numpy(), frame[OHLCV].to_numpy(), rtol=1e-12)
    con = duckdb.connect(str(tmp_path / "data" / "warehouse.duckdb"), read_only=True)
    try:
        gates = con.sql("SELECT symbol, timeframe, status FROM ops.stream_gates "
                        "WHERE checkpoint = 'raw' ORDER BY ALL").fetchall()  # fmt: skip
    finally:
        con.close()
    assert [g[:2] for g in gates] == [("BTC/USDT", "1h"), ("BTC/USDT:USDT", "1h"),
                                      ("ETH/USDT", "1d")]  # fmt: skip
    again = runner.invoke(app, ["import", str(folder)], env=_env(tmp_path))
    assert again.exit_code == 0, again.output
    assert len(_raw(tmp_path)) == len(raw)  # idempotent: nothing doubled


def test_a_csv_with_its_own_columns_timezone_and_unit(tmp_path):
    frame = sample_frame("binance", "BTC-USDT", "1h").head(48)
    local = frame["ts"].dt.tz_convert("America/New_York").dt.tz_localize(None)
    csv = tmp_path / "mine.csv"
    pd.DataFrame({"Time": local.dt.strftime("%Y-%m-%d %H:%M:%S"), "Open": frame["open"],
                  "High": frame["high"], "Low": frame["low"], "Close": frame["close"],
                  "Vol BTC": frame["volume"]}).to_csv(csv, index=False)  # fmt: skip
    args = ["import", str(csv), "--exchange", "kraken", "--symbol", "BTC/USD", "--timeframe",
            "1h", "--columns", "ts=Time,volume=Vol BTC", "--tz", "America/New_York"]  # fmt: skip
    result = runner.invoke(app, args, env=_env(tmp_path))
    assert result.exit_code == 0, result.output
    raw = _raw(tmp_path)
    assert list(raw["ts"]) == list(frame["ts"])  # read in New York time, stored in UTC
    np.testing.assert_allclose(raw[OHLCV].to_numpy(), frame[OHLCV].to_numpy(), rtol=1e-12)

    seconds = tmp_path / "secs" / "kraken" / "ETH-USD"
    seconds.mkdir(parents=True)
    pd.DataFrame({"timestamp": frame["ts"].astype("int64") // 10**9 if frame["ts"].dt.unit == "ns"
                  else frame["ts"].astype("int64") // 10**3, **{c: frame[c] for c in OHLCV}}
                 ).to_csv(seconds / "1h.csv", index=False)  # fmt: skip
    result = runner.invoke(app, ["import", str(tmp_path / "secs")], env=_env(tmp_path))
    assert result.exit_code == 0, result.output  # AAITI's layout; epoch seconds by size
    eth = _raw(tmp_path, "symbol = 'ETH/USD'")
    assert list(eth["ts"]) == list(frame["ts"]) and set(eth["exchange"]) == {"kraken"}


@pytest.mark.parametrize(
    ("make", "args", "message"),
    [
        (lambda p: p / "nothing-here", [], "no file or folder at"),
        (lambda p: _csv(p, {"Time": ["2024-01-01"], "Open": [1.0]}), [],
         "mine.csv: no high column among Time, Open; map one with --columns high=<name>"),
        (lambda p: _csv(p, {"ts": ["not a date"], **{c: [1.0] for c in OHLCV}}), [],
         "timestamps cannot be read"),
        (lambda p: _csv(p, {"ts": ["2300-01-01"], **{c: [1.0] for c in OHLCV}}), [],
         "timestamps cannot be read"),
        (lambda p: _csv(p, {"ts": ["2024-01-01"], **{c: ["x"] for c in OHLCV}}), [],
         "column open holds 'x', not a number"),
        (lambda p: _csv(p, {"ts": ["2024-01-01"], **{c: [1.0] for c in OHLCV}}),
         ["--columns", "when=ts"], "cannot map column(s) when; accepted: ts, open"),
        (lambda p: _csv(p, {"ts": ["2024-01-01"], **{c: [1.0] for c in OHLCV}}),
         ["--tz", "Mars/Olympus"], "unknown timezone 'Mars/Olympus'"),
        (lambda p: _csv(p, {"ts": [1], **{c: [1.0] for c in OHLCV}}, name="data.csv"),
         ["--exchange", "kraken"], "cannot tell its exchange, symbol and timeframe"),
    ],
)  # fmt: skip
def test_bad_files_are_one_line_exit_2_and_nothing_written(tmp_path, make, args, message):
    target = make(tmp_path)
    flags = ["--exchange", "kraken", "--symbol", "BTC/USD", "--timeframe", "1h"]
    if "--exchange" in args:
        flags = []
    result = runner.invoke(app, ["import", str(target), *flags, *args], env=_env(tmp_path))
    assert result.exit_code == 2, result.output
    lines = [x for x in result.output.splitlines() if x.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], lines
    assert "Traceback" not in result.output
    assert not (tmp_path / "data" / "warehouse.duckdb").exists()


def _csv(path, columns: dict, name: str = "mine.csv"):
    pd.DataFrame(columns).to_csv(path / name, index=False)
    return path / name


def test_a_folder_in_the_universe_file_replays_like_the_sample(tmp_path):
    folder, _, _ = _freqtrade_folder(tmp_path)
    universe = tmp_path / "universe.yml"
    universe.write_text(
        f"sources:\n  - source: files:{folder}\n    exchange: binance\n"
        "    symbols: [BTC/USDT]\n    timeframes: [1h]\n"
    )
    env = {**_env(tmp_path), "AAITI_UNIVERSE_FILE": str(universe),
           "AAITI_REPLAY_START": "2018-05-03T00:00:00"}  # fmt: skip
    listed = runner.invoke(app, ["universe", "--json"], env=env)
    assert listed.exit_code == 0, listed.output
    assert json.loads(listed.output)["streams"][0]["source"] == f"files:{folder}"
    first = runner.invoke(app, ["ingest"], env=env)
    assert first.exit_code == 0, first.output
    history = _raw(tmp_path)
    assert history["ts"].max() < pd.Timestamp("2018-05-03", tz="UTC")  # nothing after the clock
    second = runner.invoke(app, ["ingest"], env=env)
    assert second.exit_code == 0, second.output
    assert len(_raw(tmp_path)) == len(history) + 1  # one bar per run, as the sample replays


def _hourly_csv(tmp_path, frame: pd.DataFrame, *, ts: pd.Series, name: str = "mine.csv"):
    path = tmp_path / name
    pd.DataFrame({"ts": ts, **{c: frame[c] for c in OHLCV}}).to_csv(path, index=False)
    return path


HOURLY = ["--exchange", "kraken", "--symbol", "BTC/USD", "--timeframe", "1h"]


def test_an_import_that_lands_nothing_exits_2_and_says_why_with_counts(tmp_path):
    """Every row in the future (48 of 48 quarantined), or a header and no row: not "ok"."""
    frame = sample_frame("binance", "BTC-USDT", "1h").head(48)
    future = pd.date_range("2200-01-01", periods=48, freq="h", tz="UTC").strftime("%Y-%m-%d %H:%M")
    path = _hourly_csv(tmp_path, frame, ts=future)
    result = runner.invoke(app, ["import", str(path), *HOURLY], env=_env(tmp_path))
    assert result.exit_code == 2, result.output
    (line,) = [x for x in result.output.splitlines() if x.startswith("error: ")]
    assert (
        "none of its 48 row(s) was accepted — 48 quarantined (48 as 'ts is in the future')" in line
    )
    header_only = tmp_path / "empty.csv"
    header_only.write_text("ts,open,high,low,close,volume\n")
    result = runner.invoke(app, ["import", str(header_only), *HOURLY], env=_env(tmp_path))
    assert result.exit_code == 2, result.output
    assert "the file holds no candle" in result.output


@pytest.mark.parametrize(("scale", "given", "fits"), [(1, "ms", "s"), (1000, "s", "ms")])
def test_a_timestamp_unit_that_does_not_fit_the_numbers_is_refused_naming_both(
    tmp_path, scale, given, fits
):
    frame = sample_frame("binance", "BTC-USDT", "1h").head(48)
    seconds = frame["ts"].map(lambda t: int(t.timestamp())) * scale
    path = _hourly_csv(tmp_path, frame, ts=seconds)
    result = runner.invoke(
        app, ["import", str(path), *HOURLY, "--ts-unit", given], env=_env(tmp_path)
    )
    assert result.exit_code == 2, result.output
    (line,) = [x for x in result.output.splitlines() if x.strip()]
    assert str(path) in line and f"not in {given} (--ts-unit {given})" in line
    assert f"their size fits {fits}" in line and "Traceback" not in result.output
    assert not (tmp_path / "data" / "warehouse.duckdb").exists()


def test_the_summary_adds_up_and_holes_are_counted_and_recorded(tmp_path):
    """fetched = new + changed + same + dups + rejected, on a re-import with a repeated row;
    the bars missing inside the file are holes, in the table and in ops.gap_checks."""
    frame = sample_frame("binance", "BTC-USDT", "1h").head(60)
    holey = pd.concat([frame.iloc[:20], frame.iloc[30:], frame.iloc[[40]]])  # 10 missing, 1 twice
    path = _hourly_csv(tmp_path, holey, ts=holey["ts"].dt.strftime("%Y-%m-%d %H:%M"))
    for _ in range(2):
        result = runner.invoke(app, ["import", str(path), *HOURLY], env=_env(tmp_path))
        assert result.exit_code == 0, result.output
    row = next(x for x in result.output.splitlines() if "BTC/USD 1h" in x)
    cells = [c.strip() for c in row.split("│") if c.strip()]
    fetched, new, changed, same, dups, rejected, holes = (
        int(c.replace(",", "")) for c in cells[2:9]
    )
    assert fetched == 51 and fetched == new + changed + same + dups + rejected
    assert (new, same, dups, holes) == (0, 50, 1, 1)
    con = duckdb.connect(str(tmp_path / "data" / "warehouse.duckdb"), read_only=True)
    try:
        gaps = con.sql("SELECT missing, filled FROM ops.gap_checks").fetchall()
    finally:
        con.close()
    assert gaps == [(10, 0)]


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--exchange", "kraken", "--symbol", "../../etc"], "symbol '../../etc' is not accepted"),
        (["--exchange", "kraken", "--symbol", "BTC/\U0001f680"], "is not accepted: BASE/QUOTE"),
        (["--exchange", "kraken", "--symbol", "B" * 5000 + "/USD"], "(5004 characters)'"),
        (["--exchange", "../..", "--symbol", "BTC/USD"], "exchange '../..' is not accepted"),
        (["--exchange", "a/b", "--symbol", "BTC/USD"], "no path separator"),
    ],
)  # fmt: skip
def test_names_outside_the_rule_are_refused_before_anything_is_stored(tmp_path, flags, message):
    frame = sample_frame("binance", "BTC-USDT", "1h").head(24)
    path = _hourly_csv(tmp_path, frame, ts=frame["ts"].dt.strftime("%Y-%m-%d %H:%M"))
    result = runner.invoke(app, ["import", str(path), *flags, "--timeframe", "1h"],
                           env=_env(tmp_path))  # fmt: skip
    assert result.exit_code == 2, result.output
    (line,) = [x for x in result.output.splitlines() if x.strip()]
    assert line.startswith("error: ") and message in line
    assert not (tmp_path / "data" / "warehouse.duckdb").exists()


def test_a_freqtrade_folder_with_trades_a_weekly_file_gz_and_one_bad_file(tmp_path):
    """Trades and 1w files are passed over and listed; ``.json.gz`` is read; one bad file
    is named and refused (exit 2) while the good ones land."""
    import gzip

    folder = tmp_path / "user_data" / "data" / "binance"
    folder.mkdir(parents=True)
    btc = sample_frame("binance", "BTC-USDT", "1h")
    btc.rename(columns={"ts": "date"})[["date", *OHLCV]].to_feather(folder / "BTC_USDT-1h.feather")
    pd.DataFrame({"timestamp": [1, 2], "price": [1.0, 2.0]}).to_feather(
        folder / "BTC_USDT-trades.feather"
    )
    btc.rename(columns={"ts": "date"})[["date", *OHLCV]].head(5).to_feather(
        folder / "BTC_USDT-1w.feather"
    )
    eth = sample_frame("binance", "BTC-USDT", "1d")
    rows = [[int(t.timestamp() * 1000), *map(float, r)] for t, *r in
            eth[["ts", *OHLCV]].itertuples(index=False)]  # fmt: skip
    (folder / "ETH_USDT-1d.json.gz").write_bytes(gzip.compress(json.dumps(rows).encode()))
    (folder / "LTC_USDT-1h.json").write_text("this is not json")
    result = runner.invoke(app, ["import", str(tmp_path / "user_data" / "data")],
                           env=_env(tmp_path))  # fmt: skip
    assert result.exit_code == 2, result.output
    assert "skipped binance/BTC_USDT-trades.feather: trades, not candles" in result.output
    assert "skipped binance/BTC_USDT-1w.feather: timeframe 1w is not one the pipeline runs" in (
        result.output
    )
    (refused,) = [x for x in result.output.splitlines() if x.startswith("error: ")]
    assert "binance/LTC_USDT-1h.json" in refused and "cannot be read as json" in refused
    raw = _raw(tmp_path)
    streams = set(raw[["symbol", "timeframe"]].itertuples(index=False, name=None))
    assert streams == {("BTC/USDT", "1h"), ("ETH/USDT", "1d")}
    assert len(raw[raw["symbol"] == "ETH/USDT"]) == len(eth)


def test_an_ingest_that_stores_nothing_it_fetched_exits_4_and_says_why(tmp_path):
    """A source whose every row is refused (here a folder whose highs and lows are
    swapped) is not an "ok" run."""
    frame = sample_frame("binance", "BTC-USDT", "1h").head(24)
    folder = tmp_path / "mine" / "kraken" / "BTC-USD"
    folder.mkdir(parents=True)
    swapped = frame.rename(columns={"high": "low", "low": "high"})
    swapped[["ts", *OHLCV]].to_csv(folder / "1h.csv", index=False)
    since = frame["ts"].min().strftime("%Y-%m-%dT%H:%M")
    args = ["ingest", "--source", f"files:{tmp_path / 'mine'}", "--exchange", "kraken",
            "--symbols", "BTC/USD", "--timeframe", "1h", "--since", since,
            "--no-fill-gaps"]  # fmt: skip
    result = runner.invoke(app, args, env=_env(tmp_path))
    assert result.exit_code == 4, result.output
    (line,) = [x for x in result.output.splitlines() if x.startswith("error: ")]
    assert "none of its 24 row(s) was accepted — 24 quarantined (24 as 'high < low" in line


def test_a_file_whose_path_names_a_symbol_outside_the_rule_is_refused_alone(tmp_path):
    """In a folder, a name outside the rule refuses that file, not the folder."""
    frame = sample_frame("binance", "BTC-USDT", "1h").head(24)
    for pair in ("BTC-USD", "B@D-USD"):
        folder = tmp_path / "mine" / "kraken" / pair
        folder.mkdir(parents=True)
        frame[["ts", *OHLCV]].to_csv(folder / "1h.csv", index=False)
    result = runner.invoke(app, ["import", str(tmp_path / "mine")], env=_env(tmp_path))
    assert result.exit_code == 2, result.output
    (line,) = [x for x in result.output.splitlines() if x.startswith("error: ")]
    assert "B@D-USD" in line and "symbol 'B@D/USD' is not accepted" in line
    assert set(_raw(tmp_path)["symbol"]) == {"BTC/USD"}
