"""The real ccxt client against a loopback Binance: faults, limits, breaker, kill -9."""

from __future__ import annotations

import itertools
import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime

import pandas as pd
import pytest

from aaiti.market import (
    CircuitOpenError,
    PermanentExchangeError,
    UnknownExchangeError,
    UnknownSymbolError,
    ingest_stream,
    open_source,
)
from aaiti.market.breaker import BreakerState, CircuitBreaker
from tests.conftest import sample_frame
from tests.support.fake_binance import FakeBinance, Fault

pytestmark = pytest.mark.integration
SINCE = datetime(2020, 1, 1, tzinfo=UTC)


@pytest.fixture
def server_candles() -> pd.DataFrame:
    """Real Binance BTC/USDT daily candles of 2020, with a 3-day hole across a page edge."""
    frame = sample_frame("binance", "BTC-USDT", "1d")
    return frame.drop(index=[49, 50, 51]).reset_index(drop=True)


def _source(settings, url, **overrides):
    fast = dict(
        ccxt_api_base_url=url,
        ccxt_page_limit=50,
        ccxt_rate_limit_ms=0,
        ccxt_timeout_ms=400,
        ccxt_backoff_base_s=0.01,
        ccxt_backoff_max_s=0.05,
    )
    fast.update(overrides)
    return open_source(settings.model_copy(update=fast), source="ccxt:binance")


def _stored(warehouse) -> pd.DataFrame:
    with warehouse.writer() as con:
        return con.execute(
            "SELECT ts, open, high, low, close, volume FROM raw.ohlcv ORDER BY ts"
        ).fetch_df()


def test_backfill_survives_every_fault_and_ends_with_exactly_the_server_candles(
    settings, warehouse, server_candles
):
    with FakeBinance({"BTCUSDT": server_candles}, "1d", max_limit=50) as ex:
        src = _source(settings, ex.url)
        stream = src.validate_stream("BTC/USDT", "1d")
        ex.inject(
            Fault("429", seconds=1),
            Fault("500"),
            Fault("duplicate"),
            Fault("503"),
            Fault("timeout", seconds=1.0),
            Fault("shuffle"),
            Fault("malformed"),
            Fault("duplicate"),
        )
        report = ingest_stream(
            warehouse,
            src,
            stream,
            kind="backfill",
            since=SINCE,
            until=datetime(2021, 1, 1, tzinfo=UTC),
        )
        requests = [(t, p) for t, path, p in ex.state.requests if path == "/api/v3/klines"]

    stored = _stored(warehouse)
    expected = server_candles[["ts", "open", "high", "low", "close", "volume"]]
    pd.testing.assert_frame_equal(stored, expected.reset_index(drop=True), check_dtype=False)
    assert report.retries == 5  # 429, 500, 503, timeout, malformed
    assert report.duplicates > 0
    assert report.inserted == len(server_candles) == 363
    # Retry-After: 1 s was honoured between the 429 and the next request
    assert requests[1][0] - requests[0][0] >= 0.95
    with warehouse.writer() as con:
        run = con.execute("SELECT status, retries, inserted FROM ops.ingest_runs").fetchall()
    assert run == [("ok", 5, 363)]


def test_permanent_errors_are_never_retried(settings, warehouse, server_candles):
    with FakeBinance({"BTCUSDT": server_candles}, "1d") as ex:
        src = _source(settings, ex.url)
        stream = src.validate_stream("BTC/USDT", "1d")
        for fault, name in ((Fault("400"), "BadRequest"), (Fault("401"), "AuthenticationError")):
            before = len(ex.kline_requests())
            ex.inject(fault)
            with pytest.raises(PermanentExchangeError, match=name):
                ingest_stream(warehouse, src, stream, since=SINCE)
            assert len(ex.kline_requests()) == before + 1
        with pytest.raises(UnknownSymbolError, match="did you mean 'BTC/USDT'"):
            src.validate_stream("BTC/USDTT", "1d")
    with warehouse.writer() as con:
        statuses = [r[0] for r in con.execute("SELECT status FROM ops.ingest_runs").fetchall()]
    assert statuses == ["failed", "failed"]


