"""Market data: three sources with one candle schema, validation, and the candle store."""

from aaiti.market.candles import CANDLE_COLUMNS, CANDLE_SCHEMA, CheckedCandles, Stream, split_valid
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
from aaiti.market.ingest import GapFillReport, IngestReport, ReplayConfig, fill_gaps, ingest_stream
from aaiti.market.sources import (
    UnknownSourceError,
    open_source,
    parse_source,
    replay_config,
    stream_exchange,
)
from aaiti.market.store import Gap, UpsertResult, find_gaps, upsert_candles
from aaiti.market.timeframes import SUPPORTED_TIMEFRAMES, UnsupportedTimeframeError, timeframe_ms

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
