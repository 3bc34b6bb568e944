"""Models: champion and challenger with their metrics, folds, feature importance, MLflow link."""

from __future__ import annotations

import json

import pandas as pd
import streamlit as st

from dashboards import data

data.page("Models")

models = data.registry()
if not models:
    st.info("No model is registered yet: the `train` flow registers the first champion.")
    st.stop()
for name, versions in models.items():
    st.header(name)
    for v in versions:
        role = ", ".join(v["aliases"]) or "archived"
        with st.expander(f"v{v['version']} — {role}", expanded="champion" in v["aliases"]):
            m = v["metrics"]
            cols = st.columns(4)
            for col, key, label in zip(
                cols,
                ("oos_auc", "oos_log_loss", "oos_brier", "oos_accuracy"),
                ("OOS AUC", "OOS log loss", "OOS Brier", "OOS accuracy"),
                strict=True,
            ):
                col.metric(label, f"{m[key]:.4f}" if key in m else "–")
            st.caption(
                f"momentum baseline AUC {m.get('baseline_momentum_auc', float('nan')):.4f} · "
                f"shuffled-label control AUC {m.get('control_shuffled_auc', float('nan')):.4f} · "
                f"data {v['params'].get('data_start')} → {v['params'].get('data_end')} · "
                f"MLflow run [{v['run_id']}]({data.mlflow_url()}/#/experiments/"
                f"{v['experiment_id']}/runs/{v['run_id']})"
            )
            if v["folds"]:
                st.markdown("**Walk-forward folds**")
                st.dataframe(pd.DataFrame(v["folds"]), hide_index=True, width="stretch")
            if v["importance"] is not None:
                st.image(v["importance"], caption="feature importance (total gain)")
            else:
                st.caption("feature importance image not found in the run's artifacts")

st.subheader("Predictions written")
st.dataframe(data.query("predictions_recent"), hide_index=True, width="stretch")
st.caption(
    "Champion history: " + json.dumps({n: [v["version"] for v in vs] for n, vs in models.items()})
)
