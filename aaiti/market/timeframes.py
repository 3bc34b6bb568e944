"""Timeframes: the names accepted everywhere and their lengths."""

from __future__ import annotations

import difflib

from aaiti.errors import InputError

_UNIT_MS = {"m": 60_000, "h": 3_600_000, "d": 86_400_000, "w": 604_800_000}

#: Timeframes the pipeline supports (all are whole divisors of a day, or a day/week).
SUPPORTED_TIMEFRAMES: tuple[str, ...] = (
    "1m",
    "5m",
    "15m",
    "30m",
    "1h",
    "2h",
    "4h",
    "6h",
    "12h",
    "1d",
)


class UnsupportedTimeframeError(InputError):
    """A timeframe name the pipeline does not accept."""


def timeframe_ms(timeframe: str) -> int:
    """Length of one candle in milliseconds; raises with the accepted list otherwise."""
    if timeframe not in SUPPORTED_TIMEFRAMES:
        hint = difflib.get_close_matches(timeframe, SUPPORTED_TIMEFRAMES, n=1)
        extra = f" (did you mean {hint[0]!r}?)" if hint else ""
        raise UnsupportedTimeframeError(
            f"unsupported timeframe {timeframe!r}{extra}; supported: "
            + ", ".join(SUPPORTED_TIMEFRAMES)
        )
    return int(timeframe[:-1]) * _UNIT_MS[timeframe[-1]]


#: A year in seconds (365.25 days: crypto trades every day), for annualising.
YEAR_S = 365.25 * 86_400


def bars_per_year(timeframe: str) -> float:
    """Bars of ``timeframe`` in a year: the annualisation factor of per-bar figures."""
    return YEAR_S / (timeframe_ms(timeframe) / 1000)
