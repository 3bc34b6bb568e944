"""Paper trading on real data through the real pipeline: lineage, fills, halt, kill switch."""

from __future__ import annotations

from datetime import UTC, datetime

import duckdb
import numpy as np
import pandas as pd
import pytest

from aaiti.config import load_settings
from aaiti.ml import predict_new
from aaiti.risk.job import compute_risk
from aaiti.strategy.training import train_and_register
from aaiti.trading.cycle import trading_cycle
from aaiti.trading.halt import halt, resume
from tests.support.planted import planted_cycle as cycle
from tests.support.planted import write_planted_sample

pytestmark = pytest.mark.integration


def q(settings, sql):
    con = duckdb.connect(str(settings.warehouse_path), read_only=True)
    try:
        return con.sql(sql).fetchall()
    finally:
        con.close()


def paper_traded(data_dir, *, bars: int, **overrides):
    """A warehouse through the real pipeline on candles with a planted, learnable edge:
    history, a champion whose strategy qualifies honestly (the same gate as real data),
    then ``bars`` replayed bars each ingested, gated, transformed, predicted and traded."""
    sample = write_planted_sample(data_dir.parent / "planted")
    settings = load_settings(
        data_dir=data_dir,
        sample_dir=sample,
        model_fold_period="half",
        trading_allow_short=True,
        **overrides,
    )
    cycle(settings)
    report = train_and_register(settings)
    assert report.qualified, report.qualification
    predict_new(settings)
    for _ in range(bars):
        cycle(settings)
        predict_new(settings)
        trading_cycle(settings)
    return settings


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """One planted warehouse with a qualified champion and no bar traded yet: the scenarios
    that change it each start from their own copy instead of training again."""
    return paper_traded(tmp_path_factory.mktemp("trained") / "data", bars=0)


@pytest.fixture(scope="module")
def env(trained, tmp_path_factory):
    """The trained warehouse after eight bars ingested, gated, predicted and traded."""
    settings = copy_of(trained, tmp_path_factory.mktemp("trade"))
    for _ in range(8):
        cycle(settings)
        predict_new(settings)
        trading_cycle(settings)
    return settings


def copy_of(trained, tmp_path, **overrides):
    """The trained warehouse, its MLflow store and its planted sample, copied whole; the
    registered model's artifacts stay where training wrote them and are only read."""
    import shutil

    root = tmp_path / "copy"
    shutil.copytree(trained.data_dir.parent, root)
    return load_settings(
        data_dir=root / "data",
        sample_dir=root / "planted",
        model_fold_period="half",
        trading_allow_short=True,
        **overrides,
    )


def test_orders_fill_at_the_next_open_within_the_bar_with_lineage(env):
    orders = q(env, "SELECT status, model_version, run_id, decided_at_bar FROM trading.orders")
    assert len(orders) >= 2 and all(v == 1 and r for _, v, r, _ in orders)
    bad = q(
        env,
        """
        SELECT count(*) FROM trading.fills f JOIN marts.fct_candles c
          ON c.symbol = f.symbol AND c.timeframe = '4h' AND c.ts = f.bar_ts
        WHERE f.price < c.low - 1e-9 OR f.price > c.high + 1e-9""",
    )[0][0]
    assert bad == 0
    later = q(
        env,
        """
        SELECT count(*) FROM trading.fills f JOIN trading.orders o USING (client_order_id)
        WHERE f.bar_ts <= o.decided_at_bar""",
    )[0][0]
    assert later == 0  # never at or before the bar whose close decided it
    assert q(env, "SELECT count(*) FROM trading.fills")[0][0] >= 1


def test_equity_is_cash_plus_positions_and_reruns_change_nothing(env):
    rows = q(env, "SELECT cash, position_value, equity FROM trading.equity")
    assert len(rows) >= 8 and all(abs(c + p - e) < 1e-6 for c, p, e in rows)
    before = q(env, "SELECT count(*) FROM trading.orders")[0][0]
    again = trading_cycle(env)
    assert again.bars == 0 and q(env, "SELECT count(*) FROM trading.orders")[0][0] == before


def test_risk_metrics_are_computed_or_say_why_not(env):
    report = compute_risk(env)
    assert report.status("var_95_historical") == "ok"
    assert report.status("sharpe") == "insufficient_history"  # a few bars of own history
    assert report.value("correlation") is not None


def test_halt_stops_new_orders_at_the_next_bar_and_resume_is_audited(env):
    from datetime import UTC, datetime

    halted_at = datetime.now(UTC)
    halt(env, actor="tester", reason="drill")
    # the qualified strategy keeps deciding: every entry it wants while halted is refused
    # (exits are still allowed); bars arrive until it has wanted one
    entries: list = []
    for _ in range(20):
        cycle(env)
        predict_new(env)
        assert trading_cycle(env).halted
        entries = q(
            env,
            f"""
            SELECT status, reason FROM trading.orders
            WHERE client_order_id LIKE '%:enter' AND created_at > '{halted_at.isoformat()}'""",
        )
        if entries:
            break
    assert entries and all(s == "rejected" and "trading halted" in r for s, r in entries)
    rules = [r[0] for r in q(env, "SELECT rule FROM risk.breaches")]
    assert "manual_halt" in rules
    resume(env, actor="tester")
    audit = q(env, "SELECT actor, action FROM audit.log ORDER BY logged_at")
    assert ("tester", "halt") in audit and ("tester", "resume") in audit


def test_the_drawdown_kill_switch_halts_and_is_recorded(trained, tmp_path):
    settings = copy_of(trained, tmp_path, risk_drawdown_warn=0.0001, risk_drawdown_halt=0.0002)
    events: list[str] = []
    for _ in range(20):
        cycle(settings)
        predict_new(settings)
        events += trading_cycle(settings).events
        if any("halt level" in e for e in events):
            break
    assert any("halt level" in e for e in events), events
    rules = {r[0] for r in q(settings, "SELECT rule FROM risk.breaches")}
    assert "kill_switch" in rules


def test_an_operator_disables_and_enables_the_strategy_audited(env):
    """Disabled, the qualified strategy stands aside and says who switched it off and why;
    enabled, it trades on its qualification again. Both switches are audited, before → after."""
    from aaiti.strategy.switch import switch_strategy

    switch_strategy(env, enabled=False, actor="ops", reason="exchange maintenance")
    try:
        cycle(env)
        predict_new(env)
        report = trading_cycle(env)
        assert report.qualified is False and "disabled by ops" in report.strategy_reason
        assert "exchange maintenance" in report.strategy_reason
    finally:
        switch_strategy(env, enabled=True, actor="ops", reason="maintenance over")
    cycle(env)
    predict_new(env)
    assert trading_cycle(env).qualified is True
    audit = q(env, "SELECT action, detail FROM audit.log WHERE actor = 'ops' ORDER BY logged_at")
    assert [a for a, _ in audit][-2:] == ["strategy disable", "strategy enable"]
    assert "enabled → disabled" in audit[-2][1] and "disabled → enabled" in audit[-1][1]


