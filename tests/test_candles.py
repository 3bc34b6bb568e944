"""Rows that are not valid candles never pass; valid real candles all pass."""

from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pytest

from aaiti.market import Stream, UnsupportedTimeframeError, split_valid, timeframe_ms
from tests.conftest import sample_frame

STREAM = Stream("coinbase", "BTC/USD", "4h")

NOW = datetime.now(UTC)  # the tests' clock: "in the future" is after it


def test_the_real_sample_is_all_valid():
    frame = sample_frame("coinbase", "BTC-USD", "4h")
    checked = split_valid(frame, stream=STREAM, now=NOW)
    assert len(checked.valid) == len(frame) == 20_694
    assert checked.rejected.empty
    pd.testing.assert_frame_equal(
        checked.valid.reset_index(drop=True), frame.reset_index(drop=True), check_dtype=False
    )


@pytest.mark.parametrize(
    ("column", "value", "reason"),
    [
        ("open", np.nan, "open is missing"),
        ("close", -5.0, "close is not positive"),
        ("high", 1.0, "high < low"),
        ("open", 10_000.0, "open outside [low, high]"),
        ("close", 1.0, "close outside [low, high]"),
        ("volume", -1.0, "volume is negative"),
        ("volume", "lots", "volume is not a number"),
        ("low", 0.0, "low is not positive"),
        ("symbol", "ETH/USD", "symbol is not BTC/USD"),
        ("timeframe", "1h", "timeframe is not 4h"),
        ("exchange", "binance", "exchange is not coinbase"),
    ],
)
def test_each_kind_of_bad_row_is_rejected_with_its_reason(column, value, reason):
    frame = sample_frame("coinbase", "BTC-USD", "4h").head(50).astype({column: object})
    frame.loc[7, column] = value
    checked = split_valid(frame, stream=STREAM, now=NOW)
    assert len(checked.valid) == 49
    assert len(checked.rejected) == 1
    assert reason in checked.rejected.loc[0, "reason"]
    assert checked.rejected.loc[0, "ts"] == frame.loc[7, "ts"]
    assert '"' + column + '"' in checked.rejected.loc[0, "raw_record"]


def test_misaligned_and_future_timestamps_are_rejected():
    frame = sample_frame("coinbase", "BTC-USD", "4h").head(10)
    frame.loc[3, "ts"] = frame.loc[3, "ts"] + pd.Timedelta(minutes=1)
    frame.loc[4, "ts"] = pd.Timestamp("2030-01-01", tz="UTC")
    checked = split_valid(frame, stream=STREAM, now=datetime(2026, 1, 1, tzinfo=UTC))
    reasons = dict(zip(checked.rejected["ts"], checked.rejected["reason"], strict=True))
    assert reasons[frame.loc[3, "ts"]] == "ts not aligned to 4h"
    assert reasons[frame.loc[4, "ts"]] == "ts is in the future"
    assert len(checked.valid) == 8


def test_repeats_are_dropped_conflicts_rejected_and_order_restored():
    frame = sample_frame("coinbase", "BTC-USD", "4h").head(10)
    repeat = frame.iloc[[4]].copy()
    conflict = frame.iloc[[2]].copy()
    conflict["volume"] = 123.0
    shuffled = pd.concat([frame.iloc[::-1], repeat, conflict], ignore_index=True)
    checked = split_valid(shuffled, stream=STREAM, now=NOW)
    assert checked.duplicates_dropped == 1
    assert checked.valid["ts"].is_monotonic_increasing
    # two different candles for one ts: neither is trusted
    assert frame.loc[2, "ts"] not in set(checked.valid["ts"])
    clash = checked.rejected[checked.rejected["ts"] == frame.loc[2, "ts"]]
    assert len(clash) == 2
    assert (clash["reason"] == "conflicting duplicate: different candles for the same ts").all()
    assert len(checked.valid) == 9
    assert checked.out_of_order == 11  # the reversed rows, the repeat and the conflict
    assert any("arrived out of order" in n for n in checked.notes)
    assert any(
        "repeated candle(s) dropped" in n and str(frame.loc[4, "ts"]) in n for n in checked.notes
    )


def test_missing_column_is_an_error_naming_it():
    with pytest.raises(ValueError, match="lacks columns \\['volume'\\]"):
        split_valid(
            sample_frame("coinbase", "BTC-USD", "4h").drop(columns="volume"), stream=STREAM, now=NOW
        )


def test_timeframes():
    assert timeframe_ms("1m") == 60_000
    assert timeframe_ms("4h") == 4 * 3_600_000
    with pytest.raises(UnsupportedTimeframeError, match=r"did you mean '4h'.*supported: 1m, 5m"):
        timeframe_ms("4hr")
