"""One fill model: the paper broker replays the vectorised backtest exactly; properties hold."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aaiti.execution.broker import (
    Bar,
    IllegalTransitionError,
    Order,
    OrderStatus,
    OrderType,
    PaperBroker,
    Side,
    TimeInForce,
)
from aaiti.execution.costs import CostModel
from aaiti.trading.backtest import backtest, equity_curve, held_positions, sma_crossover_signals
from tests.conftest import sample_frame

COSTS = CostModel(fee_bps=10, slippage_bps=5)


def replay_with_broker(frame: pd.DataFrame, signal: np.ndarray, *, costs: CostModel) -> np.ndarray:
    """Market orders decided at each close, filled by the broker at the next bar's open."""
    broker = PaperBroker(cash=1.0, costs=costs)
    equity = np.empty(len(frame))
    target = 0.0
    for t, row in enumerate(frame.itertuples(index=False)):
        bar = Bar(row.ts, row.open, row.high, row.low, row.close, row.volume)
        broker.on_bar("X", bar)
        equity[t] = broker.equity()
        wanted = float(signal[t])
        if wanted != target:  # decided at this close → executes at the next open
            held = broker.positions.get("X")
            qty = held.quantity if held else 0.0
            if qty > 0:
                broker.submit(Order(f"s-X-{t}-exit", "X", Side.SELL, quantity=qty))
            elif qty < 0:
                broker.submit(Order(f"s-X-{t}-cover", "X", Side.BUY, quantity=-qty))
            if wanted != 0:
                # all-in on the equity after the exit: exact when both legs fill at one open
                broker.submit(_all_in(broker, f"s-X-{t}-enter", wanted, qty, costs, frame, t))
            target = wanted
    return equity


def _all_in(broker, cid, side, qty, costs, frame, t) -> Order:
    nxt = frame.iloc[t + 1] if t + 1 < len(frame) else frame.iloc[t]
    cash = broker.cash
    if qty > 0:
        cash += qty * costs.sell_price(nxt.open, nxt.low) * (1 - costs.fee)
    elif qty < 0:
        cash -= -qty * costs.buy_price(nxt.open, nxt.high) * (1 + costs.fee)
    # the order is sized in cash; the broker converts at the fill price
    return Order(cid, "X", Side.BUY if side > 0 else Side.SELL, notional=cash)


@pytest.fixture(scope="module")
def window() -> pd.DataFrame:
    frame = sample_frame("coinbase", "ETH-USD", "4h")
    return frame[(frame["ts"] >= "2021-01-01") & (frame["ts"] < "2022-01-01")].reset_index(
        drop=True
    )


@pytest.mark.parametrize("allow_short", [False, True])
def test_paper_broker_replays_the_vectorised_backtest_exactly(window, allow_short):
    close = window["close"].to_numpy()
    signal = sma_crossover_signals(close, 10, 40)
    if allow_short:
        signal = np.where(signal > 0, 1.0, -1.0)
        signal[:39] = 0.0
    vector = equity_curve(
        open_=window["open"].to_numpy(),
        high=window["high"].to_numpy(),
        low=window["low"].to_numpy(),
        close=close,
        held=held_positions(signal),
        costs=COSTS,
    )
    broker = replay_with_broker(window, signal, costs=COSTS)
    assert (np.abs(np.diff(signal)) > 0).sum() > 20  # it really trades
    np.testing.assert_allclose(broker, vector, rtol=1e-9)


def test_backtest_executes_at_the_next_open_never_the_signal_bar(window):
    o, h, lo, c = (window[k].to_numpy() for k in ("open", "high", "low", "close"))
    signal = np.zeros(len(c))
    signal[100] = 1.0  # decided at bar 100's close
    res = backtest(open_=o, high=h, low=lo, close=c, signal=signal, costs=COSTS, timeframe="4h")
    assert res.trades["entry_bar"].tolist() == [101] and res.trades["exit_bar"].tolist() == [102]
    assert res.trades["entry_price"].iloc[0] == pytest.approx(min(o[101] * 1.0005, h[101]))
    # the future after a signal never changes the equity before its execution
    changed = c.copy()
    changed[101:] *= 3
    res2 = backtest(
        open_=o, high=h, low=lo, close=changed, signal=signal, costs=COSTS, timeframe="4h"
    )
    np.testing.assert_array_equal(res.equity[:101], res2.equity[:101])


def test_backtest_metrics_agree_with_the_equity(window):
    o, h, lo, c = (window[k].to_numpy() for k in ("open", "high", "low", "close"))
    res = backtest(
        open_=o,
        high=h,
        low=lo,
        close=c,
        signal=sma_crossover_signals(c, 10, 40),
        costs=COSTS,
        timeframe="4h",
    )
    m = res.metrics
    assert m.total_return == pytest.approx(res.equity[-1] - 1)
    assert m.trades == len(res.trades) > 5
    closed = res.trades["return"].dropna()
    assert m.win_rate == pytest.approx((closed > 0).mean())
    assert -1 < m.max_drawdown < 0 and 0 < m.exposure < 1


