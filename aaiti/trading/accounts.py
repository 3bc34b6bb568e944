"""An account's books summed in one report currency (``AAITI_TRADING_REPORT_CURRENCY``).

The books (``aaiti.books``) are summed into one equity only at rates the warehouse holds:
the close of a stream such as USDT/USD (or USD/USDT) at or before each book's newest equity
row. A rate the universe does not carry is never taken as 1: the total is then not given,
and says which rate is missing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from aaiti.books import books, currency_of
from aaiti.config import TradingSettings
from aaiti.warehouse.sql import fetch_one, load_sql

if TYPE_CHECKING:
    import duckdb


@dataclass(frozen=True)
class BookEquity:
    """A book's newest equity in its own currency (None: it has no equity row yet)."""

    account: str
    currency: str
    ts: datetime | None
    equity: float | None


@dataclass(frozen=True)
class Rate:
    """Units of the report currency per unit of a book's currency, and where it came from."""

    value: float
    source: str  # e.g. "coinbase:USDT/USD 2025-01-02 04:00" or "same currency"


@dataclass(frozen=True)
class Total:
    """The books' equities in one currency: ``equity`` is None, with ``why``, unless every
    book has an equity and a rate."""

    currency: str
    equity: float | None
    books: list[tuple[BookEquity, Rate | None]]
    why: str = ""


def total(books_now: list[BookEquity], rates: dict[str, Rate | None], *, currency: str) -> Total:
    """The pure sum: each book's equity × its currency's rate; nothing guessed."""
    pairs = [(b, rates.get(b.currency)) for b in books_now]
    missing = [
        f"{b.account} has no equity yet" if b.equity is None
        else f"no {b.currency}/{currency} rate at or before {b.account}'s newest equity row"
        for b, r in pairs
        if b.equity is None or r is None
    ]  # fmt: skip
    if missing:
        return Total(currency, None, pairs, "; ".join(missing))
    value = sum(b.equity * r.value for b, r in pairs if b.equity is not None and r is not None)
    return Total(currency, value, pairs)


def said_total(t: Total) -> str:
    """One line: the total and the rates it used, or why there is none."""
    if t.equity is None:
        return f"total in {t.currency}: not given — {t.why}"
    used = ", ".join(
        f"{b.account} {b.equity:,.2f} {b.currency} × {r.value:.6g} ({r.source})"
        for b, r in t.books
        if r is not None and b.equity is not None
    )
    return f"total {t.equity:,.2f} {t.currency} = {used}"


def account_total(con: duckdb.DuckDBPyConnection, cfg: TradingSettings, *, currency: str) -> Total:
    """The shell: each book's newest equity and the rate at its time, read; summed."""
    now: list[BookEquity] = []
    rates: dict[str, Rate | None] = {}
    for book in books(cfg):
        row = fetch_one(con, load_sql(_SQL, "latest_equity"), [book.account])
        b = BookEquity(book.account, currency_of(book), *(row or (None, None)))
        now.append(b)
        if b.ts is not None and b.currency not in rates:
            rates[b.currency] = _rate(con, b.currency, currency, cfg.timeframe, b.ts)
    return total(now, rates, currency=currency)


def _rate(
    con: duckdb.DuckDBPyConnection, base: str, currency: str, timeframe: str, at: datetime
) -> Rate | None:
    if base == currency:
        return Rate(1.0, "same currency")
    row = fetch_one(con, load_sql(_SQL, "book_rate"), [base, currency, timeframe, at])
    if row is None or not row[1] or row[1] <= 0:
        return None
    direct, close, ts, exchange = row
    pair = f"{base}/{currency}" if direct else f"{currency}/{base}"
    return Rate(close if direct else 1.0 / close, f"{exchange}:{pair} {ts:%Y-%m-%d %H:%M}")


_SQL = "aaiti.trading"