def test_a_strategy_that_does_not_qualify_stands_aside_and_exits(env):
    """Fail closed: the deployed strategy loses its qualification → exits, no entries."""
    from datetime import UTC, datetime

    from aaiti.strategy.store import load_state, save_state
    from aaiti.warehouse import Warehouse

    wh = Warehouse.from_settings(env)
    started = datetime.now(UTC)
    with wh.writer(purpose="test") as con:
        state = load_state(con, name=env.trading_strategy, timeframe="4h")
        save_state(con, state.__class__(state.spec, False, "test: lost its edge", started))
    try:
        for _ in range(3):
            cycle(env)
            predict_new(env)
            report = trading_cycle(env)
            assert report.qualified is False
            assert any("stands aside" in e and "lost its edge" in e for e in report.events)
        held = q(env, "SELECT count(*) FROM trading.positions WHERE quantity != 0")[0][0]
        entries = q(
            env,
            "SELECT count(*) FROM trading.orders WHERE client_order_id LIKE '%:enter' "
            f"AND created_at > '{started.isoformat()}'",
        )[0][0]
        assert held == 0 and entries == 0
    finally:
        with wh.writer(purpose="test") as con:
            save_state(con, state)


def until_both_want_long(env) -> None:
    """Bars arrive until the deployed strategy's newest decision is a long entry on both
    streams (the live tests need an order per stream; shorts are not sent to spot)."""
    import numpy as np

    from aaiti.strategy.store import load_state

    for _ in range(60):
        con = duckdb.connect(str(env.warehouse_path), read_only=True)  # predict publishes none
        try:
            spec = load_state(con, name=env.trading_strategy, timeframe="4h").spec
            rows = con.sql(
                "SELECT symbol, probability FROM ml.predictions "
                "WHERE ts = (SELECT max(ts) FROM ml.predictions)"
            ).fetchall()
        finally:
            con.close()
        scores = spec.score(np.array([p for _, p in rows]))
        if len(rows) == 2 and (scores >= spec.thresholds()[0]).all():
            return
        cycle(env)
        predict_new(env)
    pytest.fail("the planted strategy never wanted both streams long")


# ---------------------------------------------------------------- live routing (loopback)
# These run last in the module: the final one adds a bar to the shared warehouse.

LIVE_KEY, LIVE_SECRET = "live-key-7c1e", "live-secret-93ab0f"


def live_settings(env, url: str, account: str):
    from pydantic import SecretStr

    return env.model_copy(
        update={
            "trading_account": account,
            "trading_allow_short": False,
            "live_trading": True,
            "live_exchange": "binance",
            "ccxt_api_base_url": url,
            "live_api_key": SecretStr(LIVE_KEY),
            "live_api_secret": SecretStr(LIVE_SECRET),
        }
    )


def fake_exchange(env):
    """The loopback exchange, its market price at the warehouse's newest close."""
    from tests.conftest import sample_frame
    from tests.support.fake_binance import FakeBinance

    ex = FakeBinance(
        {
            "BTCUSD": sample_frame("coinbase", "BTC-USD", "4h"),
            "ETHUSD": sample_frame("coinbase", "ETH-USD", "4h"),
        },
        "4h",
    )
    ex.state.price = {
        symbol.replace("/", ""): close
        for symbol, close in q(
            env,
            """SELECT symbol, arg_max(close, ts) FROM marts.fct_candles
               WHERE timeframe = '4h' AND origin_timeframe = '4h' AND NOT is_open
               GROUP BY symbol""",
        )
    }
    ex.state.balances = {"USD": env.trading_initial_cash}  # the account the ledger opens from
    return ex


def test_live_cycle_sends_only_the_newest_close_and_books_the_exchange_fills(env):
    from aaiti.trading.live import exchange_client_id, live_client

    until_both_want_long(env)
    with fake_exchange(env) as ex:
        ex.state.commission_rate = 0.002  # not the configured 10 bps: the exchange's fee wins
        s = live_settings(env, ex.url, "live-now")
        report = trading_cycle(s, order_client=live_client(s))
        assert report.bars > 2 and report.orders == 2 and report.fills == 2
        assert any("caught up without trading" in e for e in report.events)
        newest = q(env, "SELECT max(last_bar_ts) FROM trading.cursor WHERE account='live-now'")[0][
            0
        ]
        sent = {str(o["orderId"]): o for o in ex.state.orders.values()}
        assert sorted(o["symbol"] for o in sent.values()) == ["BTCUSD", "ETHUSD"]
        assert all(len(o["clientOrderId"]) <= 32 for o in sent.values())
        rows = q(
            env,
            """SELECT o.client_order_id, o.venue, o.status, o.exchange_order_id, o.decided_at_bar,
                      f.venue, f.quantity, f.price, f.fee, f.bar_ts
               FROM trading.orders o JOIN trading.fills f USING (client_order_id)
               WHERE o.account = 'live-now' ORDER BY 1""",
        )
        assert len(rows) == 2
        for cid, venue, status, xid, decided, fvenue, qty, price, fee, bar_ts in rows:
            placed = sent[xid]
            assert placed["clientOrderId"] == exchange_client_id(cid)
            assert (venue, status, fvenue) == ("live", "filled", "live")
            assert decided == newest
            assert qty == pytest.approx(float(placed["executedQty"]))
            assert price == pytest.approx(float(placed["fills"][0]["price"]))
            assert fee == pytest.approx(0.002 * qty * price)
            assert (bar_ts - decided).total_seconds() == 4 * 3600  # executes in the next bar
        cash = q(env, "SELECT cash FROM trading.account WHERE account = 'live-now'")[0][0]
        spent = sum(r[6] * r[7] + r[8] for r in rows)
        assert cash == pytest.approx(env.trading_initial_cash - spent)
        # a rerun of the same bar sends nothing more
        assert trading_cycle(s, order_client=live_client(s)).orders == 0 and len(sent) == 2


def test_exchange_refusal_is_recorded_and_counts_toward_the_breaker(env):
    from aaiti.trading.live import live_client

    with fake_exchange(env) as ex:
        ex.state.market_fill = "reject"
        until_both_want_long(env)
        s = live_settings(env, ex.url, "live-reject")
        report = trading_cycle(s, order_client=live_client(s))
    assert report.orders == 2 and report.rejected == 2 and report.fills == 0
    reasons = q(env, "SELECT status, reason FROM trading.orders WHERE account = 'live-reject'")
    assert all(st == "rejected" and "insufficient balance" in r for st, r in reasons)
    state = q(env, "SELECT state FROM risk.state WHERE account = 'live-reject'")[0][0]
    assert '"consecutive_failures": 2' in state
    assert q(env, "SELECT count(*) FROM trading.positions WHERE account='live-reject'")[0][0] == 0