def test_the_exchange_rate_limit_is_honoured(settings, warehouse, server_candles):
    with FakeBinance({"BTCUSDT": server_candles}, "1d", max_limit=50) as ex:
        src = _source(settings, ex.url, ccxt_rate_limit_ms=500)  # ms per unit of weight
        stream = src.validate_stream("BTC/USDT", "1d")
        ingest_stream(warehouse, src, stream, since=SINCE, until=datetime(2020, 9, 1, tzinfo=UTC))
        times = [t for t, path, _ in ex.state.requests if path == "/api/v3/klines"]
    # ccxt spaces requests by rateLimit x the endpoint's weight (Binance klines: 0.4). The
    # server stamps arrivals, so one gap may shrink by scheduling jitter; the leaky bucket
    # guarantees the cumulative spacing, which is what is asserted.
    cost = src.client.api["public"]["get"]["klines"]
    assert 0 < cost <= 1
    assert len(times) >= 5
    spacing = 0.500 * cost
    assert times[-1] - times[0] >= 0.95 * spacing * (len(times) - 1)
    assert min(b - a for a, b in itertools.pairwise(times)) >= 0.5 * spacing


COOL = 3.0  # the breaker test's base cool-down, seconds


def test_the_breaker_opens_fails_fast_and_persists(settings, warehouse, server_candles):
    # a cool-down of 3 s: "fails fast" must hold however slowly a loaded machine gets from
    # the first run to the second (1 s was not enough under a parallel CI load)
    with FakeBinance({"BTCUSDT": server_candles}, "1d") as ex:
        src = _source(
            settings,
            ex.url,
            breaker_failure_threshold=3,
            breaker_cooldown_s=COOL,
            ccxt_max_retries=10,
        )
        stream = src.validate_stream("BTC/USDT", "1d")
        ex.inject(*[Fault("500") for _ in range(10)])
        before = len(ex.kline_requests())
        with pytest.raises(CircuitOpenError, match="open after 3 consecutive failures"):
            ingest_stream(warehouse, src, stream, since=SINCE)
        assert len(ex.kline_requests()) == before + 3
        with warehouse.writer() as con:
            state = con.execute(
                "SELECT state, open_count, cooldown_s FROM ops.breaker_state"
            ).fetchall()
        assert state == [("open", 1, COOL)]

        # a new process (a new source object) reads the persisted state and fails fast
        again = _source(settings, ex.url, breaker_failure_threshold=3, breaker_cooldown_s=COOL)
        again.validate_stream  # noqa: B018 - markets are cached per client, not needed here
        with pytest.raises(CircuitOpenError):
            ingest_stream(warehouse, again, stream, since=SINCE)
        assert len(ex.kline_requests()) == before + 3

        # after the cool-down one probe goes through; it fails, so the cool-down doubles
        time.sleep(COOL + 0.05)
        with pytest.raises(CircuitOpenError):
            ingest_stream(warehouse, again, stream, since=SINCE)
        assert len(ex.kline_requests()) == before + 4
        with warehouse.writer() as con:
            state = con.execute(
                "SELECT state, open_count, cooldown_s FROM ops.breaker_state"
            ).fetchall()
        assert state == [("open", 2, 2 * COOL)]
        ex.state.faults.clear()
        time.sleep(2 * COOL + 0.05)
        report = ingest_stream(warehouse, again, stream, since=SINCE)
        assert report.inserted == len(server_candles)
        with warehouse.writer() as con:
            state = con.execute("SELECT state, open_count FROM ops.breaker_state").fetchall()
        assert state == [("closed", 0)]


def test_breaker_cool_down_doubles_and_is_capped_at_ten_times_the_base():
    now = [0.0]
    breaker = CircuitBreaker(
        BreakerState("x"), threshold=2, base_cooldown_s=1.0, clock=lambda: now[0]
    )
    breaker.record_failure("a")
    breaker.before_call()
    breaker.record_failure("b")
    cooldowns = [breaker.state.cooldown_s]
    for _ in range(6):
        with pytest.raises(CircuitOpenError):
            breaker.before_call()
        now[0] += breaker.state.cooldown_s
        breaker.before_call()  # half-open probe allowed
        assert breaker.state.state == "half_open"
        breaker.record_failure("still down")
        cooldowns.append(breaker.state.cooldown_s)
    assert cooldowns == [1.0, 2.0, 4.0, 8.0, 10.0, 10.0, 10.0]
    now[0] += 10.0
    breaker.before_call()
    breaker.record_success()
    assert (breaker.state.state, breaker.state.cooldown_s, breaker.state.open_count) == (
        "closed",
        1.0,
        0,
    )


