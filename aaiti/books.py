"""An account's books: its trading settings split per quote currency (one cash balance each).

Cash in USD and cash in USDT are different money; one balance holding both would add them
as if they were one currency. So an account whose symbols (``AAITI_SYMBOLS``) span several
quote currencies trades a *book* per currency, each its own account in the warehouse
(``<account>.<QUOTE>``: cash, ledger, positions, equity, risk state and risk metrics),
with the amounts its settings give for that currency. An account of one quote currency is
its own single book, under its own name, as before.
"""

from __future__ import annotations

from aaiti.config import PerQuote, TradingSettings
from aaiti.errors import InputError

#: The settings that are amounts in a book's currency (AAITI_… names, for the errors).
AMOUNTS = {
    "initial_cash": "AAITI_TRADING_INITIAL_CASH",
    "max_order_notional": "AAITI_RISK_MAX_ORDER_NOTIONAL",
    "max_position_notional": "AAITI_RISK_MAX_POSITION_NOTIONAL",
}


class BookSettingsError(InputError):
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


def plain_amount(value: PerQuote) -> float:
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
