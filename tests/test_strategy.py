"""The strategy's decision core, its two executions (compiled and event-driven), the
deflated Sharpe ratio and PBO against references, and the stop-limit fill fix."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.stats import norm

from aaiti.config import RiskSettings
from aaiti.execution import StrategySpec, StreamState, decide, params_of
from aaiti.execution.broker import Bar, Order, OrderType, PaperBroker, Side
from aaiti.execution.costs import CostModel
from aaiti.execution.session import Session, StreamBar
from aaiti.risk import metrics as m
from aaiti.risk.gate import RiskGate
from aaiti.strategy.fastsim import simulate_stream
from tests.conftest import sample_frame

BPY = 365.25 * 6


def _p(**kw) -> tuple[StrategySpec, np.ndarray]:
    spec = StrategySpec(signal="probability", **kw)
    return spec, params_of(spec, bars_per_year=BPY)


def test_stand_aside_exits_whatever_the_holding_period():
    _, P = _p(enter_long=0.55, exit_long=0.5, min_hold_bars=10)
    held = StreamState(1, 1)
    kept = decide(
        score=0.4, prob=0.4, close=1, atr=1, vol=0.01, qualified=True, state=held, params=P
    )
    assert kept.position == 1 and kept.reason == "minimum holding period"
    out = decide(
        score=0.9, prob=0.9, close=1, atr=1, vol=0.01, qualified=False, state=held, params=P
    )
    assert out.position == 0 and "not qualified" in out.reason
    flat = decide(
        score=0.9,
        prob=0.9,
        close=1,
        atr=1,
        vol=0.01,
        qualified=False,
        state=StreamState(),
        params=P,
    )
    assert flat.position == 0


def test_sizing_fails_closed_and_shorts_only_when_allowed():
    _, P = _p(sizing="vol_target", target_vol=0.5)
    d = decide(
        score=0.9,
        prob=0.9,
        close=1,
        atr=1,
        vol=math.nan,
        qualified=True,
        state=StreamState(),
        params=P,
    )
    assert d.position == 0 and d.reason == "cannot size the entry"
    d = decide(
        score=0.9, prob=0.9, close=1, atr=1, vol=0.02, qualified=True, state=StreamState(), params=P
    )
    assert d.fraction == pytest.approx(min(0.5 / (0.02 * math.sqrt(BPY)), 0.5))
    _, long_only = _p()
    _, shorts = _p(allow_short=True)
    low = dict(score=0.1, prob=0.1, close=1, atr=1, vol=0.01, qualified=True, state=StreamState())
    assert decide(**low, params=long_only).position == 0
    assert decide(**low, params=shorts).position == -1


def test_atr_stop_exits_on_the_close_that_crosses_it():
    _, P = _p(stop_atr=2.0, target_atr=3.0)
    e = decide(
        score=0.9,
        prob=0.9,
        close=100,
        atr=5,
        vol=0.01,
        qualified=True,
        state=StreamState(),
        params=P,
    )
    assert (e.state.stop, e.state.target) == (90, 115)
    d = decide(
        score=0.9, prob=0.9, close=89, atr=5, vol=0.01, qualified=True, state=e.state, params=P
    )
    assert d.position == 0 and d.reason == "ATR stop"


def _window():
    f = sample_frame("coinbase", "BTC-USD", "4h").iloc[-3000:].reset_index(drop=True)
    rng = np.random.default_rng(5)
    # probabilities with a little real information (next bar's sign) and lots of noise
    nxt = np.sign(np.log(f["close"]).diff().shift(-1).fillna(0).to_numpy())
    prob = np.clip(0.5 + 0.04 * nxt + rng.normal(0, 0.05, len(f)), 0, 1)
    return f, prob


@pytest.mark.parametrize(
    "kw",
    [
        {"enter_long": 0.55, "exit_long": 0.5, "min_hold_bars": 3},
        {"enter_long": 0.55, "exit_long": 0.5, "allow_short": True, "min_hold_bars": 1},
        {"enter_long": 0.52, "exit_long": 0.48, "sizing": "vol_target", "target_vol": 0.4},
    ],
)
def test_the_compiled_run_equals_the_event_driven_session_to_1e9(kw):
    """The evaluation's compiled loop and the paper cycle's session (broker + risk gate)
    run the same core: same equity bar by bar where the gate refuses nothing."""
    f, prob = _window()
    spec, P = _p(fraction=0.5, **kw)
    vol = np.log(f["close"]).diff().rolling(20).std().to_numpy()
    fast = simulate_stream(
        open_=f["open"], high=f["high"], low=f["low"], close=f["close"], score=prob, prob=prob,
        params=P, fee=0.001, slippage=0.0005, vol=vol, initial=100_000.0,
        allow_short=spec.allow_short,
    )  # fmt: skip
    broker = PaperBroker(cash=100_000.0, costs=CostModel(10, 5), allow_short=spec.allow_short)
    limits = RiskSettings(max_order_notional=1e12, max_position_notional=1e12, max_gross_exposure=10,
                        max_daily_loss=0.99, drawdown_warn=0.98, drawdown_halt=0.99)  # fmt: skip
    session = Session(spec=spec, params=P, account="t", timeframe="4h", broker=broker,
                      gate=RiskGate(limits))  # fmt: skip
    equity = []
    for i, r in enumerate(f.itertuples(index=False)):
        bar = StreamBar("x", "BTC/USD", r.ts, r.open, r.high, r.low, r.close, r.volume,
                        proba=prob[i], vol=vol[i])  # fmt: skip
        equity.append(session.step(r.ts, [bar]).equity)
    assert fast.trades > 20
    np.testing.assert_allclose(np.asarray(equity), fast.equity, rtol=1e-9)


def test_no_decision_at_t_depends_on_anything_after_t():
    f, prob = _window()
    _, P = _p(enter_long=0.55, exit_long=0.5)
    args = dict(open_=f["open"], high=f["high"], low=f["low"], fee=0.001, slippage=0.0005, params=P)
    base = simulate_stream(close=f["close"], score=prob, prob=prob, **args)
    cut = 2000
    close2, prob2 = f["close"].to_numpy().copy(), prob.copy()
    close2[cut + 1 :] *= 3.0
    prob2[cut + 1 :] = 1 - prob2[cut + 1 :]
    other = simulate_stream(close=close2, score=prob2, prob=prob2, **args)
    np.testing.assert_array_equal(base.held[: cut + 2], other.held[: cut + 2])
    np.testing.assert_allclose(base.equity[: cut + 1], other.equity[: cut + 1], rtol=0)


def test_deflated_sharpe_matches_the_formula_by_hand():
    rng = np.random.default_rng(3)
    r = rng.normal(0.001, 0.01, 500)
    sr = r.mean() / r.std(ddof=1)
    from scipy.stats import kurtosis, skew

    g3, g4 = skew(r), kurtosis(r, fisher=False)
    v, n = 0.002, 10
    g = 0.5772156649015329
    sr0 = math.sqrt(v) * ((1 - g) * norm.ppf(1 - 1 / n) + g * norm.ppf(1 - 1 / (n * math.e)))
    want = norm.cdf(
        (sr - sr0) * math.sqrt(len(r) - 1) / math.sqrt(1 - g3 * sr + (g4 - 1) / 4 * sr**2)
    )
    got = m.deflated_sharpe(r, trials=n, sharpe_variance=v)
    assert got.probability == pytest.approx(want, rel=1e-12)
    assert got.expected_max_sharpe == pytest.approx(sr0, rel=1e-12)
    psr = m.deflated_sharpe(r, trials=1, sharpe_variance=0.0)
    assert psr.expected_max_sharpe == 0.0


def test_the_best_of_many_zero_edge_strategies_is_deflated():
    rng = np.random.default_rng(11)
    trials = rng.normal(0.0, 0.01, (1500, 100))
    srs = trials.mean(0) / trials.std(0, ddof=1)
    best = trials[:, int(np.argmax(srs))]
    raw = m.deflated_sharpe(best, trials=1, sharpe_variance=0.0).probability
    deflated = m.deflated_sharpe(best, trials=100, sharpe_variance=float(srs.var(ddof=1)))
    assert raw > 0.95 and deflated.probability < 0.6
    assert 0.3 < m.probability_of_backtest_overfitting(trials, blocks=10).pbo < 0.8
    skilled = trials.copy()
    skilled[:, 0] += 0.003  # one configuration with real edge
    assert m.probability_of_backtest_overfitting(skilled, blocks=10).pbo < 0.1


def test_a_triggered_stop_limit_fills_only_at_prices_after_the_trigger():
    broker = PaperBroker(cash=1e6, costs=CostModel(0, 0))
    broker.submit(Order("a", "X", Side.BUY, OrderType.STOP_LIMIT, quantity=1, stop_price=110,
                        limit_price=112))  # fmt: skip
    (fill,) = broker.on_bar("X", Bar(0, 100, 115, 99, 114, 1e6))
    assert fill.price == 110  # not the open of 100, which came before the trigger
    broker.submit(Order("b", "X", Side.SELL, OrderType.STOP_LIMIT, quantity=1, stop_price=90,
                        limit_price=88))  # fmt: skip
    (fill,) = broker.on_bar("X", Bar(1, 100, 101, 85, 86, 1e6))
    assert fill.price == 90
    broker.submit(Order("c", "X", Side.BUY, OrderType.STOP_LIMIT, quantity=1, stop_price=110,
                        limit_price=108))  # fmt: skip
    assert broker.on_bar("X", Bar(2, 100, 115, 99, 114, 1e6)) == []  # limit below the stop


def _run(P, probs):
    state, out = StreamState(), []
    for p in probs:
        d = decide(score=p, prob=p, close=1, atr=1, vol=0.01, qualified=True, state=state, params=P)
        state = d.state
        out.append(d.position)
    return out


def test_hysteresis_enters_high_exits_lower_and_ignores_noise():
    _, P = _p(enter_long=0.55, exit_long=0.50)
    p = [0.52, 0.56, 0.53, 0.51, 0.49, 0.54, 0.60, math.nan, 0.7]
    assert _run(P, p) == [0, 1, 1, 1, 0, 0, 1, 0, 1]  # no prediction: flat


def test_hysteresis_with_shorts_mirrors_the_long_side():
    _, P = _p(enter_long=0.6, exit_long=0.5, allow_short=True)  # short at ≤ 0.4, out > 0.5
    assert _run(P, [0.39, 0.45, 0.51, 0.61, 0.55, 0.3]) == [-1, -1, 0, 1, 1, -1]


def test_the_edge_rule_thresholds_follow_from_costs():
    spec = StrategySpec(fee_bps=10, slippage_bps=5, min_edge=0.001)
    c = spec.cost
    assert c == pytest.approx(math.log(1.001 * 1.0005 / (0.999 * 0.9995)))
    assert spec.thresholds() == pytest.approx((0.001, -c, -2 * c - 0.001, -c))


def test_kelly_sizing_is_fractional_capped_and_takes_no_bet_without_edge():
    _, P = _p(sizing="kelly", kelly_fraction=0.5, fraction=1.0, enter_long=0.0, exit_long=0.0)

    def size(p: float, payoff: float) -> float:
        return decide(score=1, prob=p, close=1, atr=1, vol=0.01, qualified=True,
                      state=StreamState(), params=P, payoff=payoff).fraction  # fmt: skip

    assert size(0.6, 1.0) == pytest.approx(0.1)  # half of Kelly's 0.2
    assert size(0.9, 2.0) == 0.25  # capped
    assert size(0.45, 1.0) == 0.0  # no edge, no bet
    assert size(0.9, math.nan) == 0.0  # no payoff known: no bet (fails closed)


def test_kelly_sizing_trades_in_the_walk_forward_evaluation_with_each_folds_payoff():
    """The payoff comes from the edge model that scored the bar, per fold."""
    from aaiti.execution.spec import EdgeModel
    from aaiti.strategy.evaluate import evaluate

    f, prob = _window()
    edge = EdgeModel(a=0.0, b=1.0, up_return=0.02, down_return=-0.015, cost=0.003)
    spec = StrategySpec(sizing="kelly", kelly_fraction=0.5, timeframe="4h", edge_model=edge)
    bars = f.assign(
        symbol="BTC/USD", score=spec.score(prob), prob=spec.calibrated(prob),
        payoff=edge.payoff_ratio, atr=np.nan, vol=np.nan,
    )  # fmt: skip
    ev = evaluate(bars, spec, timeframe="4h")
    assert edge.payoff_ratio > 0 and ev.per_stream["coinbase:BTC/USD"]["strategy"].trades > 10


def test_volatility_target_sizing_is_capped_by_the_fraction():
    _, P = _p(sizing="vol_target", target_vol=0.2, fraction=1.0)
    d = decide(
        score=0.9, prob=0.9, close=1, atr=1, vol=0.02, qualified=True, state=StreamState(), params=P
    )
    assert d.fraction == pytest.approx(0.2 / (0.02 * math.sqrt(BPY)))
    d = decide(
        score=0.9,
        prob=0.9,
        close=1,
        atr=1,
        vol=0.0001,
        qualified=True,
        state=StreamState(),
        params=P,
    )
    assert d.fraction == 1.0


def test_atr_levels_of_a_short():
    _, P = _p(allow_short=True, stop_atr=1.0, target_atr=2.0)
    d = decide(
        score=0.1,
        prob=0.1,
        close=100,
        atr=2,
        vol=0.01,
        qualified=True,
        state=StreamState(),
        params=P,
    )
    assert d.position == -1 and (d.state.stop, d.state.target) == (102, 96)
    d = decide(score=0.1, prob=0.1, close=100, atr=math.nan, vol=0.01, qualified=True,
               state=StreamState(), params=P)  # fmt: skip
    assert d.position == 0 and d.reason == "cannot size the entry"  # no stop, no entry


def _evaluation(sharpe: float | None, qualified: bool):
    from aaiti.strategy.evaluate import Performance, Qualification, StrategyEvaluation

    perf = Performance(0.1, 0.1, sharpe, sharpe, -0.1, 0.5, 10, 1.0, 100)
    return StrategyEvaluation(
        StrategySpec(), "4h", "a", "b", {}, {"strategy": perf, "buy_and_hold": perf}, None,
        None, 1, Qualification(qualified, "q" if qualified else "no"), None, None,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("challenger", "champion", "same", "live", "kind", "trades"),
    [
        ((1.0, True), None, False, None, "first", True),
        ((1.0, False), None, False, None, "first", False),  # champion, but stands aside
        ((1.3, True), (1.0, True), False, None, "promotion", True),
        ((1.05, True), (1.0, True), False, None, "kept", True),  # inside the margin
        ((1.05, True), (1.0, True), True, None, "refresh", True),  # same configuration
        ((2.0, False), (1.0, False), False, None, "kept", False),  # nothing qualifies
        ((2.0, False), (1.0, True), True, None, "kept", True),  # no refresh that fails
        ((1.3, True), (1.0, True), False, (40, 0.2, 0.9), "kept", True),  # loses live
        ((1.3, True), (1.0, True), False, (40, 0.9, 0.2), "promotion", True),
        ((1.3, True), (1.0, True), False, (10, 0.2, 0.9), "promotion", True),  # too few bars
    ],
)
def test_promotion_refresh_and_standing_aside(challenger, champion, same, live, kind, trades):
    from aaiti.strategy.promotion import LiveComparison, decide_promotion

    d = decide_promotion(
        challenger=_evaluation(*challenger),
        champion=None if champion is None else _evaluation(*champion),
        champion_version=None if champion is None else 1,
        same_config=same,
        margin=0.1,
        min_live_bars=30,
        live=None if live is None else LiveComparison(*live),
    )
    assert (d.kind, d.qualified) == (kind, trades)
    assert d.promoted == (kind in ("first", "promotion", "refresh"))
    if live is not None and live[0] < 30:
        assert "live comparison skipped" in d.reason


def _cash_session(fraction: float, *, gross: float = 10.0, cash: float = 100_000.0):
    """A session over a fresh broker whose only binding limits are cash and ``gross``."""
    spec, P = _p(enter_long=0.55, exit_long=0.5, fraction=fraction)
    broker = PaperBroker(cash=cash, costs=CostModel(10, 5))
    limits = RiskSettings(max_order_notional=1e12, max_position_notional=1e12,
                        max_gross_exposure=gross, max_daily_loss=0.99, drawdown_warn=0.98,
                        drawdown_halt=0.99)  # fmt: skip
    session = Session(spec=spec, params=P, account="t", timeframe="4h", broker=broker,
                      gate=RiskGate(limits))  # fmt: skip
    return session, broker


def _three_long(ts, price):
    """Three streams at one close, each with a strong long signal."""
    return [StreamBar("x", s, ts, price, price * 1.01, price * 0.99, price, 1.0, proba=0.9)
            for s in ("A/USD", "B/USD", "C/USD")]  # fmt: skip


def test_long_entries_share_the_cash_left_and_none_is_sent_to_be_refused():
    """Two streams entering long at one close with 0.6 of equity each: the second takes
    the cash the first has not promised (it was sent at 0.6 and refused by the broker,
    at every bar after); a third finds none and sends nothing."""
    session, broker = _cash_session(0.6)
    bars = _three_long

    t0, t1 = np.datetime64("2024-01-01T00"), np.datetime64("2024-01-01T04")
    first = session.step(t0, bars(t0, 100.0))
    sent = {i.bar.symbol: i.notional for i in first.intents}
    assert sent["A/USD"] == pytest.approx(60_000.0) and sent["B/USD"] == pytest.approx(40_000.0)
    assert "C/USD" not in sent and first.decisions["x:C/USD"] == "no cash left for the entry"
    second = session.step(t1, bars(t1, 100.0))
    assert len(second.fills) == 2 and not [
        i for i in second.intents if i.order.status == "rejected"
    ]
    assert all(o.status.value != "rejected" for o in broker.orders.values())
    assert broker.cash == pytest.approx(0.0, abs=1e-6) and set(broker.positions) == {
        "x:A/USD",
        "x:B/USD",
    }


def test_the_strongest_signals_enter_first_when_cash_runs_out():
    """Three long signals at one close, cash for two entries of 0.5: the two strongest
    enter, whatever their place in the bars (by symbol, A and B took it before), and the
    weakest finds no cash. A held instrument decides before any entry."""
    session, broker = _cash_session(0.5)

    def bars(ts, probas):
        return [StreamBar("x", s, ts, 100.0, 101.0, 99.0, 100.0, 1.0, proba=p)
                for s, p in zip(("A/USD", "B/USD", "C/USD"), probas, strict=True)]  # fmt: skip

    t0, t1 = np.datetime64("2024-01-01T00"), np.datetime64("2024-01-01T04")
    first = session.step(t0, bars(t0, (0.6, 0.9, 0.8)))
    assert [i.bar.symbol for i in first.intents] == ["B/USD", "C/USD"]
    assert first.decisions["x:A/USD"] == "no cash left for the entry"
    session.step(t1, bars(t1, (0.6, 0.9, 0.8)))
    assert set(broker.positions) == {"x:B/USD", "x:C/USD"}
    order = session.by_priority(bars(t1, (0.99, 0.7, 0.2)))
    assert [b.symbol for b in order] == ["B/USD", "C/USD", "A/USD"]  # held, then by signal


def test_entries_are_sized_into_the_gross_limit_counting_the_orders_still_working():
    """Three streams entering at one close with 0.4 of equity each under a 0.5× gross
    limit: the first takes 0.4, the second the 0.1 left (the first's order counts before it
    fills), the third sends nothing; no order is refused by the gate, then or at the fill."""
    session, broker = _cash_session(0.4, gross=0.5)
    bars = _three_long

    t0, t1 = np.datetime64("2024-01-01T00"), np.datetime64("2024-01-01T04")
    first = session.step(t0, bars(t0, 100.0))
    sent = {i.bar.symbol: i.notional for i in first.intents}
    assert sent["A/USD"] == pytest.approx(40_000.0)
    assert sent["B/USD"] == pytest.approx(10_000.0, rel=1e-6)
    assert "C/USD" not in sent
    assert first.decisions["x:C/USD"] == "no room left in the risk limits for the entry"
    assert all(i.gate.approved for i in first.intents)
    second = session.step(t1, bars(t1, 100.0))
    assert len(second.fills) == 2
    assert all(i.gate.approved for i in second.intents)
    assert all(o.status.value != "rejected" for o in broker.orders.values())
    gross = sum(abs(v) for v in session.exposures().values())
    assert gross <= 0.5 * 100_000.0


def test_an_open_order_that_cannot_be_valued_is_an_error_not_zero():
    spec, P = _p(enter_long=0.55, exit_long=0.5, fraction=0.4)
    broker = PaperBroker(cash=100_000.0, costs=CostModel(10, 5))
    session = Session(spec=spec, params=P, account="t", timeframe="4h", broker=broker,
                      gate=RiskGate(RiskSettings()))  # fmt: skip
    broker.submit(Order("o1", "A/USD", Side.BUY, quantity=10.0))
    with pytest.raises(ValueError, match="no notional and no mark"):
        session.buying_power()


def test_one_symbol_on_two_exchanges_is_two_instruments():
    """BTC/USD on two exchanges: two orders, two positions, each filled and marked at its
    own exchange's prices (keyed by symbol alone, the second fill would have added to the
    first's position and its close re-marked both)."""
    session, broker = _cash_session(0.3)

    def bars(ts):
        return [StreamBar(ex, "BTC/USD", ts, p, p * 1.01, p * 0.99, p, 1.0, proba=0.9)
                for ex, p in (("a", 100.0), ("b", 200.0))]  # fmt: skip

    t0, t1 = np.datetime64("2024-01-01T00"), np.datetime64("2024-01-01T04")
    first = session.step(t0, bars(t0))
    assert sorted(i.order.symbol for i in first.intents) == ["a:BTC/USD", "b:BTC/USD"]
    assert set(first.decisions) == {"a:BTC/USD", "b:BTC/USD"}
    session.step(t1, bars(t1))
    assert set(broker.positions) == {"a:BTC/USD", "b:BTC/USD"}
    assert broker.marks == {"a:BTC/USD": 100.0, "b:BTC/USD": 200.0}
    qa, qb = (broker.positions[k].quantity for k in ("a:BTC/USD", "b:BTC/USD"))
    assert qa * 100.0 == pytest.approx(30_000.0, rel=2e-3)  # 0.3 of equity, net of costs
    assert qb * 200.0 == pytest.approx(qa * 100.0, rel=2e-3)
    assert broker.equity() == pytest.approx(broker.cash + qa * 100.0 + qb * 200.0)