def test_order_state_machine_and_idempotent_client_ids():
    broker = PaperBroker(cash=1_000.0, costs=COSTS)
    first = broker.submit(Order("strat-X-2024-01-01T04", "X", Side.BUY, quantity=1.0))
    again = broker.submit(Order("strat-X-2024-01-01T04", "X", Side.BUY, quantity=5.0))
    assert again is first  # the same bar's order is never traded twice
    broker.on_bar("X", Bar(1, 100, 101, 99, 100.5, 1_000))
    assert first.status == OrderStatus.FILLED and len(broker.fills) == 1
    with pytest.raises(IllegalTransitionError):
        first.move(OrderStatus.NEW)
    bad = broker.submit(Order("b", "X", Side.BUY, type=OrderType.LIMIT, quantity=1.0))
    assert bad.status == OrderStatus.REJECTED and "limit price" in bad.reason
    poor = broker.submit(Order("p", "X", Side.BUY, quantity=1_000.0))
    broker.on_bar("X", Bar(2, 100, 101, 99, 100, 1_000))
    assert poor.status == OrderStatus.REJECTED and "insufficient cash" in poor.reason


def test_limit_stop_ioc_partial_fills_and_cancel():
    broker = PaperBroker(cash=1e6, costs=COSTS, participation_cap=0.1)
    limit = broker.submit(
        Order("l", "X", Side.BUY, type=OrderType.LIMIT, quantity=50, limit_price=95)
    )
    stop = broker.submit(Order("s", "X", Side.BUY, type=OrderType.STOP, quantity=5, stop_price=103))
    ioc = broker.submit(
        Order(
            "i",
            "X",
            Side.BUY,
            type=OrderType.LIMIT,
            quantity=5,
            limit_price=90,
            tif=TimeInForce.IOC,
        )
    )
    broker.on_bar("X", Bar(1, 100, 102, 96, 101, 200))  # never reaches 95, 103 or 90
    assert limit.status == OrderStatus.NEW and stop.status == OrderStatus.NEW
    assert ioc.status == OrderStatus.CANCELLED  # IOC gets one bar
    broker.on_bar("X", Bar(2, 100, 104, 94, 97, 200))  # trades through both levels
    # the cap allows 10 % of 200 units per bar; orders fill in submission order
    assert limit.status == OrderStatus.PARTIALLY_FILLED
    assert limit.filled_quantity == pytest.approx(20) and limit.average_price == 95
    assert stop.triggered and stop.status == OrderStatus.NEW  # nothing left for it this bar
    broker.cancel("l")
    assert limit.status == OrderStatus.CANCELLED
    broker.on_bar("X", Bar(3, 90, 91, 89, 90, 200))
    assert limit.filled_quantity == pytest.approx(20)  # nothing after the cancel
    # a triggered stop is a market order: the next open, plus slippage, within the bar
    assert stop.status == OrderStatus.FILLED and stop.average_price == pytest.approx(90 * 1.0005)


bars = st.lists(
    st.tuples(
        st.floats(50, 150), st.floats(0, 0.1), st.floats(0, 0.1), st.floats(0, 1), st.floats(1, 1e4)
    ),
    min_size=2,
    max_size=30,
)
actions = st.lists(
    st.tuples(
        st.sampled_from(["market", "limit", "stop", "stop_limit"]),
        st.sampled_from([Side.BUY, Side.SELL]),
        st.floats(0.01, 5),
        st.floats(0.8, 1.2),
        st.sampled_from([TimeInForce.GTC, TimeInForce.IOC]),
    ),
    min_size=1,
    max_size=30,
)


@settings(max_examples=150, deadline=None)
@given(bars=bars, actions=actions, cap=st.one_of(st.none(), st.floats(0.001, 1)))
def test_ledger_fills_and_quantities_hold_for_any_order_sequence(bars, actions, cap):
    broker = PaperBroker(cash=10_000.0, costs=COSTS, participation_cap=cap)
    initial = broker.cash
    for t, (mid, up, down, where, volume) in enumerate(bars):
        high, low = mid * (1 + up), mid * (1 - down)
        open_ = low + (high - low) * where
        close = low + (high - low) * (1 - where)
        for k, (kind, side, qty, rel, tif) in enumerate(actions[t :: len(bars)]):
            broker.submit(
                Order(
                    f"{t}-{k}",
                    "X",
                    side,
                    type=OrderType(kind),
                    quantity=qty,
                    limit_price=mid * rel,
                    stop_price=mid * (2 - rel),
                    tif=tif,
                )
            )
        fills = broker.on_bar("X", Bar(t, open_, high, low, close, volume))
        for f in fills:  # no fill outside the bar's range
            assert low - 1e-9 <= f.price <= high + 1e-9
    for order in broker.orders.values():  # never more than ordered
        assert order.filled_quantity <= (order.quantity or 0) + 1e-9
    # cash + position value = equity, and equity = initial + realised + unrealised − fees
    pos = broker.positions.get("X")
    value = pos.quantity * broker.marks["X"] if pos else 0.0
    assert broker.equity() == pytest.approx(broker.cash + value, rel=1e-12, abs=1e-9)
    fees = sum(f.fee for f in broker.fills)
    pnl = (pos.realized_pnl + broker.unrealized_pnl("X")) if pos else 0.0
    assert broker.equity() == pytest.approx(initial + pnl - fees, rel=1e-9, abs=1e-6)
    assert broker.ledger[-1].balance == pytest.approx(broker.cash) if broker.ledger else True


