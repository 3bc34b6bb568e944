"""Market data: three sources with one candle schema, validation, and the candle store.

The names below load on first use (PEP 562): a process that needs only the errors or the
timeframes (the CLI's error mapping, the metrics exporter, the supervisor) does not pay for
pandas and ccxt.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

_HOME = {
    "aaiti.market.candles": (
        "CANDLE_COLUMNS", "CANDLE_SCHEMA", "CheckedCandles", "Stream", "split_valid",
    ),
    "aaiti.market.errors": (
        "CircuitOpenError", "InvalidRangeError", "MarketDataError", "PermanentExchangeError",
        "TimeframeNotOfferedError", "TransientExchangeError", "UnknownExchangeError",
        "UnknownSymbolError",
    ),
    "aaiti.market.ingest": (
        "GapFillReport", "IngestReport", "ReplayConfig", "fill_gaps", "ingest_stream",
    ),
    "aaiti.market.sources": (
        "UnknownSourceError", "open_source", "parse_source", "replay_config", "stream_exchange",
    ),
    "aaiti.market.store": ("Gap", "UpsertResult", "find_gaps", "upsert_candles"),
    "aaiti.market.timeframes": (
        "SUPPORTED_TIMEFRAMES", "UnsupportedTimeframeError", "timeframe_ms",
    ),
}  # fmt: skip
_WHERE = {name: module for module, names in _HOME.items() for name in names}
__all__ = [
    "CANDLE_COLUMNS",
    "CANDLE_SCHEMA",
    "SUPPORTED_TIMEFRAMES",
    "CheckedCandles",
    "CircuitOpenError",
    "Gap",
    "GapFillReport",
    "IngestReport",
    "InvalidRangeError",
    "MarketDataError",
    "PermanentExchangeError",
    "ReplayConfig",
    "Stream",
    "TimeframeNotOfferedError",
    "TransientExchangeError",
    "UnknownExchangeError",
    "UnknownSourceError",
    "UnknownSymbolError",
    "UnsupportedTimeframeError",
    "UpsertResult",
    "fill_gaps",
    "find_gaps",
    "ingest_stream",
    "open_source",
    "parse_source",
    "replay_config",
    "split_valid",
    "stream_exchange",
    "timeframe_ms",
    "upsert_candles",
]


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'aaiti.market' has no attribute {name!r}")
    value = getattr(import_module(module), name)
    globals()[name] = value
    return value


if TYPE_CHECKING:
    from aaiti.market.candles import (
        CANDLE_COLUMNS,
        CANDLE_SCHEMA,
        CheckedCandles,
        Stream,
        split_valid,
    )
    from aaiti.market.errors import (
        CircuitOpenError,
        InvalidRangeError,
        MarketDataError,
        PermanentExchangeError,
        TimeframeNotOfferedError,
        TransientExchangeError,
        UnknownExchangeError,
        UnknownSymbolError,
    )
    from aaiti.market.ingest import (
        GapFillReport,
        IngestReport,
        ReplayConfig,
        fill_gaps,
        ingest_stream,
    )
    from aaiti.market.sources import (
        UnknownSourceError,
        open_source,
        parse_source,
        replay_config,
        stream_exchange,
    )
    from aaiti.market.store import Gap, UpsertResult, find_gaps, upsert_candles
    from aaiti.market.timeframes import (
        SUPPORTED_TIMEFRAMES,
        UnsupportedTimeframeError,
        timeframe_ms,
    )
