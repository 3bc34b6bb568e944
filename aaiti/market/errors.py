"""Errors of the market-data layer, each naming what was wrong and what is accepted."""

from __future__ import annotations

import difflib
from collections.abc import Iterable

from aaiti.errors import InputError


class MarketDataError(RuntimeError):
    """Base class: anything that stops fetching candles."""


class UnknownExchangeError(MarketDataError, InputError):
    def __init__(self, exchange: str, known: Iterable[str]) -> None:
        known = sorted(known)
        hint = difflib.get_close_matches(exchange, known, n=3, cutoff=0.6)
        msg = f"unknown exchange id {exchange!r}"
        msg += f"; did you mean {', '.join(map(repr, hint))}?" if hint else ""
        msg += f" ({len(known)} known: {', '.join(known[:12])}{', …' if len(known) > 12 else ''})"
        super().__init__(msg)


class UnknownSymbolError(MarketDataError, InputError):
    def __init__(self, symbol: str, exchange: str, known: Iterable[str]) -> None:
        known = sorted(known)
        hint = difflib.get_close_matches(symbol.upper(), known, n=3, cutoff=0.5)
        msg = f"unknown symbol {symbol!r} on {exchange}"
        msg += f"; did you mean {', '.join(map(repr, hint))}?" if hint else ""
        if len(known) <= 20:
            msg += f" (available: {', '.join(known)})"
        super().__init__(msg)


class TimeframeNotOfferedError(MarketDataError, InputError):
    def __init__(self, timeframe: str, where: str, offered: Iterable[str]) -> None:
        super().__init__(
            f"timeframe {timeframe!r} is not offered by {where}; offered: {', '.join(offered)}"
        )


class InvalidRangeError(MarketDataError, InputError):
    """since is not before until, or similar."""


class PermanentExchangeError(MarketDataError):
    """The exchange refused in a way that retrying cannot fix (bad symbol, auth, bad request)."""


class TransientExchangeError(MarketDataError):
    """The exchange kept failing transiently after every retry allowed."""


class CircuitOpenError(MarketDataError):
    """The exchange's circuit breaker is open: no request is sent until it cools down."""
