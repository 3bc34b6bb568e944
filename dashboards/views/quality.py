"""Data quality: gate states, their history, quarantined rows, the Data Docs."""

from __future__ import annotations

import streamlit as st

from dashboards import data

data.page("Data quality")

gates = data.query("gates")
st.subheader("Gates now")
if gates.empty:
    st.info("No gate has run yet.")
else:
    blocked = gates[gates["status"] == "blocked"]
    (st.error if len(blocked) else st.success)(
        f"{len(blocked)} blocked of {len(gates)} stream checkpoints"
    )
    st.dataframe(gates, hide_index=True, width="stretch")

st.subheader("Expectation results (newest 500)")
history = data.query("quality_history")
failed_only = st.toggle("Failed expectations only", value=False)
st.dataframe(
    history[~history["success"]] if failed_only else history, hide_index=True, width="stretch"
)

st.subheader("Quarantined rows, with the reason")
quarantine = data.query("quarantine")
if quarantine.empty:
    st.success("Nothing quarantined.")
else:
    st.dataframe(quarantine, hide_index=True, width="stretch")

docs = data.settings().gx_dir / "gx" / "uncommitted" / "data_docs" / "local_site" / "index.html"
st.markdown(
    f"Great Expectations Data Docs: `{docs}`" + ("" if docs.exists() else " (not built yet)")
)
