"""The candle store on real data: idempotent upserts, quarantine, gaps, market replay."""

from __future__ import annotations

from datetime import UTC, datetime

import pandas as pd

from aaiti.market import ReplayConfig, find_gaps, ingest_stream, split_valid, upsert_candles
from aaiti.market.sample import SampleSource
from tests.conftest import sample_frame


def _stored(warehouse, stream=None) -> pd.DataFrame:
    with warehouse.writer() as con:
        sql = (
            "SELECT exchange, symbol, timeframe, ts, open, high, low, close, volume FROM raw.ohlcv"
        )
        return con.execute(sql + " ORDER BY ALL").fetch_df()


NOW = datetime.now(UTC)  # the tests' clock: "in the future" is after it


def test_upsert_is_idempotent_and_counts_what_changed(warehouse):
    frame = sample_frame("coinbase", "ETH-USD", "4h")
    valid = split_valid(frame, stream=_stream("ETH/USD"), now=NOW).valid
    with warehouse.writer() as con:
        first = upsert_candles(con, valid.head(1000), batch_id="one")
        second = upsert_candles(con, valid, batch_id="two")
        again = upsert_candles(con, valid, batch_id="three")
        changed = valid.copy()
        changed.loc[10, "close"] = changed.loc[10, "close"] * 1.001
        changed.loc[10, "high"] = max(changed.loc[10, "high"], changed.loc[10, "close"])
        fixed = upsert_candles(con, changed, batch_id="four")
        batches = dict(
            con.execute("SELECT ingest_batch_id, count(*) FROM raw.ohlcv GROUP BY 1").fetchall()
        )
    assert (first.inserted, first.updated, first.unchanged) == (1000, 0, 0)
    assert (second.inserted, second.updated, second.unchanged) == (len(valid) - 1000, 0, 1000)
    assert (again.inserted, again.updated, again.unchanged) == (0, 0, len(valid))
    assert (fixed.inserted, fixed.updated) == (0, 1)
    # identical rows keep the batch that really wrote them; only the changed row moved
    assert batches == {"one": 999, "two": len(valid) - 1000, "four": 1}


def _stream(symbol):
    from aaiti.market import Stream

    return Stream("coinbase", symbol, "4h")


def test_gaps_found_are_the_real_holes_listed_in_sources_md(warehouse):
    valid = split_valid(
        sample_frame("coinbase", "BTC-USD", "4h"), stream=_stream("BTC/USD"), now=NOW
    ).valid
    with warehouse.writer() as con:
        upsert_candles(con, valid, batch_id="all")
        gaps = find_gaps(con, stream=_stream("BTC/USD"))
    # SOURCES.md: 5 missing bars — 2017-02-28 20:00, 2018-08-10 04:00..12:00, 2025-10-25 16:00
    assert [(g.first.strftime("%Y-%m-%d %H:%M"), g.missing) for g in gaps] == [
        ("2017-02-28 20:00", 1),
        ("2018-08-10 04:00", 3),
        ("2025-10-25 16:00", 1),
    ]


def test_market_replay_releases_history_then_bar_by_bar(warehouse, settings):
    src = SampleSource(settings.sample_dir, exchange="coinbase")
    stream = src.validate_stream("BTC/USD", "4h")
    replay = ReplayConfig(datetime(2025, 1, 1, tzinfo=UTC), bars_per_run=2)
    history = src.candles(stream)
    first = ingest_stream(warehouse, src, stream, replay=replay)
    assert first.inserted == int((history["ts"] < pd.Timestamp("2025-01-01", tz="UTC")).sum())
    assert first.newest_ts == datetime(2024, 12, 31, 20, tzinfo=UTC)
    second = ingest_stream(warehouse, src, stream, replay=replay)
    assert second.inserted == 2
    assert second.newest_ts == datetime(2025, 1, 1, 4, tzinfo=UTC)
    stored = _stored(warehouse)
    assert len(stored) == first.inserted + 2
    expected = history[history["ts"] <= pd.Timestamp("2025-01-01 04:00", tz="UTC")]
    pd.testing.assert_frame_equal(
        stored.reset_index(drop=True), expected.reset_index(drop=True), check_dtype=False
    )
    with warehouse.writer() as con:
        clock = con.execute("SELECT released_until FROM ops.replay_clock").fetchone()[0]
        runs = con.execute(
            "SELECT status, inserted FROM ops.ingest_runs ORDER BY started_at"
        ).fetchall()
    assert clock == datetime(2025, 1, 1, 8, tzinfo=UTC)
    assert runs == [("ok", first.inserted), ("ok", 2)]


def test_replay_says_when_the_sample_is_exhausted(warehouse, settings):
    src = SampleSource(settings.sample_dir, exchange="coinbase")
    stream = src.validate_stream("BTC/USD", "4h")
    replay = ReplayConfig(datetime(2025, 10, 27, 12, tzinfo=UTC), bars_per_run=5)
    ingest_stream(warehouse, src, stream, replay=replay)
    last = ingest_stream(warehouse, src, stream, replay=replay)
    assert last.inserted == 3 and last.replay_exhausted
    after = ingest_stream(warehouse, src, stream, replay=replay)
    assert after.inserted == 0 and after.replay_exhausted


def test_invalid_rows_are_quarantined_never_stored(warehouse, settings):
    class Corrupting(SampleSource):
        def fetch(self, stream, *, since=None, until=None):
            for page in super().fetch(stream, since=since, until=until):
                page = page.astype({"close": object})
                page.loc[5, "close"] = "n/a"
                page.loc[6, "low"] = -1.0
                yield page

    src = Corrupting(settings.sample_dir, exchange="coinbase")
    stream = src.validate_stream("ETH/USD", "4h")
    report = ingest_stream(
        warehouse, src, stream, replay=ReplayConfig(datetime(2017, 1, 1, tzinfo=UTC), 1)
    )
    assert report.rejected == 2
    with warehouse.writer() as con:
        rows = con.execute(
            "SELECT ts, reason, raw_record FROM raw.ohlcv_quarantine ORDER BY ts"
        ).fetchall()
        stored_ts = {r[0] for r in con.execute("SELECT ts FROM raw.ohlcv").fetchall()}
    assert [r[1] for r in rows] == ["close is not a number", "low is not positive"]
    assert '"close": "n/a"' in rows[0][2]
    assert not ({r[0] for r in rows} & stored_ts)
    assert report.inserted == report.fetched - 2