def test_an_order_sent_before_a_crash_is_adopted_not_sent_twice(env):
    from aaiti.trading.live import exchange_client_id, live_client

    with fake_exchange(env) as ex:
        until_both_want_long(env)
        s = live_settings(env, ex.url, "live-adopt")
        newest = q(
            env,
            """SELECT max(ts) FROM marts.fct_candles
               WHERE timeframe = '4h' AND origin_timeframe = '4h' AND NOT is_open""",
        )[0][0]
        spec = strategy_for_test(env)
        cid = (
            f"{spec.name}@{spec.version}:live-adopt:coinbase:BTC/USD:4h:{newest.isoformat()}:enter"
        )
        # the account was opened at opt-in; the cycle that sent this crashed before its
        # transaction committed
        from aaiti.trading.venue import open_live_account
        from aaiti.warehouse import Warehouse

        with Warehouse.from_settings(s).writer() as con:
            open_live_account(
                con, s.trading, timeframe="4h", client=live_client(s), now=datetime.now(UTC)
            )
        live_client(s).place(
            symbol="BTC/USD",
            side="buy",
            order_type="market",
            amount=0.1,
            client_order_id=exchange_client_id(cid),
        )
        report = trading_cycle(s, order_client=live_client(s))
        assert report.orders == 2 and len(ex.state.orders) == 2  # BTC adopted, ETH sent
    ((qty, status),) = q(
        env, f"SELECT filled_quantity, status FROM trading.orders WHERE client_order_id = '{cid}'"
    )
    assert status == "filled" and qty == pytest.approx(0.1)


RECON: dict = {}  # the exchange's balances the accepted account continues from


def test_live_reconciliation_opens_from_the_exchange_and_stops_on_a_changed_balance(env):
    """The live ledger opens from the exchange's balances; a balance changed behind the
    system's back stops new orders, alerted, until an operator accepts it (audited). The
    adoption at the next bar is the test after next (the one between adds that bar)."""
    from aaiti.trading.live import accept_exchange_balances, live_client
    from aaiti.trading.venue import open_live_account
    from aaiti.warehouse import Warehouse

    with fake_exchange(env) as ex:
        ex.state.balances = {"USD": 60_000.0, "BTC": 0.25}
        s = live_settings(env, ex.url, "live-recon")
        with Warehouse.from_settings(s).writer() as con:
            opening = open_live_account(
                con, s.trading, timeframe="4h", client=live_client(s), now=datetime.now(UTC)
            )
        ((initial, cash),) = q(
            env, "SELECT initial_cash, cash FROM trading.account WHERE account = 'live-recon'"
        )
        ((btc, cost),) = q(
            env,
            "SELECT quantity, average_price FROM trading.positions WHERE account = 'live-recon'",
        )
        assert (cash, btc) == (60_000.0, 0.25) and initial == pytest.approx(60_000 + 0.25 * cost)
        assert opening.positions["BTC/USD"] == (0.25, cost)

        ex.state.balances["USD"] += 5_000.0  # a deposit the ledger knows nothing of
        until_both_want_long(env)  # flat in ETH: an entry there is wanted at the newest close
        refused = trading_cycle(s, order_client=live_client(s))
        assert refused.orders == 0 and ex.state.orders == {}
        assert any("differs from the exchange" in e and "USD" in e for e in refused.events)
        ((agrees, ledger, exchange),) = q(
            env,
            """SELECT agrees, ledger, exchange FROM trading.reconciliations
               WHERE account = 'live-recon' AND kind = 'check' AND currency = 'USD'""",
        )
        assert (agrees, ledger, exchange) == (False, 60_000.0, 65_000.0)
        assert q(env, "SELECT count(*) FROM risk.breaches WHERE rule = 'reconciliation' "
                      "AND account = 'live-recon'")[0][0] == 1  # fmt: skip
        assert q(env, "SELECT severity FROM ops.alerts "
                      "WHERE dedup_key = 'trading:live-recon:reconcile'") == [("critical",)]  # fmt: skip

        accept_exchange_balances(s, actor="ops", reason="deposit from the bank")
        assert trading_cycle(s, order_client=live_client(s)).bars == 0  # adopted at a new bar
        RECON["exchange"] = dict(ex.state.balances)


def test_an_order_still_open_on_the_exchange_is_reconciled_at_the_next_bar(env):
    from aaiti.trading.live import live_client

    with fake_exchange(env) as ex:
        ex.state.market_fill = "later"
        until_both_want_long(env)
        s = live_settings(env, ex.url, "live-later")
        first = trading_cycle(s, order_client=live_client(s))
        assert first.orders == 2 and first.fills == 0
        assert {
            r[0] for r in q(env, "SELECT status FROM trading.orders WHERE account='live-later'")
        } == {"new"}
        cycle(env)  # one more closed bar arrives
        predict_new(env)
        second = trading_cycle(s, order_client=live_client(s))
    assert second.fills == 2
    rows = q(
        env,
        """SELECT o.status, o.reason, f.fee, f.quantity * f.price, f.bar_ts > o.decided_at_bar
           FROM trading.orders o JOIN trading.fills f USING (client_order_id)
           WHERE o.account = 'live-later'""",
    )
    assert len(rows) == 2
    for status, reason, fee, notional, later in rows:
        assert status == "filled" and later
        assert "fee estimated at 10 bps" in reason  # Binance's GET /order carries no fee
        assert fee == pytest.approx(notional * 0.001)


def strategy_for_test(env):
    from aaiti.strategy.store import load_state
    from aaiti.trading.cycle import strategy_for

    con = duckdb.connect(str(env.warehouse_path), read_only=True)
    try:
        state = load_state(con, name=env.trading_strategy, timeframe="4h")
    finally:
        con.close()
    s = env.model_copy(update={"trading_allow_short": False})
    return strategy_for(state, s.trading, "4h")[0]


