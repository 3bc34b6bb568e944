"""Trading: positions, open orders, fills, equity with drawdown, P&L, and any order's lineage."""

from __future__ import annotations

import json

import pandas as pd
import plotly.graph_objects as go
import streamlit as st
from plotly.subplots import make_subplots

from aaiti.strategy.breakdown import DRAWDOWN
from dashboards import data

data.page("Trading")
data.blocked_banner()


def strategy_section() -> None:
    """What trades, whether it may, and how it did out of sample — net of costs."""
    st.subheader("Strategy")
    state = data.query("strategy_state")
    if state.empty:
        st.info("No strategy has been evaluated yet: `aaiti train` evaluates one.")
        return
    for r in state.itertuples(index=False):
        line = (
            f"**{r.strategy}@{r.strategy_version}** trades {r.model_name} v{r.model_version} "
            f"({r.timeframe}) — decided {r.decided_at:%Y-%m-%d %H:%M} UTC  \n{r.reason}"
        )
        (st.success if r.qualified else st.error)(
            ("QUALIFIED: " if r.qualified else "STANDING ASIDE: ") + line
        )
    evals = data.query("strategy_evaluations")
    if evals.empty:
        return
    role = st.selectbox("Evaluation", evals["role"].tolist())
    ev = evals[evals["role"] == role].iloc[0]
    st.caption(
        f"Walk-forward out of sample {ev['oos_start']:%Y-%m-%d} → {ev['oos_end']:%Y-%m-%d}, "
        "net of fees and slippage, fills at the next open; portfolio = equal-weight mean of "
        "the streams' per-bar returns, each stream all-in; Sharpe annualised from per-bar "
        "simple returns (ddof 1, rf 0)."
    )
    _figures(ev)
    if pd.notna(ev["benchmark_p_value"]):  # evaluations from before the tests have none
        st.caption(
            f"Against {str(ev['benchmark']).replace('_', '-')}: Ledoit–Wolf p = "
            f"{ev['benchmark_p_value']:.3f} (H0: the strategy's Sharpe is not above the "
            f"benchmark's), Hansen's SPA p = {ev['spa_p_value']:.3f} over "
            f"{int(ev['candidates'])} candidate(s); it trades only when both are at most "
            "the configured bar and the deflated Sharpe probability reaches its own."
        )
    breakdown_table(json.loads(ev["summary"]).get("breakdowns", {}).get("portfolio", {}))
    _curve(ev, role)


def _curve(ev: pd.Series, role: str) -> None:
    """The chosen stream's (or the portfolio's) equity, strategy beside buy-and-hold."""
    curves = data.query("strategy_curves", (ev["evaluation_id"], role))
    series = st.selectbox("Curve", sorted(curves["series"].unique()))
    cv = curves[curves["series"] == series]
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=cv["ts"], y=cv["strategy"], name="strategy, net of costs"))
    fig.add_trace(go.Scatter(x=cv["ts"], y=cv["buy_and_hold"], name="buy-and-hold"))
    fig.update_layout(height=320, yaxis_type="log", margin={"l": 10, "r": 10, "t": 10, "b": 10})
    st.plotly_chart(fig, width="stretch")


def _figures(ev: pd.Series) -> None:
    """The evaluation's five figures, each beside buy-and-hold's or its context."""
    pct = lambda x: "–" if x is None or x != x else f"{x:+.1%}"  # noqa: E731
    num = lambda x: "–" if x is None or x != x else f"{x:.2f}"  # noqa: E731
    c = st.columns(5)
    c[0].metric(
        "Net return",
        pct(ev["net_total_return"]),
        f"buy-and-hold {pct(ev['bh_total_return'])}",
        delta_color="off",
    )
    c[1].metric(
        "Net Sharpe",
        num(ev["net_sharpe"]),
        f"buy-and-hold {num(ev['bh_sharpe'])}",
        delta_color="off",
    )
    c[2].metric(
        "Max drawdown",
        pct(ev["net_max_drawdown"]),
        f"buy-and-hold {pct(ev['bh_max_drawdown'])}",
        delta_color="off",
    )
    c[3].metric("Deflated Sharpe", num(ev["dsr"]), f"{ev['trials']} trial(s)", delta_color="off")
    c[4].metric("Trades", f"{ev['trades']:,}", f"exposure {ev['exposure']:.0%}", delta_color="off")


