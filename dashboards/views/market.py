"""Market: candlesticks with volume and chosen indicators, per stream and range."""

from __future__ import annotations

import plotly.graph_objects as go
import streamlit as st
from plotly.subplots import make_subplots

from dashboards import data

data.page("Market")
streams = data.query("streams")
if streams.empty:
    data.empty_state()
    st.stop()

labels = [f"{r.exchange} · {r.symbol} · {r.timeframe}" for r in streams.itertuples()]
c1, c2, c3 = st.columns([2, 1, 2])
choice = c1.selectbox("Stream", labels, index=0)
bars = c2.selectbox("Bars", [100, 300, 1000, 3000], index=1)
overlays = c3.multiselect(
    "Indicators", ["rsi_14", "macd_hist", "atr_14", "realized_vol_20"], default=["rsi_14"]
)
row = streams.iloc[labels.index(choice)]
frame = data.query("candles_features", (row.exchange, row.symbol, row.timeframe, int(bars)))
if frame.empty:
    st.info("No candles for this stream yet.")
    st.stop()

n = 2 + len(overlays)
fig = make_subplots(
    rows=n,
    cols=1,
    shared_xaxes=True,
    vertical_spacing=0.02,
    row_heights=[0.55, 0.15] + [0.3 / max(len(overlays), 1)] * len(overlays),
)
fig.add_trace(
    go.Candlestick(
        x=frame["ts"],
        open=frame["open"],
        high=frame["high"],
        low=frame["low"],
        close=frame["close"],
        name=row.symbol,
    ),
    row=1,
    col=1,
)
fig.add_trace(go.Bar(x=frame["ts"], y=frame["volume"], name="volume"), row=2, col=1)
for i, col in enumerate(overlays, start=3):
    fig.add_trace(go.Scatter(x=frame["ts"], y=frame[col], name=col, mode="lines"), row=i, col=1)
fig.update_layout(
    height=300 + 150 * n,
    xaxis_rangeslider_visible=False,
    showlegend=False,
    margin={"l": 10, "r": 10, "t": 10, "b": 10},
)
st.plotly_chart(fig, width="stretch")
st.caption(f"{len(frame)} bars, {frame['ts'].min()} → {frame['ts'].max()} (UTC)")