def test_accepted_exchange_figures_are_adopted_at_the_next_bar(env):
    """The account the reconciliation test left with an accepted difference: at the bar
    the test before this one added, the ledger takes the exchange's figures (audited,
    before → after), agrees again and may trade."""
    from aaiti.trading.live import live_client

    with fake_exchange(env) as ex:
        ex.state.balances = RECON["exchange"]
        s = live_settings(env, ex.url, "live-recon")
        resumed = trading_cycle(s, order_client=live_client(s))
        assert resumed.bars >= 1 and not any("differs" in e for e in resumed.events)
        assert len(ex.state.orders) == resumed.orders
    checks = q(
        env,
        """SELECT bool_and(agrees) FROM trading.reconciliations WHERE account = 'live-recon'
           AND kind = 'check' AND checked_at = (SELECT max(checked_at)
           FROM trading.reconciliations WHERE account = 'live-recon')""",
    )
    assert checks == [(True,)]
    audit = q(env, "SELECT actor, action, detail FROM audit.log WHERE actor = 'ops' "
                   "AND action LIKE 'reconcile%' ORDER BY logged_at")  # fmt: skip
    assert [a for _, a, _ in audit] == ["reconcile accept", "reconcile adopt"]
    assert (
        "60000" in audit[0][2] and "65000" in audit[0][2] and "deposit from the bank" in audit[1][2]
    )
    ledger = q(env, "SELECT amount FROM trading.ledger WHERE account = 'live-recon' "
                    "AND kind = 'adjustment'")  # fmt: skip
    assert ledger == [(pytest.approx(5_000.0),)]


def test_the_paper_cycle_bar_by_bar_equals_the_strategy_backtest_of_the_window(tmp_path):
    """Strategy-level parity: twelve cycles through the warehouse, one at a time, give the
    orders, fills and equity of one backtest over the same bars — with volatility-target
    sizing, a minimum holding period, shorts and risk-gate refusals (an ETH limit) in play."""
    from aaiti.market.candles import split_instrument
    from aaiti.strategy.backtest import trade_window
    from aaiti.strategy.store import load_state
    from aaiti.trading.cycle import strategy_for
    from aaiti.trading.sequencing import with_predictions

    s = paper_traded(
        tmp_path / "data",
        bars=12,
        strategy_sizing="vol_target",
        strategy_target_vol=0.3,
        strategy_min_hold_bars=2,
        risk_position_limits={"ETH/USD": 1_000.0},
    )
    con = duckdb.connect(str(s.warehouse_path), read_only=True)
    try:
        state = load_state(con, name=s.trading_strategy, timeframe="4h")
        spec = strategy_for(state, s.trading, "4h")[0]
        first = con.sql("SELECT min(ts) FROM ml.predictions").fetchall()[0][0]
        bars = (
            con.sql(
                """SELECT exchange, symbol, timeframe, ts, open, high, low, close, volume
               FROM marts.fct_candles WHERE timeframe = '4h' AND origin_timeframe = timeframe
               AND NOT is_open AND ts >= $1 ORDER BY ts, symbol""",
                params=[first],
            )
            .to_arrow_table()
            .to_pandas()
        )
        preds = (
            con.sql(
                """SELECT p.exchange, p.symbol, p.timeframe, p.ts, p.probability, p.model_name,
                      p.model_version, p.run_id, f.atr_14, f.realized_vol_20
               FROM ml.predictions p LEFT JOIN marts.fct_features f
               USING (exchange, symbol, timeframe, ts)""",
            )
            .to_arrow_table()
            .to_pandas()
        )
        db_equity = (
            con.sql("SELECT ts, equity FROM trading.equity ORDER BY ts")
            .to_arrow_table()
            .to_pandas()
        )
        db_fills = con.sql(
            "SELECT bar_ts, symbol, side, quantity, price, fee FROM trading.fills "
            "ORDER BY bar_ts, symbol, side, quantity"
        ).fetchall()
        db_orders = set(con.sql("SELECT client_order_id, status FROM trading.orders").fetchall())
    finally:
        con.close()
    window = trade_window(
        with_predictions(bars, preds), spec, initial_cash=s.trading_initial_cash,
        limits=s.trading.risk, account=s.trading_account,
    )  # fmt: skip
    eth = [i for i in window.intents if i.bar.symbol == "ETH/USD" and i.leg == "enter"]
    assert eth and all(i.notional <= 1_000.0 for i in eth)  # sized into the ETH limit
    assert all(i.gate.approved for i in window.intents)  # so nothing is sent to be refused
    assert len(window.fills) >= 2 and len(db_equity) == len(window.equity)
    np.testing.assert_allclose(db_equity["equity"], window.equity["equity"], rtol=1e-9)
    ours = sorted(
        (pd.Timestamp(f.ts), split_instrument(f.symbol)[1], str(f.side), f.quantity, f.price, f.fee)
        for f in window.fills
    )
    assert len(ours) == len(db_fills)
    for a, b in zip(ours, db_fills, strict=True):
        assert a[:3] == (pd.Timestamp(b[0]), b[1], b[2])
        np.testing.assert_allclose(a[3:], b[3:], rtol=1e-9)
    assert {(i.order.client_order_id, str(i.order.status)) for i in window.intents} <= db_orders


def test_var_is_insufficient_history_when_a_held_symbol_has_no_returns(env):
    """Fail closed: a position the risk window has no returns for makes VaR and CVaR
    unknown — never a figure from the other positions alone, never 0."""
    from datetime import UTC, datetime

    from aaiti.warehouse import Warehouse

    s = env.model_copy(update={"trading_account": "var-gap"})
    with Warehouse.from_settings(s).writer(purpose="test") as con:
        con.execute(
            "INSERT INTO trading.positions VALUES ('var-gap', 'coinbase', 'SOL/USD', 10, 100, 0, 100, $1)",
            [datetime.now(UTC)],
        )
    report = compute_risk(s)
    for metric in ("var_95_historical", "cvar_99_cornish_fisher"):
        assert report.status(metric) == "insufficient_history"
        assert report.value(metric) is None