def test_the_still_open_candle_is_dropped(settings, warehouse):
    frame = sample_frame("binance", "BTC-USDT", "1h").copy()
    hour = pd.Timestamp.now(tz="UTC").floor("1h")
    frame["ts"] = frame["ts"] + (hour - frame["ts"].iloc[-1])  # the last candle opens now
    with FakeBinance({"BTCUSDT": frame}, "1h") as ex:
        src = _source(settings, ex.url)
        stream = src.validate_stream("BTC/USDT", "1h")
        report = ingest_stream(warehouse, src, stream, since=frame["ts"].iloc[0].to_pydatetime())
    stored = _stored(warehouse)
    assert report.inserted == len(frame) - 1
    assert stored["ts"].max() == hour - pd.Timedelta(hours=1)


def test_unknown_exchange_is_refused_before_any_request(settings):
    src = open_source(settings, source="ccxt:binanse")
    with pytest.raises(UnknownExchangeError, match="did you mean 'binance'"):
        src.validate_stream("BTC/USDT", "1d")


def _backfill_cmd(settings, url: str) -> tuple[list[str], dict[str, str]]:
    env = dict(os.environ)
    env.update(
        AAITI_DATA_DIR=str(settings.data_dir),
        AAITI_SAMPLE_DIR=str(settings.sample_dir),
        AAITI_CCXT_API_BASE_URL=url,
        AAITI_CCXT_PAGE_LIMIT="20",
        AAITI_CCXT_RATE_LIMIT_MS="0",
        AAITI_INGEST_FLUSH_ROWS="20",
    )
    cmd = [
        sys.executable,
        "-m",
        "aaiti.cli",
        "backfill",
        "--source",
        "ccxt:binance",
        "--symbols",
        "BTC/USDT",
        "--timeframe",
        "1d",
        "--since",
        "2020-01-01",
        "--until",
        "2021-01-01",
    ]
    return cmd, env


def test_a_backfill_killed_midway_and_rerun_equals_an_uninterrupted_one(
    settings, server_candles, tmp_path
):
    from aaiti.config import load_settings

    clean = load_settings(data_dir=tmp_path / "clean", sample_dir=settings.sample_dir)
    killed = load_settings(data_dir=tmp_path / "killed", sample_dir=settings.sample_dir)
    with FakeBinance({"BTCUSDT": server_candles}, "1d", max_limit=20, delay_s=0.15) as ex:
        cmd, env = _backfill_cmd(clean, ex.url)
        subprocess.run(cmd, env=env, check=True, capture_output=True, timeout=120)

        cmd, env = _backfill_cmd(killed, ex.url)
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        start = len(ex.kline_requests())
        deadline = time.monotonic() + 60
        while len(ex.kline_requests()) < start + 8 and time.monotonic() < deadline:
            time.sleep(0.02)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        assert proc.returncode == -signal.SIGKILL

        from aaiti.warehouse import Warehouse

        partial = _stored(Warehouse.from_settings(killed))
        assert 0 < len(partial) < len(server_candles)  # it really died midway

        subprocess.run(cmd, env=env, check=True, capture_output=True, timeout=120)

    a = _stored(Warehouse.from_settings(clean))
    b = _stored(Warehouse.from_settings(killed))
    pd.testing.assert_frame_equal(a, b)
    assert len(b) == len(server_candles) and b["ts"].is_unique
    with Warehouse.from_settings(killed).writer() as con:
        statuses = sorted(
            r[0] for r in con.execute("SELECT status FROM ops.ingest_runs").fetchall()
        )
    assert statuses == ["abandoned", "ok"]
