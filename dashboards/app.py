"""AAITI dashboards: ``streamlit run dashboards/app.py`` (``make dashboard``; ``make up``).

A router over one file per page; every page reads the serving snapshot, read-only, through
the cached loaders in ``dashboards/data.py``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import streamlit as st

ROOT = Path(__file__).resolve().parent
if str(ROOT.parent) not in sys.path:  # `streamlit run` puts only this folder on the path
    sys.path.insert(0, str(ROOT.parent))

PAGES = [
    ("overview.py", "Overview", ":material/dashboard:"),
    ("market.py", "Market", ":material/candlestick_chart:"),
    ("quality.py", "Data quality", ":material/rule:"),
    ("models.py", "Models", ":material/model_training:"),
    ("drift.py", "Drift", ":material/monitoring:"),
    ("trading.py", "Trading", ":material/swap_horiz:"),
    ("risk.py", "Risk", ":material/shield:"),
    ("sql.py", "SQL", ":material/terminal:"),
]

st.set_page_config(page_title="AAITI", layout="wide")
navigation = st.navigation(
    [
        st.Page(str(ROOT / "views" / file), title=title, icon=icon, default=i == 0)
        for i, (file, title, icon) in enumerate(PAGES)
    ]
)
navigation.run()
