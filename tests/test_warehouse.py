"""Warehouse: migrations, one writer, transactional writes, the serving snapshot."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time

import duckdb
import pytest

from aaiti.warehouse import MigrationError, SnapshotMissingError, WarehouseBusyError
from aaiti.warehouse import migrations as migrations_mod


def test_migrations_create_the_schemas_once(warehouse):
    assert warehouse.migrate() == list(range(1, 20))
    assert warehouse.migrate() == []
    with warehouse.writer() as con:
        schemas = {
            r[0]
            for r in con.execute("SELECT schema_name FROM information_schema.schemata").fetchall()
        }
        tables = {
            f"{s}.{t}"
            for s, t in con.execute(
                "SELECT table_schema, table_name FROM information_schema.tables"
            ).fetchall()
        }
    assert {"raw", "ops", "ml", "trading", "risk", "monitoring", "audit", "strategy"} <= schemas
    assert {
        "raw.ohlcv",
        "raw.ohlcv_quarantine",
        "ops.ingest_runs",
        "ops.breaker_state",
        "ops.replay_clock",
        "ops.schema_migrations",
        "audit.log",
    } <= tables


def test_a_stream_is_blocked_by_its_raw_gate_or_its_own_timeframe_gate(warehouse):
    warehouse.migrate()
    with warehouse.writer() as con:
        con.execute(
            "INSERT INTO ops.stream_gates (exchange, symbol, timeframe, checkpoint, status, run_id, updated_at)"
            " VALUES ('x', 'BTC/USDT', '1m', 'raw', 'blocked', 'r', now()),"
            " ('x', 'ETH/USDT', '1h', 'features', 'blocked', 'r', now()),"
            " ('x', 'SOL/USDT', '1h', 'raw', 'passed', 'r', now())"
        )
        blocked = dict(
            con.execute(
                "SELECT s || ' ' || tf, ops.stream_blocked('x', s, tf) FROM (VALUES"
                " ('BTC/USDT', '1h'), ('ETH/USDT', '1h'), ('ETH/USDT', '1d'), ('SOL/USDT', '1h'))"
                " AS t(s, tf)"
            ).fetchall()
        )
    assert blocked == {
        "BTC/USDT 1h": True,  # its raw gate blocks every timeframe
        "ETH/USDT 1h": True,  # this timeframe's feature gate
        "ETH/USDT 1d": False,  # another timeframe's feature gate does not
        "SOL/USDT 1h": False,  # passed is not blocked
    }


def test_an_edited_applied_migration_is_refused(warehouse, monkeypatch):
    warehouse.migrate()
    real = migrations_mod.available_migrations()
    edited = [migrations_mod.Migration(m.version, m.name, m.sql + "\n-- edited") for m in real]
    monkeypatch.setattr(migrations_mod, "available_migrations", lambda: edited)
    with pytest.raises(MigrationError, match="was changed after it was applied"):
        warehouse.migrate()


def test_a_failed_write_leaves_nothing_behind(warehouse):
    warehouse.migrate()
    with pytest.raises(RuntimeError), warehouse.writer() as con:
        con.execute("INSERT INTO audit.log VALUES (now(), 'test', 'half', NULL)")
        raise RuntimeError("boom")
    with warehouse.writer() as con:
        assert con.execute("SELECT count(*) FROM audit.log").fetchone()[0] == 0


def test_readers_use_the_snapshot_read_only(warehouse):
    with pytest.raises(SnapshotMissingError, match="no serving snapshot"):
        warehouse.read()
    with warehouse.writer(publish=True) as con:
        con.execute("INSERT INTO audit.log VALUES (now(), 'test', 'publish', NULL)")
    reader = warehouse.read()
    try:
        assert reader.execute("SELECT count(*) FROM audit.log").fetchone()[0] == 1
        with pytest.raises(duckdb.Error, match="read-only"):
            reader.execute("INSERT INTO audit.log VALUES (now(), 'x', 'y', NULL)")
        # the writer's file stays writable while a reader holds the snapshot
        with warehouse.writer(publish=True) as con:
            con.execute("INSERT INTO audit.log VALUES (now(), 'test', 'again', NULL)")
        assert reader.execute("SELECT count(*) FROM audit.log").fetchone()[0] == 1  # old snapshot
    finally:
        reader.close()
    fresh = warehouse.read()
    assert fresh.execute("SELECT count(*) FROM audit.log").fetchone()[0] == 2
    fresh.close()


def test_a_second_writer_waits_then_names_the_holder(warehouse, tmp_path):
    warehouse.migrate()
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            textwrap.dedent(f"""
            import time
            from pathlib import Path
            from aaiti.warehouse import writer_lock
            with writer_lock(Path({str(warehouse.lock_path)!r}), timeout_s=5, purpose="holder-test"):
                print("held", flush=True)
                time.sleep(30)
        """),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        impatient = type(warehouse)(warehouse.path, warehouse.serving_path, lock_timeout_s=0.5)
        started = time.monotonic()
        with pytest.raises(WarehouseBusyError) as info, impatient.writer():
            pass
        assert time.monotonic() - started >= 0.5
        assert f"pid {holder.pid}" in str(info.value)
        assert "holder-test" in str(info.value)
    finally:
        holder.kill()
        holder.wait()
    with warehouse.writer():  # the kernel released the dead holder's lock
        pass


WRITER = """
import sys
from datetime import UTC, datetime
from pathlib import Path
from aaiti.market import ReplayConfig, ingest_stream
from aaiti.market.sample import SampleSource
from aaiti.warehouse import Warehouse