def test_a_covering_buy_holds_back_its_value_with_slippage_and_fee():
    """A short's cover is a quantity: at the fill it costs its value plus slippage and fee,
    so the buying power left for entries holds that back too (at the mark alone, an entry
    sized to the rest was refused at the fill)."""
    from aaiti.execution.broker import Position

    spec, P = _p(enter_long=0.55, exit_long=0.5, fraction=0.4)
    broker = PaperBroker(cash=110_000.0, costs=CostModel(10, 5), allow_short=True)
    broker.positions["x:A/USD"] = Position("x:A/USD", -100.0, 100.0, 0.0)
    broker.marks["x:A/USD"] = 100.0
    session = Session(spec=spec, params=P, account="t", timeframe="4h", broker=broker,
                      gate=RiskGate(RiskSettings()))  # fmt: skip
    broker.submit(Order("cover", "x:A/USD", Side.BUY, quantity=100.0))
    broker.submit(Order("entry", "x:B/USD", Side.BUY, notional=50_000.0))
    assert session.buying_power() == pytest.approx(110_000.0 - 100 * 100.0 * 1.0015 - 50_000.0)


def test_breakdowns_by_year_and_regime_add_up_to_the_whole_and_never_look_ahead():
    """Per year and per regime, each stream and the portfolio, strategy beside buy-and-hold:
    the segments compound back to the evaluation's own totals; a regime is known at the
    close before its bar."""
    from aaiti.execution.spec import EdgeModel
    from aaiti.strategy.breakdown import regimes
    from aaiti.strategy.evaluate import evaluate

    f, prob = _window()
    edge = EdgeModel(a=0.0, b=1.0, up_return=0.02, down_return=-0.015, cost=0.003)
    spec = StrategySpec(timeframe="4h", edge_model=edge)
    bars = f.assign(symbol="BTC/USD", score=spec.score(prob), prob=spec.calibrated(prob),
                    payoff=edge.payoff_ratio, atr=np.nan, vol=np.nan)  # fmt: skip
    ev = evaluate(bars, spec, timeframe="4h")
    for series, perf in (("portfolio", ev.portfolio),
                         ("coinbase:BTC/USD", ev.per_stream["coinbase:BTC/USD"])):  # fmt: skip
        parts = ev.breakdowns[series]
        assert len(parts["by_year"]) >= 2 and set(parts["by_regime"]) <= {"drawdown", "rising"}
        for curve in ("strategy", "buy_and_hold"):
            for split in ("by_year", "by_regime"):
                whole = np.prod([1 + x[curve]["total_return"] for x in parts[split].values()])
                assert whole - 1 == pytest.approx(perf[curve].total_return, rel=1e-9)
    assert ev.summary()["breakdowns"] == ev.breakdowns
    # 1 → 1.1 → 0.8 (27 % below the peak) → 0.85 → 1.2
    r = np.array([0.1, 0.8 / 1.1 - 1, 0.85 / 0.8 - 1, 1.2 / 0.85 - 1])
    assert list(regimes(r)) == ["rising", "rising", "drawdown", "drawdown"]
    changed = r.copy()
    changed[3] = -0.9  # the future moves; the labels up to it do not
    assert list(regimes(changed)) == list(regimes(r))
