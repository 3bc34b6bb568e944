"""Drift: drifted share and per-feature scores over time; the latest Evidently report."""

from __future__ import annotations

from pathlib import Path

import plotly.express as px
import streamlit as st
import streamlit.components.v1 as components

from dashboards import data

data.page("Drift")

runs = data.query("drift_runs")
if runs.empty:
    st.info("No drift run yet: the `monitor` flow runs hourly once served (and in `make demo`).")
    st.stop()
latest = runs.iloc[-1]
c1, c2, c3, c4 = st.columns(4)
c1.metric(
    "Drifted share",
    f"{latest['drifted_share']:.0%}",
    help=f"{latest['method']} ≥ {latest['threshold']}",
)
c2.metric("Prediction drift", f"{latest['prediction_score']:.3f}")
c3.metric(
    "Live AUC",
    "–" if latest["current_auc"] != latest["current_auc"] else f"{latest['current_auc']:.3f}",
    help=f"{latest['labelled_rows']} matured predictions",
)
c4.metric("OOS AUC (training)", f"{latest['reference_auc']:.3f}")
st.plotly_chart(
    px.line(
        runs,
        x="computed_at",
        y="drifted_share",
        color="model_name",
        markers=True,
        title="Drifted share of features",
    ),
    width="stretch",
)

metrics = data.query("drift_metrics")
latest_metrics = metrics[metrics["drift_run_id"] == latest["drift_run_id"]]
st.subheader(f"Per column, {latest['computed_at']:%Y-%m-%d %H:%M} UTC")
st.plotly_chart(
    px.bar(
        latest_metrics,
        x="column_name",
        y="score",
        color="drifted",
        title=f"{latest['method']} score (threshold {latest['threshold']})",
    ),
    width="stretch",
)
st.subheader("Retrain decisions")
st.dataframe(data.query("retrain_decisions"), hide_index=True, width="stretch")

st.subheader("Latest Evidently report")
report = Path(latest["report_path"])
if report.exists():
    if st.toggle("Show the full report (about 5 MB)", value=False):
        components.html(report.read_text(encoding="utf-8"), height=900, scrolling=True)
    st.caption(f"`{report}` (also in the champion's MLflow run under `drift/`)")
else:
    st.warning(f"The report file {report} is gone (data folder cleaned?).")
