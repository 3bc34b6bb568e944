"""An account's books: one cash balance per quote currency.

Cash in USD and cash in USDT are different money; one balance holding both would add them
as if they were one currency. So an account whose symbols (``AAITI_SYMBOLS``) span several
quote currencies trades a *book* per currency, each its own account in the warehouse
(``<account>.<QUOTE>``: cash, ledger, positions, equity, risk state and risk metrics),
with the amounts its settings give for that currency. An account of one quote currency is
its own single book, under its own name, as before.

The books are summed into one equity only in a report currency
(``AAITI_TRADING_REPORT_CURRENCY``) and only at rates the warehouse holds: the close of a
stream such as USDT/USD (or USD/USDT) at or before each book's newest equity row. A rate
the universe does not carry is never taken as 1: the total is then not given, and says
which rate is missing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from aaiti.config import PerQuote, TradingSettings

if TYPE_CHECKING:
    import duckdb

#: The settings that are amounts in a book's currency (AAITI_… names, for the errors).
AMOUNTS = {
    "initial_cash": "AAITI_TRADING_INITIAL_CASH",
    "max_order_notional": "AAITI_RISK_MAX_ORDER_NOTIONAL",
    "max_position_notional": "AAITI_RISK_MAX_POSITION_NOTIONAL",
}


class BookSettingsError(ValueError):
    """An amount setting that does not say how much in one of the account's currencies."""


def quote(symbol: str) -> str:
    """The quote currency of ``BASE/QUOTE`` (or ``exchange:BASE/QUOTE``)."""
    currency = symbol.partition("/")[2].partition(":")[0]
    if not currency:
        raise BookSettingsError(f"{symbol!r} names no quote currency: accepted is BASE/QUOTE")
    return currency


def by_quote(symbols: list[str]) -> dict[str, list[str]]:
    """The symbols grouped by quote currency, currencies sorted."""
    out: dict[str, list[str]] = {}
    for s in symbols:
        out.setdefault(quote(s), []).append(s)
    return dict(sorted(out.items()))


def books(cfg: TradingSettings) -> list[TradingSettings]:
    """The account's books, each a ``TradingSettings`` of one quote currency whose amounts
    are plain numbers. Several currencies: every amount must be given per currency."""
    groups = by_quote(cfg.symbols)
    if not groups:
        raise BookSettingsError(
            "no symbol to trade: AAITI_SYMBOLS is empty; accepted: BASE/QUOTE symbols, "
            "comma-separated (BTC/USD,ETH/USD)"
        )
    split = len(groups) > 1
    amounts = {  # setting by setting, so the first error names the first setting
        name: {
            c: _amount(_value(cfg, name), c, name=name, split=split, currencies=list(groups))
            for c in groups
        }
        for name in AMOUNTS
    }
    return [
        _book(
            cfg,
            {name: per[currency] for name, per in amounts.items()},
            account=f"{cfg.account}.{currency}" if split else cfg.account,
            symbols=symbols,
        )
        for currency, symbols in groups.items()
    ]


def currency_of(book: TradingSettings) -> str:
    """A book's currency: the quote its symbols share."""
    return quote(book.symbols[0])


def book_of(cfg: TradingSettings, symbol: str) -> TradingSettings:
    """The book that trades ``symbol`` (``BASE/QUOTE`` or ``exchange:BASE/QUOTE``)."""
    currency = quote(symbol)
    for book in books(cfg):
        if currency_of(book) == currency:
            return book
    raise BookSettingsError(
        f"{symbol} is quoted in {currency}, which no traded symbol is (AAITI_SYMBOLS: "
        f"{', '.join(cfg.symbols)})"
    )


def _value(cfg: TradingSettings, name: str) -> PerQuote:
    value: PerQuote = cfg.initial_cash if name == "initial_cash" else getattr(cfg.risk, name)
    return value


def _book(
    cfg: TradingSettings, amounts: dict[str, float], *, account: str, symbols: list[str]
) -> TradingSettings:
    risk = cfg.risk.model_copy(
        update={k: amounts[k] for k in ("max_order_notional", "max_position_notional")}
    )
    return cfg.model_copy(
        update={
            "account": account,
            "symbols": symbols,
            "initial_cash": amounts["initial_cash"],
            "risk": risk,
        }
    )


def _amount(
    value: PerQuote, currency: str, *, name: str, split: bool, currencies: list[str]
) -> float:
    """One book's amount: a number is in the account's one currency; with several, each
    currency's amount must be named (a number would be taken in every currency alike,
    100,000 USD and 100,000 BTC)."""
    if isinstance(value, dict):
        if currency not in value:
            raise BookSettingsError(
                f"{AMOUNTS[name]} names no amount in {currency}; accepted: an amount per "
                f"quote currency of the traded symbols ({', '.join(currencies)})"
            )
        return float(value[currency])
    if split:
        example = ", ".join(f'"{c}": …' for c in currencies)
        raise BookSettingsError(
            f"the traded symbols are quoted in {', '.join(currencies)}: the account keeps a "
            f"book per currency, and {AMOUNTS[name]} must give an amount per currency "
            f"({{{example}}}), not one number"
        )
    return float(value)


def number(value: PerQuote) -> float:
    """A book's amount. Amounts per currency are resolved by ``books``; one reaching a
    book's code unresolved is a bug, not a number to guess."""
    if isinstance(value, dict):
        raise TypeError(f"amounts per currency {value} reached a book: resolve with books()")
    return float(value)


def amount_in(value: PerQuote, currency: str) -> float | None:
    """A setting's amount in one currency, where it names one (for display)."""
    if isinstance(value, dict):
        return value.get(currency)
    return float(value)


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
    from aaiti.warehouse.sql import load_sql, one

    now: list[BookEquity] = []
    rates: dict[str, Rate | None] = {}
    for book in books(cfg):
        row = one(con, load_sql(_SQL, "latest_equity"), [book.account])
        b = BookEquity(book.account, currency_of(book), *(row or (None, None)))
        now.append(b)
        if b.ts is not None and b.currency not in rates:
            rates[b.currency] = _rate(con, b.currency, currency, cfg.timeframe, b.ts)
    return total(now, rates, currency=currency)


def _rate(
    con: duckdb.DuckDBPyConnection, base: str, currency: str, timeframe: str, at: datetime
) -> Rate | None:
    from aaiti.warehouse.sql import load_sql, one

    if base == currency:
        return Rate(1.0, "same currency")
    row = one(con, load_sql(_SQL, "book_rate"), [base, currency, timeframe, at])
    if row is None or not row[1] or row[1] <= 0:
        return None
    direct, close, ts, exchange = row
    pair = f"{base}/{currency}" if direct else f"{currency}/{base}"
    return Rate(close if direct else 1.0 / close, f"{exchange}:{pair} {ts:%Y-%m-%d %H:%M}")


_SQL = "aaiti.trading"
