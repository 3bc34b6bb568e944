"""Trading: positions, open orders, fills, equity with drawdown, P&L, and any order's lineage."""

from __future__ import annotations

import plotly.graph_objects as go
import streamlit as st
from plotly.subplots import make_subplots

from dashboards import data

data.page("Trading")
equity = data.query("equity")
if equity.empty:
    st.info("No trading cycle has run yet.")
    st.stop()

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