def breakdown_table(parts: dict) -> None:
    """The portfolio per year and per regime, the strategy beside buy-and-hold."""
    rows = [
        {"split": key, "bars": d["bars"],
         "strategy, net": d["strategy"]["total_return"], "Sharpe": d["strategy"]["sharpe"],
         "buy-and-hold": d["buy_and_hold"]["total_return"],
         "buy-and-hold Sharpe": d["buy_and_hold"]["sharpe"]}
        for split in ("by_year", "by_regime")
        for key, d in parts.get(split, {}).items()
    ]  # fmt: skip
    if not rows:
        return
    st.caption(
        f"Per calendar year and per regime (drawdown: buy-and-hold more than {DRAWDOWN:.0%} "
        "below its peak at the close before the bar), the portfolio net of costs beside "
        "buy-and-hold."
    )
    st.dataframe(
        pd.DataFrame(rows),
        hide_index=True,
        column_config={
            "strategy, net": st.column_config.NumberColumn(format="percent"),
            "buy-and-hold": st.column_config.NumberColumn(format="percent"),
            "Sharpe": st.column_config.NumberColumn(format="%.2f"),
            "buy-and-hold Sharpe": st.column_config.NumberColumn(format="%.2f"),
        },
    )


strategy_section()
st.subheader("Paper account")
equity = data.query("equity")
if equity.empty:
    st.info("No trading cycle has run yet.")
    st.stop()

if (total := data.account_total()) is not None:
    st.markdown(f"**{data.settings().trading_account}** — {total}")
account = st.selectbox("Account", sorted(equity["account"].unique()))
eq = equity[equity["account"] == account]
fig = make_subplots(
    rows=2, cols=1, shared_xaxes=True, row_heights=[0.7, 0.3], vertical_spacing=0.03
)
fig.add_trace(go.Scatter(x=eq["ts"], y=eq["equity"], name="equity"), row=1, col=1)
fig.add_trace(
    go.Scatter(x=eq["ts"], y=-eq["drawdown"], name="drawdown", fill="tozeroy"), row=2, col=1
)
fig.update_layout(height=450, showlegend=False, margin={"l": 10, "r": 10, "t": 10, "b": 10})
st.plotly_chart(fig, width="stretch")
last = eq.iloc[-1]
c1, c2, c3 = st.columns(3)
c1.metric("Equity", f"{last['equity']:,.2f}")
c2.metric("Cash", f"{round(last['cash'], 2) + 0.0:,.2f}")
c3.metric("Drawdown", f"{last['drawdown']:.2%}")

positions = data.query("positions")
positions = positions[positions["account"] == account]
st.subheader("Positions and P&L by symbol")
st.dataframe(positions, hide_index=True, width="stretch")
st.subheader("Open orders")
open_orders = data.query("open_orders")
st.dataframe(open_orders[open_orders["account"] == account], hide_index=True, width="stretch")
st.subheader("Fills")
st.dataframe(data.query("fills"), hide_index=True, width="stretch")

st.subheader("Lineage of an order")
orders = data.query("orders")
orders = orders[orders["account"] == account]
if orders.empty:
    st.info("No orders yet.")
    st.stop()
cid = st.selectbox("Order", orders["client_order_id"].tolist())
lineage = data.query("lineage", (cid,))
if lineage.empty:
    st.warning("This order is not in the snapshot any more.")
else:
    r = lineage.iloc[0]
    st.markdown(
        f"**Order** `{r['client_order_id']}` — {r['side']}, {r['status']}, decided at the close "
        f"of {r['decided_at_bar']}  \n"
        f"**Prediction** p = {r['probability']} (written {r['predicted_at']})  \n"
        f"**Model** {r['model_name']} v{r['model_version']} (MLflow run `{r['run_id']}`)  \n"
        f"**Feature row** close {r['feature_close']}, RSI {r['rsi_14']}, MACD hist "
        f"{r['macd_hist']}, realised vol {r['realized_vol_20']}  \n"
        f"**Candle** O {r['open']} H {r['high']} L {r['low']} C {r['close']} V {r['volume']}"
    )
    st.dataframe(data.query("order_fills", (cid,)), hide_index=True, width="stretch")
