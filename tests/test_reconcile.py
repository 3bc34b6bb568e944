"""Live reconciliation's pure core: the ledger per currency against the exchange, the
tolerance rule, foreign orders, the opening from the exchange's balances."""

from __future__ import annotations

import pytest

from aaiti.trading.reconcile import (
    MixedQuoteError,
    ledger_balances,
    opening_from,
    quote_of,
    reconcile,
    within,
)


def test_ledger_balances_are_cash_in_the_quote_and_positions_in_their_base():
    assert ledger_balances(cash=1000.0, quote="USDT", positions={"BTC/USDT": 0.5}) == {
        "USDT": 1000.0,
        "BTC": 0.5,
    }


def test_the_tolerance_is_relative_to_the_larger_figure_with_a_dust_floor():
    assert within(100.0, 100.19, tolerance=0.002)  # 0.19 ≤ 0.2004
    assert not within(100.0, 100.25, tolerance=0.002)
    assert within(0.0, 5e-9, tolerance=0.002)  # exchange precision
    assert not within(0.0, 1e-6, tolerance=0.002)  # a balance the ledger never had


def test_a_withdrawal_and_a_foreign_order_are_differences():
    ledger = ledger_balances(cash=50_000.0, quote="USD", positions={"BTC/USD": 0.5})
    exchange = {"USD": 50_000.0, "BTC": 0.4, "BNB": 3.0}  # BNB is not traded: not compared
    result = reconcile(
        ledger,
        exchange,
        currencies=["USD", "BTC", "ETH"],
        tolerance=0.002,
        known_orders={"ours-1"},
        open_orders=["ours-1", "by-hand-7"],
    )
    assert not result.ok
    assert [(d.currency, d.amount) for d in result.differences] == [("BTC", pytest.approx(-0.1))]
    assert result.foreign_orders == ("by-hand-7",)
    assert {d.currency for d in result.compared} == {"USD", "BTC", "ETH"}
    assert "BTC: ledger 0.5, exchange 0.4" in result.message()
    assert "by-hand-7" in result.message()


def test_agreeing_figures_are_ok():
    result = reconcile(
        {"USD": 10.0}, {"USD": 10.0 + 1e-9}, currencies=["USD"], tolerance=0.0,
        known_orders=set(), open_orders=[],
    )  # fmt: skip
    assert result.ok and result.message() == "the ledger agrees with the exchange"


def test_the_opening_takes_cash_and_traded_positions_at_their_last_close():
    opening = opening_from(
        {"USD": 60_000.0, "BTC": 0.25, "DOGE": 1000.0},
        symbols=["BTC/USD", "ETH/USD"],
        marks={"BTC/USD": 40_000.0, "ETH/USD": 2_000.0},
    )
    assert opening.cash == 60_000.0
    assert opening.positions == {"BTC/USD": (0.25, 40_000.0)}  # no ETH held; DOGE not traded
    assert opening.equity == pytest.approx(70_000.0)


def test_one_quote_currency_or_a_clear_error():
    assert quote_of(["BTC/USDT", "ETH/USDT"]) == "USDT"
    with pytest.raises(MixedQuoteError, match="one quote currency"):
        quote_of(["BTC/USDT", "ETH/EUR"])


def _trading(**overrides):
    from aaiti.config import load_settings

    return load_settings(**overrides).trading


def test_an_account_of_one_quote_currency_is_its_own_one_book():
    from aaiti.books import books

    (book,) = books(_trading(symbols=["BTC/USDT", "ETH/USDT"], trading_initial_cash={"USDT": 7.0}))
    assert (book.account, book.symbols, book.initial_cash) == (
        "paper",
        ["BTC/USDT", "ETH/USDT"],
        7.0,
    )
    assert book.risk.max_order_notional == 60_000.0


def test_an_account_of_several_quote_currencies_keeps_a_book_per_currency_with_its_amounts():
    """USD and USDT are different money: each book its own cash, symbols and limits."""
    from aaiti.books import book_of, books

    cfg = _trading(
        symbols=["BTC/USD", "BTC/USDT", "ETH/USD"],
        trading_initial_cash={"USD": 100.0, "USDT": 50.0},
        risk_max_order_notional={"USD": 60.0, "USDT": 30.0},
        risk_max_position_notional={"USD": 70.0, "USDT": 35.0},
    )
    got = [(b.account, b.symbols, b.initial_cash, b.risk.max_order_notional,
            b.risk.max_position_notional) for b in books(cfg)]  # fmt: skip
    assert got == [
        ("paper.USD", ["BTC/USD", "ETH/USD"], 100.0, 60.0, 70.0),
        ("paper.USDT", ["BTC/USDT"], 50.0, 30.0, 35.0),
    ]
    assert book_of(cfg, "kraken:BTC/USDT").account == "paper.USDT"
    assert book_of(cfg, "ETH/USD").account == "paper.USD"


@pytest.mark.parametrize(
    ("overrides", "says"),
    [
        ({}, "AAITI_TRADING_INITIAL_CASH must give an amount per currency"),
        ({"trading_initial_cash": {"USD": 1.0}}, "AAITI_TRADING_INITIAL_CASH names no amount in USDT"),
        ({"trading_initial_cash": {"USD": 1.0, "USDT": 1.0}},
         "AAITI_RISK_MAX_ORDER_NOTIONAL must give an amount per currency"),
    ],
)  # fmt: skip
def test_several_quote_currencies_need_every_amount_per_currency(overrides, says):
    """A number would be taken in every currency alike (100,000 USD and 100,000 BTC)."""
    from aaiti.books import BookSettingsError, books

    with pytest.raises(BookSettingsError, match=says):
        books(_trading(symbols=["BTC/USD", "BTC/USDT"], **overrides))


def test_books_are_totalled_only_at_rates_given_never_at_one():
    from datetime import UTC, datetime

    from aaiti.trading.accounts import BookEquity, Rate, said_total, total

    at = datetime(2025, 1, 1, tzinfo=UTC)
    usd, usdt = BookEquity("p.USD", "USD", at, 100.0), BookEquity("p.USDT", "USDT", at, 50.0)
    rates = {"USD": Rate(1.0, "same currency"), "USDT": Rate(0.998, "x:USDT/USD")}
    got = total([usd, usdt], rates, currency="USD")
    assert got.equity == pytest.approx(100.0 + 50.0 * 0.998) and got.why == ""
    assert said_total(got).startswith("total 149.90 USD = p.USD 100.00 USD × 1 (same currency)")
    missing = total([usd, usdt], {"USD": rates["USD"]}, currency="USD")
    assert missing.equity is None and missing.why == (
        "no USDT/USD rate at or before p.USDT's newest equity row"
    )
    new = total([usd, BookEquity("p.USDT", "USDT", None, None)], rates, currency="USD")
    assert new.equity is None and new.why == "p.USDT has no equity yet"
