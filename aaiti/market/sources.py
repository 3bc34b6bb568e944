"""Build a candle source from a source spec: ``sample``, ``synthetic``, ``ccxt:<id>`` or
``files:<folder>`` (the user's own candle files, replayed like the sample)."""

from __future__ import annotations

from functools import cache
from pathlib import Path

from aaiti.config import Settings
from aaiti.errors import InputError, StateError
from aaiti.market.breaker import BreakerState, CircuitBreaker
from aaiti.market.exchange import CcxtSource, RetryPolicy
from aaiti.market.files import FilesSource
from aaiti.market.ingest import CandleSource, ReplayConfig
from aaiti.market.sample import SampleSource
from aaiti.market.synthetic import SyntheticSource, calibrate_on_sample

SOURCE_KINDS = ("sample", "synthetic", "ccxt:<exchange id>", "files:<folder>")


class UnknownSourceError(InputError):
    def __init__(self, spec: str) -> None:
        super().__init__(f"unknown source {spec!r}; accepted: {', '.join(SOURCE_KINDS)}")


@cache
def _calibration(sample_dir: str):
    """GARCH-t parameters fitted once per process on the bundled 4h candles."""
    import pandas as pd

    files = sorted(Path(sample_dir).glob("coinbase/*/4h.parquet"))
    if not files:
        raise StateError(f"no 4h sample candles under {sample_dir} to calibrate on")
    return calibrate_on_sample([pd.read_parquet(f) for f in files], timeframe="4h")


def parse_source(spec: str, exchange: str | None) -> tuple[str, str | None]:
    """``('ccxt', 'binance')`` from ``ccxt:binance``; ``('sample', exchange)`` etc."""
    kind, _, rest = spec.partition(":")
    if kind == "ccxt":
        exchange_id = rest or exchange
        if not exchange_id:
            raise UnknownSourceError(spec)
        return "ccxt", exchange_id
    if kind in ("sample", "synthetic") and not rest:
        return kind, exchange
    if kind == "files" and rest:
        return kind, exchange
    raise UnknownSourceError(spec)


def stream_exchange(spec: str, default_exchange: str) -> str:
    """The ``exchange`` column a source's streams carry (synthetic is always 'synthetic')."""
    kind, exchange = parse_source(spec, default_exchange)
    return "synthetic" if kind == "synthetic" else exchange or default_exchange


def open_source(settings: Settings, *, source: str, exchange: str | None = None) -> CandleSource:
    kind, exchange_id = parse_source(source, exchange or settings.exchange)
    if kind == "sample":
        return SampleSource(Path(settings.sample_dir), exchange=exchange_id or settings.exchange)
    if kind == "files":
        folder = Path(source.partition(":")[2]).expanduser()
        return FilesSource(folder, exchange=exchange_id or settings.exchange)
    if kind == "synthetic":
        return SyntheticSource(
            _calibration(str(settings.sample_dir)),
            seed=settings.synthetic_seed,
            origin=settings.synthetic_origin,
        )

    return CcxtSource(
        exchange_id,
        breaker=CircuitBreaker(
            BreakerState(exchange_id),
            threshold=settings.breaker_failure_threshold,
            base_cooldown_s=settings.breaker_cooldown_s,
        ),
        retry=RetryPolicy(
            max_retries=settings.ccxt_max_retries,
            backoff_base_s=settings.ccxt_backoff_base_s,
            backoff_max_s=settings.ccxt_backoff_max_s,
            max_retry_after_s=settings.ccxt_max_retry_after_s,
        ),
        api_base_url=settings.ccxt_api_base_url,
        page_limit=settings.ccxt_page_limit,
        rate_limit_ms=settings.ccxt_rate_limit_ms,
        timeout_ms=settings.ccxt_timeout_ms,
    )


def replay_config(settings: Settings, source: CandleSource) -> ReplayConfig | None:
    """Market replay applies to the sample and to a folder of files."""
    if getattr(source, "name", "") not in ("sample", "files"):
        return None
    return ReplayConfig(start=settings.replay_start, bars_per_run=settings.replay_bars_per_run)