wh = Warehouse(Path(sys.argv[1]), Path(sys.argv[2]), lock_timeout_s=30)
src = SampleSource(Path(sys.argv[3]), exchange="coinbase")
streams = [src.validate_stream(s, "4h") for s in ("BTC/USD", "ETH/USD")]
replay = ReplayConfig(datetime(2025, 6, 1, tzinfo=UTC), 1)
for i in range(int(sys.argv[4])):
    for stream in streams:
        ingest_stream(wh, src, stream, replay=replay)
    wh.publish_snapshot()
print("writer done", flush=True)
"""

READER = """
import sys, time
import duckdb
path, deadline = sys.argv[1], time.time() + float(sys.argv[2])
queries = errors = 0
last = 0
give_up = time.time() + 120  # a loaded machine: the writer's first rows may come late
while time.time() < deadline or (last == 0 and time.time() < give_up):
    try:
        con = duckdb.connect(path, read_only=True)
        n = con.execute("SELECT count(*) FROM raw.ohlcv").fetchone()[0]
        con.close()
    except Exception as err:
        errors += 1
        print("ERROR", type(err).__name__, err, flush=True)
        continue
    assert n >= last, (n, last)  # a reader never sees the warehouse go back
    last = n
    queries += 1
print("reader", queries, errors, last, flush=True)
"""


@pytest.mark.integration
def test_reader_and_writer_processes_never_fail(warehouse, settings):
    """A reader queries the snapshot in a loop while a writer ingests and publishes."""
    with warehouse.writer(publish=True):
        pass
    writer = subprocess.Popen(
        [
            sys.executable,
            "-c",
            WRITER,
            str(warehouse.path),
            str(warehouse.serving_path),
            str(settings.sample_dir),
            "25",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    reader = subprocess.Popen(
        [sys.executable, "-c", READER, str(warehouse.serving_path), "8"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    w_out, w_err = writer.communicate(timeout=180)
    r_out, r_err = reader.communicate(timeout=180)
    assert writer.returncode == 0, w_err
    assert "writer done" in w_out
    assert reader.returncode == 0, r_err
    assert "ERROR" not in r_out, r_out
    _, queries, errors, last = r_out.split()
    assert int(queries) > 20 and int(errors) == 0
    final = warehouse.read()
    total = final.execute("SELECT count(*) FROM raw.ohlcv").fetchone()[0]
    final.close()
    assert total >= int(last) > 0