def test_equity_curve_by_hand():
    """Long decided at bar 0's close: buy at bar 1's open, sell at bar 3's open."""
    o = np.array([100.0, 101.0, 104.0, 102.0, 99.0])
    h = o + 5
    lo = o - 5
    c = np.array([100.5, 103.0, 103.5, 100.0, 98.0])
    costs = CostModel(fee_bps=10, slippage_bps=5)
    eq = equity_curve(
        open_=o,
        high=h,
        low=lo,
        close=c,
        held=held_positions(np.array([1, 1, 0, 0, 0.0])),
        costs=costs,
    )
    units = 1.0 / (101.0 * 1.0005 * 1.001)  # all-in at bar 1's open, slippage and fee
    cash_after = units * 102.0 * 0.9995 * 0.999  # out at bar 3's open
    np.testing.assert_allclose(
        eq, [1.0, units * 103.0, units * 103.5, cash_after, cash_after], rtol=1e-12
    )


def test_grid_rows_equal_single_backtests(window):
    from aaiti.trading.backtest import sma_grid

    o, h, lo, c = (window[k].to_numpy() for k in ("open", "high", "low", "close"))
    grid = sma_grid(
        open_=o, high=h, low=lo, close=c, fasts=[5, 10], slows=[20, 40], costs=COSTS, timeframe="4h"
    )
    assert len(grid) == 4
    for row in grid.itertuples(index=False):
        single = backtest(
            open_=o,
            high=h,
            low=lo,
            close=c,
            signal=sma_crossover_signals(c, row.fast, row.slow),
            costs=COSTS,
            timeframe="4h",
        ).metrics
        assert row.total_return == pytest.approx(single.total_return, rel=1e-12)
        assert row.trades == single.trades


def test_the_account_steps_bar_times_in_order_waiting_for_a_slow_stream_not_a_down_one():
    from aaiti.trading.sequencing import in_order

    ts = pd.date_range("2024-01-01", periods=5, freq="4h", tz="UTC")
    bar = pd.Timedelta(hours=4)
    bars = pd.DataFrame(
        {"exchange": "x", "symbol": ["A"] * 5 + ["B"] * 2, "ts": list(ts) + list(ts[:2])}
    )
    # B one bar behind A: A's newest bar waits for B's
    split = in_order(bars, stepped=None, newest=[ts[4], ts[3]], bar=bar, max_wait=1)
    assert list(split.waiting["ts"]) == [ts[4]] and split.late.empty and len(split.now) == 6
    # B three bars behind: down, not late; A steps on
    split = in_order(bars, stepped=None, newest=[ts[4], ts[1]], bar=bar, max_wait=1)
    assert split.waiting.empty and len(split.now) == 7
    assert split.until == ts[4]
    # waiting longer for it
    split = in_order(bars, stepped=None, newest=[ts[4], ts[1]], bar=bar, max_wait=3)
    assert list(split.now["ts"]) == [ts[0], ts[1], ts[0], ts[1]]
    # a bar older than one the account stepped is late: skipped, never stepped
    split = in_order(bars, stepped=ts[2], newest=[ts[4], ts[4]], bar=bar, max_wait=1)
    assert sorted(split.late["ts"]) == [ts[0], ts[0], ts[1], ts[1]]
    assert list(split.now["ts"]) == list(ts[2:])


def test_late_bars_of_a_stream_new_to_the_account_join_and_raise_nothing():
    """A stream with a cursor whose bars arrive after the account stepped past them is late;
    one with no cursor (a symbol just added) joins; both cursors move past their bars."""
    from aaiti.trading.sequencing import sort_late

    ts = pd.date_range("2026-01-01", periods=3, freq="1h", tz="UTC")
    late = pd.DataFrame(
        {
            "exchange": ["x", "x", "x", "y"],
            "symbol": ["A/USD", "A/USD", "B/USD", "A/USD"],
            "ts": [ts[0], ts[1], ts[2], ts[0]],
            "close": [1.0, 2.0, 3.0, 4.0],
        }
    )
    out = sort_late(late, known={("x", "A/USD"), ("z", "C/USD")})
    assert out.cursors == {("x", "A/USD"): ts[1], ("x", "B/USD"): ts[2], ("y", "A/USD"): ts[0]}
    assert out.joining == [("x", "B/USD"), ("y", "A/USD")]
    assert out.late["close"].tolist() == [1.0, 2.0]
    assert sort_late(late.iloc[:0], known=set()).late.empty
