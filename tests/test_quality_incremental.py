"""Incremental validation judges only the new rows plus the window the rules need, and
reaches the same verdicts, cycle after cycle, as judging the whole history each time."""

from __future__ import annotations

import sys
import types
from datetime import UTC, datetime, timedelta

import duckdb
import numpy as np
import pandas as pd
import pytest

from aaiti.config import load_settings
from aaiti.market import Stream
from aaiti.market.store import upsert_candles
from aaiti.quality.gate import run_gates
from aaiti.quality.verdicts import RAW, validator_for
from aaiti.warehouse import Warehouse
from tests.conftest import REPO

NOW = datetime(2030, 1, 1, tzinfo=UTC)
STREAMS = [Stream("testex", "AAA/USD", "1h"), Stream("testex", "BBB/USD", "1h")]


def _candles(stream: Stream, n: int, *, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    c = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, n)))
    o = np.concatenate([[c[0]], c[:-1]])
    f = pd.DataFrame(
        {
            "exchange": stream.exchange,
            "symbol": stream.symbol,
            "timeframe": stream.timeframe,
            "ts": pd.date_range("2024-01-01", periods=n, freq="1h", tz="UTC"),
            "open": o,
            "high": np.maximum(o, c) * 1.003,
            "low": np.minimum(o, c) * 0.997,
            "close": c,
            "volume": np.exp(rng.normal(3, 0.7, n)),
        }
    )
    return f


def _faulty(stream: Stream, n: int, *, seed: int) -> pd.DataFrame:
    """Every kind of fault, at places the cycles below reach one bar at a time."""
    f = _candles(stream, n, seed=seed)
    f.loc[205, ["close", "high"]] = f.loc[205, "close"] * 8  # a reverting spike
    f.loc[212, "high"] *= 40  # a wick alone
    f.loc[218, "volume"] *= 1e5  # a volume unit error, one bar
    flat = f.loc[222, "close"]
    f.loc[223:232, ["open", "high", "low", "close"]] = flat  # a frozen feed, 10 bars
    f.loc[236:237, ["open", "high", "low", "close"]] *= 1 / 50  # a two-bar spike
    return f


def _arrivals(f: pd.DataFrame) -> list[pd.DataFrame]:
    """History to bar 200, then three bars per cycle, with one cycle of five bars."""
    out = [f.iloc[:200]]
    i = 200
    while i < len(f):
        k = 5 if i == 224 else 3
        out.append(f.iloc[i : i + k])
        i += k
    return out


def _state(settings) -> tuple[set, dict]:
    con = duckdb.connect(str(settings.warehouse_path), read_only=True)
    try:
        quarantined = set(
            con.sql("SELECT symbol, ts FROM raw.ohlcv_quarantine WHERE stage = 'gate'").fetchall()
        )
        status = dict(con.sql("SELECT symbol, status FROM ops.stream_gates").fetchall())
    finally:
        con.close()
    return quarantined, status


@pytest.mark.integration
def test_incremental_reaches_the_verdicts_of_the_whole_history_cycle_by_cycle(tmp_path):
    frames = {s: _faulty(s, 245, seed=i) for i, s in enumerate(STREAMS)}
    arrivals = {s: _arrivals(f) for s, f in frames.items()}
    runs = {}
    for mode in ("full", "incremental"):
        settings = load_settings(  # short runs, so that a frozen feed fits in few cycles
            data_dir=tmp_path / mode,
            quality_incremental=(mode == "incremental"),
            quality_max_stale_run=6,
            quality_max_zero_volume_run=6,
        )
        runs[mode] = (
            settings,
            Warehouse.from_settings(settings),
            validator_for(settings, docs=False),
        )
    modes, judged, last = [], [], {}
    for cycle in range(len(arrivals[STREAMS[0]])):
        at = NOW + timedelta(hours=cycle)
        seen = {}
        for mode, (settings, wh, validator) in runs.items():
            with wh.writer() as con:
                for s in STREAMS:
                    upsert_candles(con, arrivals[s][cycle], batch_id=f"c{cycle}", ingested_at=at)
            results = run_gates(
                wh, settings.quality, STREAMS, checkpoint=RAW, validator=validator, now=at
            )
            seen[mode] = _state(settings)
            if mode == "incremental":
                modes += [(r.mode, last.get(r.stream)) for r in results]
                last = {r.stream: r.status for r in results}
                judged += [r.rows_judged for r in results if r.mode == "incremental"]
        assert seen["incremental"] == seen["full"], f"cycle {cycle}"
    quarantined, status = seen["full"]
    for s, f in frames.items():
        got = sorted(ts for sym, ts in quarantined if sym == s.symbol)
        expected = f["ts"].iloc[[205, 212, 218, *range(223, 230), 236, 237]]
        assert set(expected) <= set(got), s
    assert status == {"AAA/USD": "passed", "BBB/USD": "passed"}
    # the whole history only on the first cycle and after a blocked verdict
    assert all((m == "full") == (prev in (None, "blocked")) for m, prev in modes)
    assert sum(m == "incremental" for m, _ in modes) >= 20
    assert max(judged) < 20  # the new bars plus the rejudged window, never the history


