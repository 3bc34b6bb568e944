"""Gate semantics: blocked streams stop downstream, others flow; suites match the settings."""

from __future__ import annotations

from datetime import UTC, datetime

import duckdb
import pandas as pd
import pytest

from aaiti.config import load_settings
from aaiti.market import ReplayConfig, ingest_stream
from aaiti.market.sample import SampleSource
from aaiti.quality import RAW, gate_status, raw_parameters, run_gate, validator_for
from aaiti.quality.gx import suite_parameters
from aaiti.transform import build
from aaiti.warehouse import Warehouse
from tests.conftest import SAMPLE_DIR

START = datetime(2018, 6, 1, tzinfo=UTC)


def test_every_suite_parameter_comes_from_the_settings(settings):
    from aaiti.market import Stream

    for timeframe in ("1m", "5m", "1h", "4h", "1d"):
        params = raw_parameters(settings.quality, Stream("coinbase", "BTC/USD", timeframe))
        assert suite_parameters(settings.expectations_dir, "raw_ohlcv") == set(params)
    assert suite_parameters(settings.expectations_dir, "features") == set()
    assert suite_parameters(settings.expectations_dir, "predictions") == set()


def _features(settings) -> dict:
    con = duckdb.connect(str(settings.warehouse_path), read_only=True)
    try:
        return dict(
            con.sql(
                "SELECT symbol, max(ts) FROM marts.fct_features WHERE timeframe = '4h' GROUP BY 1"
            ).fetchall()
        )
    finally:
        con.close()


@pytest.mark.integration
def test_a_blocked_stream_stops_its_features_while_the_other_flows(tmp_path):
    """With quarantine off for BTC, its real bad print (2018-04-03 20:00) blocks it; ETH
    (quarantine on: its real flash-crash wick of 2017-06-21 leaves) flows."""
    settings = load_settings(
        data_dir=tmp_path / "data", sample_dir=SAMPLE_DIR, quality_quarantine=False
    )
    quarantining = settings.model_copy(
        update={"quality": settings.quality.model_copy(update={"quarantine": True})}
    )
    wh = Warehouse.from_settings(settings)
    src = SampleSource(SAMPLE_DIR, exchange="coinbase")
    validator = validator_for(settings, docs=False)
    streams = {s: src.validate_stream(s, "4h") for s in ("BTC/USD", "ETH/USD")}

    def cycle(bars: int = 1) -> dict:
        for stream in streams.values():
            ingest_stream(wh, src, stream, replay=ReplayConfig(START, bars))
        verdicts = {
            s: run_gate(
                wh,
                (settings if s == "BTC/USD" else quarantining).quality,
                st,
                checkpoint=RAW,
                validator=validator,
            )
            for s, st in streams.items()
        }
        assert build(settings).success
        return verdicts

    first = cycle()
    assert first["BTC/USD"].status == "blocked" and first["ETH/USD"].passed
    assert "no reverting spike" in first["BTC/USD"].reason
    assert "2018-04-03 20:00" in first["BTC/USD"].reason
    assert gate_status(wh, streams["BTC/USD"], checkpoint=RAW) == "blocked"
    newest = _features(settings)
    assert "BTC/USD" not in newest  # no features at all for the blocked stream
    assert newest["ETH/USD"].replace(tzinfo=None) == datetime(2018, 5, 31, 20)

    second = cycle(bars=3)
    assert second["BTC/USD"].status == "blocked"
    assert _features(settings)["ETH/USD"].replace(tzinfo=None) == datetime(2018, 6, 1, 8)

    con = duckdb.connect(str(settings.warehouse_path), read_only=True)
    alerts = con.sql(
        "SELECT severity, message FROM ops.alerts WHERE message LIKE '%BTC%'"
    ).fetchall()
    con.close()
    assert len(alerts) == 2 and all(sev == "critical" and "BLOCKED" in msg for sev, msg in alerts)
    assert first["ETH/USD"].quarantined == 1  # the wick to 0.10, kept out of the features

    # the operator turns quarantine on: the bad print leaves, BTC passes and catches up
    fixed = settings.model_copy(
        update={"quality": settings.quality.model_copy(update={"quarantine": True})}
    )
    verdict = run_gate(wh, fixed.quality, streams["BTC/USD"], checkpoint=RAW, validator=validator)
    assert verdict.passed and verdict.quarantined == 1
    assert build(fixed).success
    assert _features(fixed)["BTC/USD"].replace(tzinfo=None) == datetime(2018, 6, 1, 8)


def test_a_level_shift_blocks_the_stream_until_an_operator_releases_it(tmp_path):
    """ETH continues at 1/100 of its scale from one bar on (a unit error, say): the raw gate
    blocks the stream and quarantines nothing — never one bar after another — and names
    the bar; the operator's audited release makes it the new level and the stream passes."""
    import duckdb

    from aaiti.market import Stream
    from aaiti.quality.release import release_level
    from tests.support.planted import planted_cycle, write_planted_sample

    sample = write_planted_sample(tmp_path / "planted")
    path = sample / "coinbase" / "ETH-USD" / "4h.parquet"
    f = pd.read_parquet(path)
    at = f["ts"].iloc[3000]
    f.loc[f["ts"] >= at, ["open", "high", "low", "close"]] /= 100
    f.to_parquet(path, index=False)
    settings = load_settings(data_dir=tmp_path / "data", sample_dir=sample)
    planted_cycle(settings)

    def gate(symbol: str):
        con = duckdb.connect(str(settings.warehouse_path), read_only=True)
        try:
            return con.execute(
                "SELECT status, reason, quarantined FROM ops.stream_gates "
                "WHERE symbol = ? AND checkpoint = 'raw'",
                [symbol],
            ).fetchall()[0]
        finally:
            con.close()

    status, reason, quarantined = gate("ETH/USD")
    assert status == "blocked" and quarantined == 0
    assert "persistent level shift" in reason and str(at.date()) in reason
    assert gate("BTC/USD")[0] == "passed"
    shown = _status_lines(settings)  # `aaiti status` says it, with the reason, as the dashboard
    assert "BLOCKED" in shown["ETH/USD"] and "persistent level" in shown["all"]
    assert "BLOCKED" not in shown["BTC/USD"] and "ok" in shown["BTC/USD"]

    done = release_level(
        Warehouse.from_settings(settings),
        Stream("coinbase", "ETH/USD", "4h"),
        actor="ops",
        reason="unit changed upstream",
    )
    assert done.ts == at
    planted_cycle(settings)
    assert gate("ETH/USD")[:2] == ("passed", None)
    con = duckdb.connect(str(settings.warehouse_path), read_only=True)
    try:
        audit = con.sql("SELECT actor, action, detail FROM audit.log").fetchall()
    finally:
        con.close()
    assert audit[-1][:2] == ("ops", "quality release")
    assert "unit changed upstream" in audit[-1][2]


def _status_lines(settings) -> dict[str, str]:
    """``aaiti status``'s row per symbol (wide enough that no cell is cut)."""
    from typer.testing import CliRunner

    from aaiti.cli import app

    env = {"AAITI_DATA_DIR": str(settings.data_dir), "AAITI_SAMPLE_DIR": str(settings.sample_dir),
           "COLUMNS": "400"}  # fmt: skip
    result = CliRunner().invoke(app, ["status"], env=env)
    assert result.exit_code == 0, result.output
    rows = {s: line for line in result.output.splitlines() for s in ("BTC/USD", "ETH/USD")
            if f" {s} " in line}  # fmt: skip
    return rows | {"all": " ".join(result.output.replace("│", " ").split())}
