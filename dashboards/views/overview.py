"""Overview: health at a glance (one line per part), freshness per stream, the runs that
ran, recent alerts, halt state."""

from __future__ import annotations

import json

import pandas as pd
import streamlit as st

from dashboards import data, health

data.page("Overview")

runs = data.prefect_runs()
fresh = data.query("freshness")
s = data.settings()
lines = [
    health.stack_status(runs),
    health.gates_status(data.query("blocked_streams"), len(fresh)),
    health.champion_status(
        data.query("strategy_state"), data.query("drift_runs"),
        max_auc_decay=s.monitor_max_auc_decay, drift_share=s.monitor_drift_share,
    ),
    health.strategy_status(data.query("strategy_state")),
    health.trading_status(data.query("risk_state"), data.query("reconciliation_differences")),
    health.risk_status(data.query("risk_metrics")),
    health.alerts_status(data.query("recent_alerts")),
]  # fmt: skip
st.subheader("Health")
COLOURS = {health.GREEN: "green", health.AMBER: "orange", health.RED: "red"}
for line in lines:
    st.markdown(f":{COLOURS[line.level]}[● {line.level.upper()}] **{line.part}** — {line.reason}")

st.subheader("Freshness per stream")
if fresh.empty:
    st.info("No candles yet.")
else:
    now = pd.Timestamp.now(tz="UTC")
    fresh["age"] = [data.human_age(now - t) for t in fresh["newest_bar"]]
    st.dataframe(fresh, hide_index=True, width="stretch")
    st.caption(
        "Times in UTC. Under market replay, the replay clock (bars released so far) is the "
        "stream's 'now'."
    )

st.subheader("Runs that ran or are running")
if runs is None:
    st.warning(
        "The Prefect API does not answer, so run states cannot be shown here. "
        "Start the stack with `make up` (Prefect UI on http://127.0.0.1:4200)."
    )
elif runs.empty:
    st.info("The Prefect server answers but has no runs yet.")
else:
    shown = runs[[c for c in runs.columns if not c.startswith("_")]]
    st.dataframe(shown, hide_index=True, width="stretch")

col1, col2 = st.columns(2)
with col1:
    st.subheader("Alerts, last 24 h")
    alerts = data.query("recent_alerts")
    if alerts.empty:
        st.success("No alerts.")
    else:
        st.dataframe(alerts, hide_index=True, width="stretch")
with col2:
    st.subheader("Trading halt state")
    states = data.query("risk_state")
    if states.empty:
        st.info("No trading account yet.")
    for row in states.itertuples(index=False):
        s = json.loads(row.state)
        if s.get("manual_halt") or s.get("kill_switch") or s.get("breaker_open"):
            st.error(f"**{row.account}**: halted — {s.get('reason')}")
        else:
            st.success(
                f"**{row.account}**: trading · equity peak {data.money(s.get('peak_equity'))}"
            )
