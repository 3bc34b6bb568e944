from datetime import date

import pytest

from aaiti.config import RiskSettings
from aaiti.risk.gate import RiskGate, position_limit

D1, D2 = date(2025, 1, 1), date(2025, 1, 2)


def gate(**kw):
    g = RiskGate(RiskSettings(**kw))
    g.on_equity(100_000, day=D1)
    return g


def test_each_limit_refuses_with_its_rule():
    g = gate(
        max_order_notional=10_000,
        max_position_notional=15_000,
        position_limits={"ETH/USD": 5_000},
        max_gross_exposure=0.2,
    )
    ok = g.check(symbol="BTC/USD", side=1, notional=9_000, positions={}, equity=100_000)
    assert ok.approved and ok.rule == "approved"
    assert (
        g.check(symbol="BTC/USD", side=1, notional=11_000, positions={}, equity=100_000).rule
        == "max_order_notional"
    )
    assert (
        g.check(
            symbol="BTC/USD", side=1, notional=9_000, positions={"BTC/USD": 9_000}, equity=100_000
        ).rule
        == "max_position"
    )
    assert (
        g.check(symbol="ETH/USD", side=1, notional=6_000, positions={}, equity=100_000).rule
        == "max_position"
    )
    r = g.check(
        symbol="ETH/USD", side=1, notional=4_000, positions={"BTC/USD": 17_000}, equity=100_000
    )
    assert r.rule == "max_gross_exposure" and "0.21×" in r.reason
    assert (
        g.check(symbol="X", side=1, notional=1, positions={}, equity=float("nan")).rule
        == "equity_unknown"
    )
    assert (
        g.check(symbol="X", side=1, notional=1, positions={}, equity=1e5, risk_known=False).rule
        == "risk_unknown"
    )


def test_daily_loss_limit_resets_each_day():
    g = gate(max_daily_loss=0.05)
    g.on_equity(94_000, day=D1)
    assert (
        g.check(symbol="X", side=1, notional=100, positions={}, equity=94_000).rule
        == "max_daily_loss"
    )
    g.on_equity(94_000, day=D2)
    assert g.check(symbol="X", side=1, notional=100, positions={}, equity=94_000).approved


def test_drawdown_warns_then_halts_and_resume_needs_recovery():
    g = gate()
    assert [e.kind for e in g.on_equity(110_000, day=D1)] == []
    assert [e.kind for e in g.on_equity(98_000, day=D1)] == ["drawdown_warn"]  # 10.9 % from 110k
    assert [e.kind for e in g.on_equity(93_000, day=D1)] == ["kill_switch"]  # 15.5 %
    refused = g.check(
        symbol="X",
        side=1,
        notional=100,
        positions={},
        equity=93_000,
    )
    assert not refused.approved and refused.rule == "kill_switch"
    # closing an existing long is still allowed
    assert g.check(
        symbol="X", side=-1, notional=500, positions={"X": 1_000}, equity=93_000
    ).approved
    with pytest.raises(PermissionError, match="has not recovered"):
        g.resume(equity=95_000)
    g.on_equity(100_000, day=D1)
    assert g.state.kill_switch  # recovery alone does not re-enable
    g.resume(equity=100_000)
    assert g.check(symbol="X", side=1, notional=100, positions={}, equity=100_000).approved


def test_manual_halt_and_order_failure_breaker():
    g = gate(max_consecutive_failures=2)
    g.halt(reason="operator: exchange incident")
    r = g.check(symbol="X", side=1, notional=10, positions={}, equity=100_000)
    assert r.rule == "manual_halt" and "exchange incident" in r.reason
    g.resume(equity=100_000)
    g.on_order_result(ok=False)
    assert [e.kind for e in g.on_order_result(ok=False)] == ["breaker_open"]
    assert (
        g.check(symbol="X", side=1, notional=10, positions={}, equity=100_000).rule
        == "order_breaker"
    )


@pytest.mark.parametrize(
    ("symbol", "side", "positions", "binding", "room"),
    [
        ("BTC/USD", 1, {}, "order", 10_000),
        ("BTC/USD", 1, {"BTC/USD": 9_000}, "position", 6_000),
        ("ETH/USD", 1, {}, "per-symbol position", 5_000),
        ("SOL/USD", 1, {"BTC/USD": 12_000}, "gross", 8_000),
        ("BTC/USD", -1, {"BTC/USD": 9_000}, "position, across a flip", 10_000),  # order limit
        ("BTC/USD", 1, {"BTC/USD": 14_000, "SOL/USD": -6_000}, "both", 0),
    ],
)
def test_room_is_the_largest_order_every_limit_approves(symbol, side, positions, binding, room):
    g = gate(
        max_order_notional=10_000,
        max_position_notional=15_000,
        position_limits={"ETH/USD": 5_000},
        max_gross_exposure=0.2,
    )
    got = g.room(symbol=symbol, side=side, positions=positions, equity=100_000)
    assert got == pytest.approx(room, abs=1e-3), binding
    if got > 0:  # the room passes, and a cent more does not
        check = dict(symbol=symbol, side=side, positions=positions, equity=100_000)
        assert g.check(notional=got, **check).approved
        assert not g.check(notional=got + 0.01, **check).approved


@pytest.mark.parametrize(
    ("key", "limit"),
    [
        ("kraken:BTC/USD", 1_000),  # the instrument's own limit wins
        ("coinbase:BTC/USD", 2_000),  # then the bare symbol's, on any exchange
        ("BTC/USD", 2_000),  # a bare symbol
        ("binance:BTC/USDT:USDT", 3_000),  # a settle suffix is part of the symbol
        ("BTC/USDT:USDT", 3_000),  # bare: split at its first ':' it was "USDT"
        ("kraken:ETH/USD", 50_000),  # none set: the default
    ],
)
def test_a_position_limit_is_found_by_instrument_then_bare_symbol(key, limit):
    limits = RiskSettings(
        max_position_notional=50_000,
        position_limits={
            "kraken:BTC/USD": 1_000, "BTC/USD": 2_000, "BTC/USDT:USDT": 3_000, "USDT": 9,
        },
    )  # fmt: skip
    assert position_limit(limits, key) == limit
