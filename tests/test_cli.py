"""The command line: clear errors with non-zero exit codes, a summary that says what happened."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from typer.testing import CliRunner

from aaiti.cli import app
from aaiti.cli.errors import EXIT_BAD_INPUT, EXIT_WAREHOUSE_BUSY

runner = CliRunner()


@pytest.fixture
def env(settings, monkeypatch):
    monkeypatch.setenv("AAITI_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("AAITI_SAMPLE_DIR", str(settings.sample_dir))
    return settings


def _run(*args):
    return runner.invoke(app, list(args))


def test_ingest_prints_a_summary_and_where_to_query(env):
    result = _run("ingest")
    assert result.exit_code == 0, result.output
    assert "BTC/USD 4h" in result.output and "ETH/USD 4h" in result.output
    assert "duckdb -readonly" in result.output
    assert env.serving_path.exists()
    status = _run("status")
    assert status.exit_code == 0
    assert "BTC/USD" in status.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["ingest", "--source", "ccxt:binanse"],
            "unknown exchange id 'binanse'; did you mean 'binance'",
        ),
        (["ingest", "--symbols", "BTC/USDD"], "unknown symbol 'BTC/USDD'"),
        (["ingest", "--timeframe", "3h"], "unsupported timeframe '3h'; supported: 1m, 5m"),
        (
            ["ingest", "--timeframe", "5m"],
            "timeframe '5m' is not offered by the sample for coinbase BTC/USD; offered: 1m, 1h, 4h, 1d",
        ),
        (["ingest", "--source", "kraken"], "unknown source 'kraken'; accepted: sample, synthetic"),
        (["backfill", "--since", "2024-01-01", "--until", "2023-01-01"], "must be before --until"),
        (["validate", "--checkpoint", "nope"], "unknown checkpoint 'nope'; accepted: raw"),
    ],
)
def test_bad_input_is_a_clear_error_and_exit_code_2(env, args, message):
    result = _run(*args)
    assert result.exit_code == EXIT_BAD_INPUT, result.output
    assert message in result.output
    assert not env.warehouse_path.exists()  # nothing half-written


def test_unparseable_date_is_refused(env):
    result = _run("backfill", "--since", "yesterday-ish")
    assert result.exit_code == 2
    assert "YYYY-MM-DD" in result.output


def test_a_held_warehouse_makes_ingest_wait_then_name_the_holder(env):
    from aaiti.warehouse import Warehouse

    lock = Warehouse.from_settings(env).lock_path
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            textwrap.dedent(f"""
            import time
            from pathlib import Path
            from aaiti.warehouse import writer_lock
            with writer_lock(Path({str(lock)!r}), timeout_s=5, purpose="nightly backfill"):
                print("held", flush=True)
                time.sleep(60)
        """),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        result = subprocess.run(
            [sys.executable, "-m", "aaiti.cli", "ingest"],
            env={**os.environ, "AAITI_WRITER_LOCK_TIMEOUT_S": "1"},
            capture_output=True,
            text=True,
            timeout=120,
        )
    finally:
        holder.kill()
        holder.wait()
    assert result.returncode == EXIT_WAREHOUSE_BUSY, result.stderr
    assert f"held by another writer: pid {holder.pid}" in result.stderr
    assert "nightly backfill" in result.stderr


def test_backfill_of_the_sample_respects_the_replay_clock(env):
    result = _run("backfill", "--since", "2024-01-01", "--symbols", "BTC/USD")
    assert result.exit_code == 0, result.output
    from aaiti.warehouse import Warehouse

    con = Warehouse.from_settings(env).read()
    first, last, n = con.execute("SELECT min(ts), max(ts), count(*) FROM raw.ohlcv").fetchall()[0]
    con.close()
    assert (first.year, first.month, first.day) == (2024, 1, 1)
    assert (last.year, last.month, last.day, last.hour) == (2024, 12, 31, 20)  # replay start: 2025
    assert n == 6 * 366


def test_live_trading_without_keys_is_refused_before_anything_runs(env, monkeypatch):
    monkeypatch.setenv("AAITI_LIVE_TRADING", "true")
    result = _run("trade")
    assert result.exit_code == 2
    assert "AAITI_LIVE_EXCHANGE, AAITI_LIVE_API_KEY, AAITI_LIVE_API_SECRET" in result.output


def test_evaluate_without_a_champion_is_one_line_and_exit_2(env):
    result = _run("evaluate", "--json")
    assert result.exit_code == EXIT_BAD_INPUT
    lines = [x for x in result.output.splitlines() if x.strip()]
    assert len(lines) == 1 and "no champion for aaiti-4h" in lines[0] and "aaiti train" in lines[0]
    assert "Traceback" not in result.output


def test_each_stage_command_records_the_settings_it_ran_with_and_what_changed(env, monkeypatch):
    """audit.run_settings: a hash, the values with secrets only as set/unset, and the
    settings that changed since the previous run as [before, after]."""
    import json

    import duckdb

    assert _run("ingest").exit_code == 0  # no warehouse before it: nothing recorded
    assert _run("ingest").exit_code == 0
    monkeypatch.setenv("AAITI_ALERT_URLS", "json://127.0.0.1:9/hook/S3CRET-T0KEN")
    monkeypatch.setenv("AAITI_QUALITY_MAX_TIMEFRAME_MISMATCH", "0.02")
    result = _run("ingest")
    assert result.exit_code == 0, result.output
    con = duckdb.connect(str(env.warehouse_path), read_only=True)
    try:
        rows = con.sql(
            "SELECT run, settings_hash, changed, settings FROM audit.run_settings "
            "ORDER BY recorded_at"
        ).fetchall()
    finally:
        con.close()
    assert [r[0] for r in rows] == ["aaiti ingest", "aaiti ingest"]
    first, second = rows
    assert json.loads(first[2])["symbols"] == [None, ["BTC/USD", "ETH/USD"]]  # all, first time
    assert json.loads(second[2]) == {
        "alert_urls": ["unset", "set"],
        "quality_max_timeframe_mismatch": [0.01, 0.02],
    }
    assert first[1] != second[1]
    assert "S3CRET" not in second[2] + second[3]


def test_a_bug_is_said_as_an_internal_error_never_as_bad_input(env, monkeypatch, tmp_path):
    """A deliberate bug in a stage (a TypeError, a plain ValueError from the code) reaches
    the user as an internal error: one line that says so, exit 70, the traceback in a file
    — not as a mistake of theirs (exit 2)."""
    from aaiti.cli import trading as trading_cmds
    from aaiti.cli.errors import EXIT_INTERNAL
    from aaiti.risk import job

    monkeypatch.setenv("AAITI_DATA_DIR", str(tmp_path))
    for bug in (TypeError("unsupported operand"), ValueError("math domain error")):

        def broken(*args, _bug=bug, **kwargs):
            raise _bug

        monkeypatch.setattr(job, "compute_risk", broken)
        monkeypatch.setattr(trading_cmds, "compute_risk", broken, raising=False)
        result = _run("risk")
        assert result.exit_code == EXIT_INTERNAL, result.output
        (line,) = result.output.strip().splitlines()
        assert line.startswith("error: internal error in AAITI (a bug, not your input)")
        assert type(bug).__name__ in line and "traceback in" in line
        written = Path(line.rsplit("traceback in ", 1)[1]).read_text()
        assert str(bug) in written and "Traceback" in written


def test_a_mistake_of_the_user_is_still_exit_2_and_one_line(env, monkeypatch):
    """The same command given a setting it refuses: the user's to change, exit 2."""
    monkeypatch.setenv("AAITI_TRADING_ACCOUNT", "demo")
    monkeypatch.setenv("AAITI_SYMBOLS", "BTC/USD,BTC/USDT")
    result = _run("risk")
    assert result.exit_code == EXIT_BAD_INPUT, result.output
    assert "internal error" not in result.output


def test_the_aaiti_command_says_a_bug_outside_any_mapping_in_one_line(tmp_path):
    """``aaiti``'s entry point itself: an exception no command maps is one line, exit 70."""
    code = textwrap.dedent(
        """
        import sys
        import aaiti.cli.app
        app_module = sys.modules["aaiti.cli.app"]
        def broken():
            raise KeyError("no such column")
        app_module.app = broken
        sys.argv = ["aaiti", "status"]
        app_module.main()
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env={**os.environ, "AAITI_DATA_DIR": str(tmp_path)},
        timeout=60,
    )
    assert done.returncode == 70, done.stderr
    assert done.stderr.count("\n") == 1 and "internal error" in done.stderr
    assert "Traceback" not in done.stderr