@pytest.mark.integration
def test_a_corrected_old_bar_and_changed_rules_are_judged_again(tmp_path):
    settings = load_settings(data_dir=tmp_path / "d")
    wh = Warehouse.from_settings(settings)
    validator = validator_for(settings, docs=False)
    stream = STREAMS[0]
    f = _candles(stream, 300, seed=3)
    with wh.writer() as con:
        upsert_candles(con, f, batch_id="a", ingested_at=NOW)
    (first,) = run_gates(
        wh, settings.quality, [stream], checkpoint=RAW, validator=validator, now=NOW
    )
    assert (first.mode, first.status, first.rows_judged) == ("full", "passed", 300)
    (idle,) = run_gates(
        wh, settings.quality, [stream], checkpoint=RAW, validator=validator, now=NOW
    )
    assert idle.mode == "unchanged"

    fixed = f.iloc[[100]].copy()  # the source resends an old bar, now a bad print
    fixed[["close", "high"]] = fixed[["close", "high"]] * 9
    with wh.writer() as con:
        upsert_candles(con, fixed, batch_id="b", ingested_at=NOW + timedelta(hours=1))
    (again,) = run_gates(
        wh, settings.quality, [stream], checkpoint=RAW, validator=validator, now=NOW
    )
    assert again.mode == "incremental" and again.quarantined == 1
    assert again.rows_judged < 300

    stricter = load_settings(data_dir=tmp_path / "d", quality_max_spike=0.2)
    (redo,) = run_gates(
        wh, stricter.quality, [stream], checkpoint=RAW, validator=validator, now=NOW
    )
    assert redo.mode == "full" and redo.rows_judged == 299


def _results(settings) -> list[tuple]:
    """Every expectation's result per stream, without what differs between two runs."""
    sql = "SELECT * EXCLUDE (run_id, validated_at) FROM ops.quality_results ORDER BY ALL"
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        return con.sql(sql).fetchall()


@pytest.mark.integration
def test_gates_on_dask_workers_reach_the_verdicts_judged_here(tmp_path, monkeypatch):
    """AAITI_DASK_ADDRESS: GX runs on a LocalCluster's two workers, each in a GX project in
    memory. Verdicts, quarantined rows and every expectation's result per stream equal those
    judged here, and every result computed there lands in this data folder's GX store and
    Data Docs."""
    from distributed import Client, LocalCluster, get_task_stream

    monkeypatch.setenv("PYTHONPATH", str(REPO))  # the workers import aaiti
    monkeypatch.setitem(sys.modules, "__main__", types.ModuleType("__main__"))  # see transform
    streams = [Stream("testex", f"{c}/USD", "1h") for c in ("AAA", "BBB", "CCC", "DDD")]
    frames = {s: _faulty(s, 245, seed=i) for i, s in enumerate(streams)}
    seen, tasks = {}, {}
    with (
        LocalCluster(n_workers=2, processes=True, threads_per_worker=1, host="127.0.0.1",
                     dashboard_address=None) as cluster,
        Client(cluster) as client,
    ):  # fmt: skip
        for where, address in (("here", None), ("there", cluster.scheduler_address)):
            settings = load_settings(data_dir=tmp_path / where, dask_address=address)
            wh = Warehouse.from_settings(settings)
            with wh.writer() as con:
                for s in streams:
                    upsert_candles(con, frames[s], batch_id="a", ingested_at=NOW)
            with get_task_stream(client) as ran:
                results = run_gates(
                    wh, settings.quality, streams, checkpoint=RAW,
                    validator=validator_for(settings), now=NOW,
                )  # fmt: skip
            tasks[where] = [t for t in ran.data if "validate_detached" in t["key"]]
            verdicts = [(r.stream, r.status, r.quarantined, r.reason) for r in results]
            seen[where] = (verdicts, _state(settings), _results(settings))
            gx_dir = settings.gx_dir
        workers = set(cluster.scheduler_info["workers"])
    assert seen["there"] == seen["here"]
    verdicts, (quarantined, _), rows = seen["here"]
    assert len(quarantined) >= 4 * 5 and len(rows) > 4 * 35
    assert all(q > 0 for _, _, q, _ in verdicts)
    assert not tasks["here"]
    assert {t["worker"] for t in tasks["there"]} == workers
    assert len(tasks["there"]) == 4  # a run per worker, on the first pass and after quarantine
    stored = list((gx_dir / "gx" / "uncommitted" / "validations").rglob("*.json"))
    pages = list((gx_dir / "gx" / "uncommitted" / "data_docs").rglob("validations/**/*.html"))
    assert len(stored) == len(pages) == len(tasks["there"])


def test_a_timeframes_streams_split_into_runs_of_about_equal_rows():
    from aaiti.quality.gate import balanced_runs

    sizes = {"A": 900, "B": 500, "C": 400, "D": 300, "E": 100}
    group = {
        Stream("x", f"{k}/USD", "1m"): pd.DataFrame({"ts": range(n)}) for k, n in sizes.items()
    }
    two = balanced_runs(group, 2)
    assert sorted(sum(len(f) for f in p.values()) for p in two) == [1000, 1200]
    assert sorted(map(str, (s for p in two for s in p))) == sorted(map(str, group))  # once each
    assert balanced_runs(group, 1) == [dict(sorted(group.items(), key=lambda kv: str(kv[0])))]
    assert len(balanced_runs(group, 8)) == 5 and balanced_runs({}, 4) == []