def test_aaiti_evaluate_prints_the_net_figures_and_records_them(env, monkeypatch):
    import json

    from typer.testing import CliRunner

    from aaiti.cli import app

    for key, value in {
        "AAITI_DATA_DIR": env.data_dir,
        "AAITI_SAMPLE_DIR": env.sample_dir,
        "AAITI_MODEL_FOLD_PERIOD": "half",
        "AAITI_TRADING_ALLOW_SHORT": "true",
    }.items():
        monkeypatch.setenv(key, str(value))
    before = q(env, "SELECT count(*) FROM strategy.evaluations WHERE role = 'evaluate'")[0][0]
    result = CliRunner().invoke(app, ["evaluate", "--json"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.output)
    p, bh = out["portfolio"]["strategy"], out["portfolio"]["buy_and_hold"]
    for key in ("total_return", "cagr", "sharpe", "sortino", "max_drawdown", "turnover", "trades",
                "exposure"):  # fmt: skip
        assert key in p and key in bh
    assert out["portfolio"]["flat"]["total_return"] == 0.0
    assert set(out["per_stream"]) == {"coinbase:BTC/USD", "coinbase:ETH/USD"}
    assert out["deflated_sharpe"]["trials"] == out["trials"] >= 1
    assert out["qualified"] is True and p["sharpe"] > bh["sharpe"]  # the planted edge
    vs = out["versus_benchmark"]  # it beats holding, by both tests
    assert vs["benchmark"] == "buy_and_hold" and vs["candidates"] == 1
    assert vs["sharpe_difference_p_value"] <= 0.05 and vs["spa_p_value"] <= 0.05
    assert "Ledoit–Wolf p" in out["reason"]
    row = q(env, "SELECT net_sharpe, qualified, benchmark_p_value FROM strategy.evaluations "
                 "WHERE role = 'evaluate'")  # fmt: skip
    assert len(row) == before + 1
    assert row[-1] == (pytest.approx(p["sharpe"]), True, vs["sharpe_difference_p_value"])


def test_a_blocked_stream_holding_a_position_stops_trading_and_is_marked_stale(trained, tmp_path):
    """A bad print blocks ETH's raw gate (quarantine off, so the stream stays blocked):
    no ETH order, no fill or mark at the rejected price, the position alerted as stale,
    BTC trading on, and VaR from accepted returns only."""
    from datetime import timedelta

    s = copy_of(trained, tmp_path, quality_quarantine=False)
    held = "SELECT quantity, mark_price FROM trading.positions WHERE symbol = 'ETH/USD'"
    for _ in range(40):  # bars arrive until the strategy holds ETH
        cycle(s)
        predict_new(s)
        trading_cycle(s)
        if q(s, held) and abs(q(s, held)[0][0]) > 1e-12:
            break
    else:
        pytest.fail("the planted strategy never held ETH")
    before = q(s, held)[0]
    newest = q(s, "SELECT max(ts) FROM raw.ohlcv WHERE symbol = 'ETH/USD'")[0][0]
    path = s.sample_dir / "coinbase" / "ETH-USD" / "4h.parquet"
    f = pd.read_parquet(path)
    bad = f["ts"] == pd.Timestamp(newest + timedelta(hours=4))
    f.loc[bad, ["open", "high", "low", "close"]] *= 10  # the next print is off by 10×
    f.to_parquet(path, index=False)
    orders = "SELECT count(*) FROM trading.orders WHERE symbol = 'ETH/USD'"
    n_orders = q(s, orders)[0][0]
    cursors = "SELECT symbol, last_bar_ts FROM trading.cursor WHERE account = 'paper'"
    start = dict(q(s, cursors))
    for _ in range(3):
        cycle(s)
        predict_new(s)
        report = trading_cycle(s)
        assert report.blocked == ["coinbase:ETH/USD"]
        assert any("STALE" in e and "ETH/USD" in e for e in report.events)
    assert q(s, orders)[0][0] == n_orders and q(s, held)[0] == before
    end = dict(q(s, cursors))
    assert end["ETH/USD"] == start["ETH/USD"]
    assert (end["BTC/USD"] - start["BTC/USD"]) == timedelta(hours=12)
    alerts = q(
        s, "SELECT severity FROM ops.alerts WHERE dedup_key LIKE 'trading:paper:%ETH/USD:stale'"
    )
    assert alerts and alerts[0][0] == "critical"
    risk = compute_risk(s)
    assert risk.status("var_95_historical") == "ok"
    btc = q(s, "SELECT quantity * mark_price FROM trading.positions WHERE symbol = 'BTC/USD'")
    gross = abs(before[0] * before[1]) + sum(abs(v) for (v,) in btc)
    equity = q(s, "SELECT equity FROM trading.equity ORDER BY ts DESC LIMIT 1")[0][0]
    assert risk.value("gross_exposure") == pytest.approx(gross / equity)  # the stale one counts

    # an operator's hand on it: release stops the alert, close flattens at the last accepted
    # close net of costs; both audited
    from aaiti.trading.stale import NotStaleError, close_stale, release_stale

    with pytest.raises(NotStaleError, match="no position in XRP/USD"):
        close_stale(s, "XRP/USD", actor="ops", reason="typo")
    stale_alerts = "SELECT count(*) FROM ops.alerts WHERE dedup_key LIKE '%ETH/USD:stale'"
    n_alerts = q(s, stale_alerts)[0][0]
    release_stale(s, "ETH/USD", actor="ops", reason="the exchange confirms an outage")
    cycle(s)
    predict_new(s)
    report = trading_cycle(s)
    assert any("released by ops" in e for e in report.events)
    assert q(s, stale_alerts)[0][0] == n_alerts
    closed = close_stale(s, "ETH/USD", actor="ops", reason="flatten while blocked")
    qty, mark = before
    slip = s.trading_slippage_bps / 10_000
    assert closed.price == pytest.approx(mark * (1 - slip) if qty > 0 else mark * (1 + slip))
    assert closed.fee == pytest.approx(abs(qty) * closed.price * s.trading_fee_bps / 10_000)
    assert abs(q(s, held)[0][0]) < 1e-12
    fill = q(
        s, "SELECT quantity, price FROM trading.fills WHERE client_order_id LIKE 'operator-close:%'"
    )
    assert fill == [(pytest.approx(abs(qty)), pytest.approx(closed.price))]
    actions = [a for (a,) in q(s, "SELECT action FROM audit.log WHERE actor = 'ops'")]
    assert sorted(actions) == ["position close", "position release"]
    assert q(s, "SELECT count(*) FROM trading.stale_releases")[0][0] == 0
    cycle(s)
    predict_new(s)
    report = trading_cycle(s)
    assert report.blocked == ["coinbase:ETH/USD"] and not any("STALE" in e for e in report.events)


def test_bad_bars_of_each_new_kind_reach_nothing_downstream(trained, tmp_path):
    """A representative set of the corpus, arriving as the cycle's newest bars with
    quarantine on: a wick alone, a volume unit error, a spike two bars long, and a bad print
    just after a hole. Each waits (blocked) while it is the newest, then is quarantined;
    none of its rows reaches the features, predictions, orders, fills, marks or risk
    returns, and the stream passes and trades again."""
    from datetime import timedelta

    s = copy_of(trained, tmp_path)
    newest = q(s, "SELECT max(ts) FROM raw.ohlcv WHERE symbol = 'ETH/USD'")[0][0]
    path = s.sample_dir / "coinbase" / "ETH-USD" / "4h.parquet"
    f = pd.read_parquet(path)
    at = {k: pd.Timestamp(newest + timedelta(hours=4 * k)) for k in range(1, 15)}
    row = {k: f.index[f["ts"] == t][0] for k, t in at.items()}
    price = ["open", "high", "low", "close"]
    f.loc[row[1], "high"] *= 30  # a wick alone
    f.loc[row[3], "volume"] *= 1e5  # a volume unit error
    f.loc[[row[5], row[6]], price] *= 1 / 50  # a spike two bars long
    f.loc[row[10], price] *= 20  # a bad print just after a hole
    bad = [at[k] for k in (1, 3, 5, 6, 10)]
    bad_closes = set(f.loc[[row[k] for k in (1, 3, 5, 6, 10)], "close"])
    f.drop(index=row[9]).to_parquet(path, index=False)
    blocked_cycles = 0
    for _ in range(14):
        cycle(s)
        predict_new(s)
        report = trading_cycle(s)
        blocked_cycles += report.blocked == ["coinbase:ETH/USD"]
    risk = compute_risk(s)
    assert blocked_cycles >= 4  # each waited while it was the newest bar

    def eth_at(table: str, col: str = "ts", where: str = "true") -> list:
        times = ", ".join(f"'{t}'::TIMESTAMPTZ" for t in bad)
        return q(s, f"SELECT {col} FROM {table} WHERE symbol = 'ETH/USD' AND {where} "
                 f"AND {col} IN ({times})")  # fmt: skip

    quarantined = eth_at("raw.ohlcv_quarantine", where="stage = 'gate'")
    assert sorted(t for (t,) in quarantined) == bad
    h4 = "timeframe = '4h'"  # a resampled 1d bar may start at one of these times
    for table, col, where in (
        ("raw.ohlcv", "ts", "true"),
        ("marts.fct_features", "ts", h4),
        ("ml.predictions", "ts", h4),
        ("trading.orders", "decided_at_bar", "true"),
        ("trading.fills", "bar_ts", "true"),
    ):
        assert eth_at(table, col, where) == [], table
    marks = {
        m for (m,) in q(s, "SELECT mark_price FROM trading.positions WHERE symbol = 'ETH/USD'")
    }
    assert not marks & bad_closes
    assert risk.status("var_95_historical") == "ok"
    gates = dict(q(s, "SELECT checkpoint, status FROM ops.stream_gates WHERE symbol = 'ETH/USD'"))
    assert set(gates.values()) == {"passed"}
    cursor = q(s, "SELECT last_bar_ts FROM trading.cursor WHERE symbol = 'ETH/USD'")[0][0]
    newest = q(s, "SELECT max(ts) FROM raw.ohlcv GROUP BY symbol")
    # trading caught up with the clean bars after them, in bar time: up to the newest bar
    # of the slower stream (the replay's hole put ETH a bar ahead of BTC)
    assert cursor == min(t for (t,) in newest) > at[10]


def test_the_metrics_endpoint_reports_the_warehouse_numbers(env):
    """Scraped over HTTP after trading cycles: each figure equals the warehouse's, and an
    unreachable Prefect API is said (prefect_up 0), not reported as zeros."""
    import socket

    import httpx
    from prometheus_client.parser import text_string_to_metric_families

    from aaiti.monitoring.metrics import serve_metrics
    from aaiti.warehouse import Warehouse

    compute_risk(env)
    Warehouse.from_settings(env).publish_snapshot()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        dead = sock.getsockname()[1]
    server, _ = serve_metrics(env, host="127.0.0.1", port=0,
                                   api_url=f"http://127.0.0.1:{dead}/api")  # fmt: skip
    try:
        text = httpx.get(f"http://127.0.0.1:{server.server_port}/metrics", timeout=30).text
    finally:
        server.shutdown()
        server.server_close()
    got = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            got[(s.name, tuple(sorted(s.labels.items())))] = s.value

    def one(name, **labels):
        return got[(name, tuple(sorted(labels.items())))]

    assert one("aaiti_snapshot_up") == 1 and one("aaiti_prefect_up") == 0
    accounts = q(env, "SELECT DISTINCT account FROM trading.equity")
    assert len(accounts) >= 1
    for (account,) in accounts:  # the paper account, and the live tests' own
        equity = q(env, "SELECT equity, drawdown FROM trading.equity WHERE account = "
                        f"'{account}' ORDER BY ts DESC LIMIT 1")[0]  # fmt: skip
        assert one("aaiti_equity", account=account) == pytest.approx(equity[0])
        assert one("aaiti_drawdown", account=account) == pytest.approx(equity[1])
    for account, status, n in q(env, "SELECT account, status, count(*) FROM trading.orders "
                                     "GROUP BY ALL"):  # fmt: skip
        assert one("aaiti_orders", account=account, status=status) == n
    for symbol, n in q(env, "SELECT symbol, count(*) FROM raw.ohlcv GROUP BY 1"):
        assert one("aaiti_stream_candles", exchange="coinbase", symbol=symbol,
                   timeframe="4h") == n  # fmt: skip
    var = q(env, "SELECT value FROM risk.metrics WHERE metric = 'var_95_historical' "
                 "AND account = 'paper' ORDER BY computed_at DESC LIMIT 1")[0][0]  # fmt: skip
    assert one("aaiti_risk", account="paper", metric="var_95_historical") == pytest.approx(var)
    assert one("aaiti_halted", account="paper") == 0
    assert one("aaiti_strategy_qualified", strategy=env.trading_strategy, timeframe="4h") == 1
    blocked = q(env, "SELECT count(*) FROM ops.stream_gates WHERE status = 'blocked'")[0][0]
    gates = [v for (n, _), v in got.items() if n == "aaiti_gate_blocked"]
    assert gates and sum(gates) == blocked


def test_streams_apart_are_stepped_in_bar_time_waiting_for_a_late_one_not_a_down_one(
    trained, tmp_path
):
    """Streams' bars reach trading at different cycles (another exchange, a late replay).
    Stepped as they came, a late stream's fill met the cash the others' later fills had
    left and equity rows mixed bar times. One bar behind, the others wait for it, and its
    working order fills at that bar; three bars behind it is down: the others step on, and
    its bars that come after the account has passed them are skipped, alerted. The ledger
    identity holds at every bar throughout."""
    from tests.soak import LEDGER_BREAKS

    s = copy_of(trained, tmp_path)
    working = (
        "SELECT DISTINCT symbol FROM trading.orders WHERE status IN ('new', 'partially_filled')"
    )
    held = "SELECT symbol FROM trading.positions WHERE abs(quantity) > 1e-12"
    for _ in range(12):  # bars arrive until one stream has an order working, the other a position
        late = {r[0] for r in q(s, working)}
        ahead = {r[0] for r in q(s, held)} - late
        if late and ahead:
            break
        cycle(s)
        predict_new(s)
        trading_cycle(s)
    else:
        pytest.fail("the planted strategy never had an order working beside a held position")
    symbol = sorted(late)[0]

    def behind(n: int) -> tuple:
        """``n`` new bars on both streams, ``symbol``'s held back for one trading cycle."""
        for _ in range(n):
            cycle(s)
            predict_new(s)
        con = duckdb.connect(str(s.warehouse_path))
        try:
            rows = con.sql(
                "SELECT * FROM marts.fct_candles WHERE symbol = $1 AND timeframe = '4h'"
                " ORDER BY ts DESC LIMIT $2",
                params=[symbol, n],
            ).df()
            con.execute(
                "DELETE FROM marts.fct_candles WHERE symbol = $1 AND timeframe = '4h' AND ts >= $2",
                [symbol, rows["ts"].min()],
            )
        finally:
            con.close()
        without = trading_cycle(s)
        con = duckdb.connect(str(s.warehouse_path))
        try:
            con.register("rows", rows)
            con.execute("INSERT INTO marts.fct_candles SELECT * FROM rows")
        finally:
            con.close()
        return without, trading_cycle(s), sorted(rows["ts"])

    waited, together, (t1,) = behind(1)
    assert (waited.bars, together.bars) == (0, 2)
    assert any(f"wait for coinbase:{symbol}" in e for e in waited.events), waited.events
    fills = f"SELECT count(*) FROM trading.fills WHERE symbol = '{symbol}' AND bar_ts = $1"
    con = duckdb.connect(str(s.warehouse_path), read_only=True)
    try:
        assert con.execute(fills, [t1.to_pydatetime()]).fetchone()[0] >= 1  # filled in time
    finally:
        con.close()

    on, after, hidden = behind(3)
    assert (on.bars, after.bars) == (3, 1)  # the other stream's 3; then the newest only
    assert any(f"2 late bar(s) of coinbase:{symbol} skipped" in e for e in after.events)
    alerts = q(s, f"SELECT count(*) FROM ops.alerts WHERE dedup_key LIKE '%{symbol}:late'")
    assert alerts[0][0] == 1
    stepped = q(s, f"SELECT last_bar_ts FROM trading.cursor WHERE symbol = '{symbol}'")
    assert pd.Timestamp(stepped[0][0]) == hidden[-1]
    breaks = dict(q(s, LEDGER_BREAKS))
    assert breaks.pop("bars") >= 5 and breaks == {
        "chain": 0, "cash": 0, "equity": 0, "positions": 0
    }  # fmt: skip


def test_a_symbol_added_to_an_account_joins_at_its_bar_time_without_a_late_alert(trained, tmp_path):
    """An account trades BTC for three bars, then ETH is added: ETH's bars before the
    account's bar time are history it joins after, not late bars of a stream it stepped
    (they raised a warning each time a symbol was added). Both step together after."""
    one = copy_of(trained, tmp_path, symbols=["BTC/USD"])
    for _ in range(3):
        cycle(one)
        predict_new(one)
        trading_cycle(one)

    def on(symbols):
        return load_settings(data_dir=one.data_dir, sample_dir=one.sample_dir, model_fold_period="half",
                             trading_allow_short=True, symbols=symbols)  # fmt: skip

    cycle(on(["ETH/USD"]), bars=3)  # ETH's history to where BTC is, as a backfill brings it
    both = on(["BTC/USD", "ETH/USD"])
    cycle(both)
    predict_new(both)
    report = trading_cycle(both)
    assert not [e for e in report.events if "late" in e], report.events
    assert q(both, "SELECT count(*) FROM ops.alerts WHERE dedup_key LIKE '%:late'")[0][0] == 0
    cursors = dict(q(both, "SELECT symbol, last_bar_ts FROM trading.cursor"))
    assert cursors.keys() == {"BTC/USD", "ETH/USD"} and cursors["ETH/USD"] == cursors["BTC/USD"]


def mirror(settings, *, copy: str, source: str, into: str, times: float) -> None:
    """The ``source`` streams' candles (prices × ``times``) and predictions up to now,
    copied where ``into`` selects (another exchange, another quote currency)."""
    scaled = ", ".join(f"{c} * {times} AS {c}" for c in ("open", "high", "low", "close"))
    con = duckdb.connect(str(settings.warehouse_path))
    try:
        for table, prices in (("raw.ohlcv", True), ("marts.fct_candles", True),
                              ("ml.predictions", False)):  # fmt: skip
            con.execute(
                f"INSERT INTO {table} SELECT * REPLACE ({copy}{', ' + scaled if prices else ''})"
                f" FROM {table} AS t WHERE {source} AND ts > (SELECT coalesce(max(ts), "
                f"'-infinity') FROM {table} WHERE {into})"
            )
    finally:
        con.close()


def test_one_symbol_on_two_exchanges_trades_as_two_instruments(trained, tmp_path):
    """The planted streams also on a second exchange, 2 % dearer, with the same predictions,
    bar by bar: each symbol there is its own instrument — its own orders, position, marks,
    strategy state and returns — and the ledger identity holds at every bar. (Keyed by
    symbol alone, the second exchange's bars re-marked and traded the first's positions.)
    A quarter of equity per instrument and a 2× gross limit leave both room to trade."""
    from tests.soak import LEDGER_BREAKS

    s = copy_of(trained, tmp_path, trading_fraction_per_symbol=0.25, risk_max_gross_exposure=2.0)
    both: list = []
    for n in range(12):  # bars arrive on both exchanges until one symbol is held on both
        cycle(s)
        predict_new(s)
        mirror(s, copy="'kraken' AS exchange", source="exchange = 'coinbase'",
               into="exchange = 'kraken'", times=1.02)  # fmt: skip
        report = trading_cycle(s)
        if n:  # (the first steps the bars scored at training)
            assert report.bars == 4, report.events  # two symbols on two exchanges, in step
        both = q(
            s,
            """
            SELECT symbol, list(mark_price ORDER BY exchange)
            FROM trading.positions WHERE abs(quantity) > 1e-12
            GROUP BY symbol HAVING list(exchange ORDER BY exchange) = ['coinbase', 'kraken']""",
        )
        if both:
            break
    assert both, q(s, "SELECT exchange, symbol, quantity, mark_price FROM trading.positions")
    for _, (coinbase, kraken) in both:
        assert kraken == pytest.approx(coinbase * 1.02)  # each marked at its own exchange
    streams = q(s, "SELECT exchange, count(*) FROM trading.strategy_streams GROUP BY ALL")
    assert dict(streams) == {"coinbase": 2, "kraken": 2}
    breaks = dict(q(s, LEDGER_BREAKS))
    assert breaks.pop("bars") >= 2 and breaks == {
        "chain": 0, "cash": 0, "equity": 0, "positions": 0
    }  # fmt: skip
    risk = compute_risk(s)
    held = q(s, "SELECT abs(quantity * mark_price) FROM trading.positions")
    equity = q(s, "SELECT equity FROM trading.equity ORDER BY ts DESC LIMIT 1")[0][0]
    assert risk.status("var_95_historical") == "ok"
    assert risk.value("gross_exposure") == pytest.approx(sum(v for (v,) in held) / equity)


def test_two_quote_currencies_trade_as_two_books_each_with_its_own_cash(trained, tmp_path):
    """The planted streams also quoted in USDT (0.1 % apart, the same predictions): the
    account keeps a book per currency, each with the cash, limits and ledger its settings
    give that currency; no USDT is ever spent or counted as USD. Risk, halt and resume act
    on each book. An account that traded one currency under its own name is not split."""
    from aaiti.books import BookSettingsError
    from tests.soak import LEDGER_BREAKS

    s = copy_of(trained, tmp_path, trading_fraction_per_symbol=0.25)
    t = load_settings(
        data_dir=s.data_dir, sample_dir=s.sample_dir, model_fold_period="half", trading_allow_short=True,
        trading_fraction_per_symbol=0.25,
        symbols=["BTC/USD", "ETH/USD", "BTC/USDT", "ETH/USDT"],
        trading_initial_cash={"USD": 100_000, "USDT": 40_000},
        risk_max_order_notional={"USD": 60_000, "USDT": 8_000},
        risk_max_position_notional={"USD": 60_000, "USDT": 20_000},
    )  # fmt: skip
    held: dict = {}
    for _ in range(12):  # until each book holds a position
        cycle(s)
        predict_new(s)
        mirror(s, copy="symbol || 'T' AS symbol", source="symbol LIKE '%/USD'",
               into="symbol LIKE '%/USDT'", times=1.001)  # fmt: skip
        report = trading_cycle(t)
        assert set(report.books) == {"paper.USD", "paper.USDT"} and report.equity is None
        held = dict(q(s, """SELECT account, list(symbol ORDER BY symbol) FROM trading.positions
                            WHERE abs(quantity) > 1e-12 GROUP BY ALL"""))  # fmt: skip
        if len(held) == 2:
            break
    assert all(x.endswith("/USD") for x in held["paper.USD"]), held
    assert all(x.endswith("/USDT") for x in held["paper.USDT"]), held
    accounts = dict(q(s, "SELECT account, initial_cash FROM trading.account"))
    assert accounts == {"paper.USD": 100_000, "paper.USDT": 40_000}
    crossed = q(s, """SELECT count(*) FROM trading.orders
                      WHERE (account = 'paper.USD') <> (symbol LIKE '%/USD')""")  # fmt: skip
    assert crossed == [(0,)]
    spent = dict(
        q(
            s,
            """  -- each book's cash: its deposit plus its own fills, nothing else
        SELECT o.account, sum(CASE WHEN f.side = 'buy' THEN -1 ELSE 1 END
                              * f.quantity * f.price - f.fee)
        FROM trading.fills f JOIN trading.orders o USING (client_order_id) GROUP BY ALL""",
        )
    )
    cash = dict(q(s, "SELECT account, cash FROM trading.account"))
    for account, start in accounts.items():
        assert cash[account] == pytest.approx(start + spent.get(account, 0.0), rel=1e-9)
    breaks = dict(q(s, LEDGER_BREAKS))
    assert breaks.pop("bars") >= 4 and breaks == {
        "chain": 0, "cash": 0, "equity": 0, "positions": 0
    }  # fmt: skip
    biggest = dict(q(s, """SELECT o.account, max(f.quantity * f.price) FROM trading.fills f
                           JOIN trading.orders o USING (client_order_id) GROUP BY ALL"""))  # fmt: skip
    assert biggest["paper.USDT"] <= 8_000 * (1 + 1e-9) < biggest["paper.USD"]  # own limits
    risk = compute_risk(t)
    assert risk.accounts == ["paper.USD", "paper.USDT"]
    for account in risk.accounts:
        value = q(s, f"SELECT sum(abs(quantity * mark_price)) FROM trading.positions "
                     f"WHERE account = '{account}'")[0][0]  # fmt: skip
        equity = q(s, f"SELECT equity FROM trading.equity WHERE account = '{account}' "
                      "ORDER BY ts DESC LIMIT 1")[0][0]  # fmt: skip
        assert risk.value("gross_exposure", account=account) == pytest.approx(value / equity)
    with pytest.raises(ValueError, match="name the book"):
        risk.value("gross_exposure")
    said = halt(t, actor="test", reason="both books")
    assert said.startswith("paper.USD: ") and "; paper.USDT: " in said
    states = q(s, "SELECT account, json_extract(state, '$.manual_halt') FROM risk.state")
    assert dict(states) == {"paper.USD": "true", "paper.USDT": "true"}
    resume(t, actor="test")
    states = q(s, "SELECT account, json_extract(state, '$.manual_halt') FROM risk.state")
    assert dict(states) == {"paper.USD": "false", "paper.USDT": "false"}
    _totalled_at_rates_from_no_later_bar(s, t)
    trading_cycle(s)  # the account itself, in USD alone
    with pytest.raises(BookSettingsError, match="'paper' holds one currency"):
        trading_cycle(t)


def _totalled_at_rates_from_no_later_bar(s, t) -> None:
    """With a report currency, the books are summed at the close of a USDT/USD stream at or
    before each book's newest equity row: a later bar's rate (999) is never used, and a
    currency without a rate stream gives no total, never a rate of 1."""
    con = duckdb.connect(str(s.warehouse_path))
    try:
        con.execute("""INSERT INTO marts.fct_candles SELECT * REPLACE ('USDT/USD' AS symbol,
                         1 + (epoch(ts)::BIGINT // 3600 % 7) / 1000.0 AS close)
                       FROM marts.fct_candles WHERE exchange = 'coinbase' AND symbol = 'BTC/USD'""")
        con.execute("""INSERT INTO marts.fct_candles SELECT * REPLACE (ts + INTERVAL 30 DAY AS ts,
                         999.0 AS close) FROM marts.fct_candles
                       WHERE symbol = 'USDT/USD' ORDER BY ts DESC LIMIT 1""")
        rates = con.sql(
            "SELECT ts, close FROM marts.fct_candles WHERE symbol = 'USDT/USD' "
            f"AND timeframe = '{t.timeframe}' ORDER BY ts"
        ).df()
    finally:
        con.close()
    report = trading_cycle(t.model_copy(update={"trading_report_currency": "USD"}))
    equity = dict(q(s, """SELECT account, arg_max(equity, ts) FROM trading.equity
                          GROUP BY ALL"""))  # fmt: skip
    at = q(s, "SELECT max(ts) FROM trading.equity WHERE account = 'paper.USDT'")[0][0]
    rate = rates[rates["ts"] <= pd.Timestamp(at)]["close"].iloc[-1]
    assert rate < 2 and report.total is not None and report.total.currency == "USD"
    assert report.total.equity == pytest.approx(
        equity["paper.USD"] + equity["paper.USDT"] * rate, rel=1e-12
    )
    unknown = trading_cycle(t.model_copy(update={"trading_report_currency": "EUR"})).total
    assert unknown is not None and unknown.equity is None
    assert "no USD/EUR rate" in unknown.why and "no USDT/EUR rate" in unknown.why
