"""The one candle schema every source hands back, and the check that keeps bad rows out.

Columns: ``exchange, symbol, timeframe, ts`` (UTC candle open time), ``open, high, low,
close, volume``. :func:`split_valid` never drops a row silently: each row is either a valid
candle or a rejected one with its reason.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pyarrow as pa

from aaiti.errors import InputError
from aaiti.market.timeframes import timeframe_ms

CANDLE_COLUMNS: tuple[str, ...] = (
    "exchange",
    "symbol",
    "timeframe",
    "ts",
    "open",
    "high",
    "low",
    "close",
    "volume",
)
PRICE_COLUMNS: tuple[str, ...] = ("open", "high", "low", "close")
_EPOCH = pd.Timestamp(0, tz="UTC")

CANDLE_SCHEMA = pa.schema(
    [
        ("exchange", pa.string()),
        ("symbol", pa.string()),
        ("timeframe", pa.string()),
        ("ts", pa.timestamp("ms", tz="UTC")),
        ("open", pa.float64()),
        ("high", pa.float64()),
        ("low", pa.float64()),
        ("close", pa.float64()),
        ("volume", pa.float64()),
    ]
)


#: An exchange's name: a ccxt id or a folder's name — letters, digits, ``_ . -``, no path.
EXCHANGE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
#: A symbol: ``BASE/QUOTE``, or a future's ``BASE/QUOTE:SETTLE``, each part letters,
#: digits and ``_ . -``.
_PART = r"[A-Za-z0-9][A-Za-z0-9_.-]*"
SYMBOL_NAME = re.compile(rf"{_PART}/{_PART}(?::{_PART})?")
MAX_NAME = 64


def check_names(exchange: str, symbol: str) -> None:
    """Refuse an exchange or symbol outside the one rule (stored, they name folders, files
    and metric labels): a clear line naming what was given and what is accepted."""
    if not EXCHANGE_NAME.fullmatch(exchange) or exchange in {".", ".."}:
        raise InputError(
            f"exchange {_shown(exchange)} is not accepted: letters, digits and _ . - (no "
            f"path separator), at most {MAX_NAME} characters, e.g. binance"
        )
    if len(symbol) > MAX_NAME or not SYMBOL_NAME.fullmatch(symbol):
        raise InputError(
            f"symbol {_shown(symbol)} is not accepted: BASE/QUOTE or BASE/QUOTE:SETTLE, "
            f"letters, digits and _ . - in each part, at most {MAX_NAME} characters, "
            "e.g. BTC/USDT or BTC/USDT:USDT"
        )


def _shown(name: str) -> str:
    return repr(name if len(name) <= 40 else f"{name[:40]}…({len(name)} characters)")


@dataclass(frozen=True)
class Stream:
    """One candle series: an exchange, a symbol and a timeframe (names checked: see
    :func:`check_names`)."""

    exchange: str
    symbol: str
    timeframe: str

    def __post_init__(self) -> None:
        check_names(self.exchange, self.symbol)

    def __str__(self) -> str:
        return f"{self.exchange}:{self.symbol}:{self.timeframe}"


def instrument(exchange: str, symbol: str) -> str:
    """What trading holds and risk measures: a symbol on one exchange (BTC/USD on two
    exchanges is two instruments, each with its own position, marks and orders)."""
    return f"{exchange}:{symbol}"


def stream_columns(columns: Iterable[str]) -> list[str]:
    """The columns that tell a frame's streams apart: exchange and symbol (a frame without
    an exchange column holds one exchange). Grouped by symbol alone, BTC/USD of two
    exchanges became one interleaved series."""
    return ["exchange", "symbol"] if "exchange" in columns else ["symbol"]


def split_instrument(key: str) -> tuple[str, str]:
    """``exchange:symbol`` → (exchange, symbol); a symbol may hold ':' (BTC/USDT:USDT).
    A bare symbol (its part before ':' holds a '/', which no exchange id does) has no
    exchange: ("", symbol); split at the first ':', BTC/USDT:USDT became "USDT"."""
    exchange, _, symbol = key.partition(":")
    if "/" in exchange or not symbol:
        return "", key
    return exchange, symbol


@dataclass(frozen=True)
class CheckedCandles:
    """Result of :func:`split_valid`: candles fit for ``raw.ohlcv`` and rejected rows."""

    valid: pd.DataFrame  # CANDLE_COLUMNS, ts sorted, unique per key
    rejected: pd.DataFrame  # CANDLE_COLUMNS (best effort) + raw_record + reason
    duplicates_dropped: int  # exact repeats of a candle inside the batch (one is kept)
    out_of_order: int = 0  # candles that arrived before an earlier ts (kept, sorted)
    notes: tuple[str, ...] = ()  # what was noticed without rejecting, naming the rows


def empty_candles() -> pd.DataFrame:
    return CANDLE_SCHEMA.empty_table().to_pandas()


def _to_utc_ts(values: pd.Series) -> pd.Series:
    if pd.api.types.is_datetime64_any_dtype(values):
        ts = values if getattr(values.dt, "tz", None) is not None else values.dt.tz_localize(UTC)
        return ts.dt.tz_convert(UTC).astype("datetime64[ms, UTC]")
    numeric = pd.to_numeric(values, errors="coerce")
    if numeric.notna().any() or values.isna().all():
        return pd.to_datetime(numeric, unit="ms", utc=True).astype("datetime64[ms, UTC]")
    return pd.to_datetime(values, utc=True, errors="coerce").astype("datetime64[ms, UTC]")


def split_valid(frame: pd.DataFrame, *, stream: Stream, now: datetime) -> CheckedCandles:
    """Separate valid candles of ``stream`` from rows that are not valid candles.

    A row is rejected when a price is missing or not positive, high < low, open or close
    lie outside [low, high], volume is missing or negative, ts is missing, not aligned to
    the timeframe or in the future, or the row names another exchange, symbol or timeframe.
    Exact repeats of a candle are dropped (one kept); two *different* candles for the same
    key are both rejected ("conflicting duplicate"), since nothing says which is right.
    Out-of-order arrivals are kept, sorted, and named in ``notes``. ``now`` (the caller's
    clock) is what "in the future" means.
    """
    missing = [c for c in CANDLE_COLUMNS if c not in frame.columns]
    if missing:
        raise ValueError(f"candle frame lacks columns {missing}; expected {list(CANDLE_COLUMNS)}")
    if frame.empty:
        return CheckedCandles(empty_candles(), _empty_rejected(), 0)
    raw = frame.loc[:, list(CANDLE_COLUMNS)].reset_index(drop=True)
    out, checks = _typed(raw)
    checks |= _row_checks(out, stream=stream, now=now)
    names = list(checks)
    matrix = np.column_stack([np.asarray(checks[n], dtype=bool) for n in names])
    bad = matrix.any(axis=1)
    if bad.any():
        rejected = out[bad].copy()
        rejected["raw_record"] = _raw_records(raw[bad])
        rejected["reason"] = [
            "; ".join(n for n, hit in zip(names, row, strict=True) if hit) for row in matrix[bad]
        ]
    else:
        rejected = _empty_rejected()
    return _deduplicated(out[~bad], rejected)


def _typed(raw: pd.DataFrame) -> tuple[pd.DataFrame, dict[str, np.ndarray]]:
    """The candle columns in their types (UTC timestamps, float prices), and which values
    were missing or not numbers."""
    out = pd.DataFrame(
        {
            "exchange": raw["exchange"].astype(object),
            "symbol": raw["symbol"].astype(object),
            "timeframe": raw["timeframe"].astype(object),
            "ts": _to_utc_ts(raw["ts"]),
        }
    )
    checks: dict[str, np.ndarray] = {}
    for col in (*PRICE_COLUMNS, "volume"):
        values = pd.to_numeric(raw[col], errors="coerce").astype("float64")
        checks[f"{col} is missing"] = raw[col].isna().to_numpy()
        checks[f"{col} is not a number"] = (values.isna() & raw[col].notna()).to_numpy()
        out[col] = values
    return out, checks


def _row_checks(out: pd.DataFrame, *, stream: Stream, now: datetime) -> dict[str, np.ndarray]:
    """Each rule a candle must keep, as a mask of the rows that break it."""
    checks: dict[str, np.ndarray] = {}
    with np.errstate(invalid="ignore"):
        o, h, lo, c, v = (out[k].to_numpy() for k in (*PRICE_COLUMNS, "volume"))
        for col, arr in zip(PRICE_COLUMNS, (o, h, lo, c), strict=True):
            checks[f"{col} is not positive"] = arr <= 0
            checks[f"{col} is not finite"] = np.isinf(arr)
        checks["high < low"] = h < lo
        checks["open outside [low, high]"] = (o > h) | (o < lo)
        checks["close outside [low, high]"] = (c > h) | (c < lo)
        checks["volume is negative"] = v < 0
        checks["volume is not finite"] = np.isinf(v)
    ts = out["ts"]
    checks["ts is missing or unparseable"] = ts.isna().to_numpy()
    epoch_ms = ((ts - _EPOCH) // pd.Timedelta(1, "ms")).to_numpy(dtype="float64", na_value=0.0)
    checks[f"ts not aligned to {stream.timeframe}"] = (
        np.mod(epoch_ms, timeframe_ms(stream.timeframe)) != 0
    )
    checks["ts is in the future"] = (ts > pd.Timestamp(now)).to_numpy()
    for col in ("exchange", "symbol", "timeframe"):
        expected = getattr(stream, col)
        checks[f"{col} is not {expected}"] = (out[col] != expected).to_numpy()
    return checks


def _raw_records(frame: pd.DataFrame) -> list[str]:
    return [
        json.dumps({k: _jsonable(val) for k, val in rec.items()})
        for rec in frame.to_dict(orient="records")
    ]


def _deduplicated(valid: pd.DataFrame, rejected: pd.DataFrame) -> CheckedCandles:
    """Out-of-order arrivals named and sorted, exact repeats dropped, and two different
    candles for one key both rejected."""
    notes: list[str] = []
    ts_valid = valid["ts"]
    late = ts_valid.lt(ts_valid.cummax().shift()).fillna(False).astype(bool)
    out_of_order = int(late.sum())
    if out_of_order:
        named = ", ".join(str(t) for t in ts_valid[late].iloc[:10])
        more = " …" if out_of_order > 10 else ""
        notes.append(f"{out_of_order} candle(s) arrived out of order, sorted: {named}{more}")
    key = ["exchange", "symbol", "timeframe", "ts"]
    before = len(valid)
    exact = valid.drop_duplicates(keep="last")
    exact_dropped = before - len(exact)
    if exact_dropped:
        repeated = valid[valid.duplicated(keep="last")]["ts"]
        named = ", ".join(str(t) for t in repeated.iloc[:10])
        notes.append(
            f"{exact_dropped} repeated candle(s) dropped: {named}{' …' if exact_dropped > 10 else ''}"
        )
    conflict = exact.duplicated(subset=key, keep=False)
    if conflict.any():
        clash = exact[conflict].copy()
        clash["raw_record"] = _raw_records(clash[list(CANDLE_COLUMNS)])
        clash["reason"] = "conflicting duplicate: different candles for the same ts"
        rejected = pd.concat([rejected, clash], ignore_index=True) if len(rejected) else clash
        exact = exact[~conflict]
    valid = exact.sort_values("ts", kind="stable").reset_index(drop=True)
    return CheckedCandles(
        valid, rejected.reset_index(drop=True), exact_dropped, out_of_order, tuple(notes)
    )


def _empty_rejected() -> pd.DataFrame:
    frame = empty_candles()
    frame["raw_record"] = pd.Series(dtype=object)
    frame["reason"] = pd.Series(dtype=object)
    return frame


def _jsonable(value: object) -> object:
    if value is None:
        return None
    if isinstance(value, float | np.floating):
        return None if np.isnan(value) else float(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, pd.Timestamp | datetime):
        return value.isoformat()
    if value is pd.NaT or (isinstance(value, float) and np.isnan(value)):
        return None
    return value if isinstance(value, str | int | bool) else str(value)
