"""The bundled real candles under ``data/sample/``, served as if they were an exchange.

The files are listed in ``manifest.csv`` (one Parquet file per exchange, symbol and
timeframe). Market replay on top of this source is done by :mod:`aaiti.market.replay`.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from functools import cached_property
from pathlib import Path

import pandas as pd

from aaiti.errors import StateError
from aaiti.market.candles import CANDLE_COLUMNS, Stream
from aaiti.market.errors import TimeframeNotOfferedError, UnknownExchangeError, UnknownSymbolError
from aaiti.market.timeframes import SUPPORTED_TIMEFRAMES, timeframe_ms


class SampleSource:
    """Real candles from Parquet files, one schema with every other source."""

    name = "sample"

    def __init__(self, sample_dir: Path, *, exchange: str) -> None:
        self.sample_dir = Path(sample_dir)
        self.exchange = exchange
        self._cache: dict[Stream, pd.DataFrame] = {}

    @cached_property
    def manifest(self) -> pd.DataFrame:
        path = self.sample_dir / "manifest.csv"
        if not path.exists():
            raise StateError(
                f"no sample manifest at {path}: the bundled data lives in data/sample/ "
                "(set AAITI_SAMPLE_DIR if you moved it)"
            )
        return pd.read_csv(path)

    def validate_stream(self, symbol: str, timeframe: str) -> Stream:
        timeframe_ms(timeframe)
        m = self.manifest
        if self.exchange not in set(m["exchange"]):
            raise UnknownExchangeError(self.exchange, set(m["exchange"]))
        here = m[m["exchange"] == self.exchange]
        if symbol not in set(here["symbol"]):
            raise UnknownSymbolError(symbol, f"the sample's {self.exchange}", set(here["symbol"]))
        offered = here.loc[here["symbol"] == symbol, "timeframe"].tolist()
        if timeframe not in offered:
            raise TimeframeNotOfferedError(
                timeframe,
                f"the sample for {self.exchange} {symbol}",
                [t for t in SUPPORTED_TIMEFRAMES if t in offered],
            )
        return Stream(self.exchange, symbol, timeframe)

    def candles(self, stream: Stream) -> pd.DataFrame:
        """All candles of a stream, sorted by ts."""
        if stream not in self._cache:
            row = self.manifest[
                (self.manifest["exchange"] == stream.exchange)
                & (self.manifest["symbol"] == stream.symbol)
                & (self.manifest["timeframe"] == stream.timeframe)
            ]
            if row.empty:
                self.validate_stream(stream.symbol, stream.timeframe)
            frame = pd.read_parquet(self.sample_dir / row["file"].iloc[0])
            self._cache[stream] = (
                frame.loc[:, list(CANDLE_COLUMNS)].sort_values("ts").reset_index(drop=True)
            )
        return self._cache[stream]

    def fetch(
        self, stream: Stream, *, since: datetime | None = None, until: datetime | None = None
    ) -> Iterator[pd.DataFrame]:
        """Candles with ``since <= ts < until`` as one page."""
        frame = self.candles(stream)
        mask = pd.Series(True, index=frame.index)
        if since is not None:
            mask &= frame["ts"] >= pd.Timestamp(since)
        if until is not None:
            mask &= frame["ts"] < pd.Timestamp(until)
        page = frame[mask]
        if not page.empty:
            yield page.reset_index(drop=True)
