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
    ("overview.py", "Overview", "🏠"),
    ("market.py", "Market", "📈"),
    ("quality.py", "Data quality", "✅"),
    ("models.py", "Models", "🧠"),
    ("drift.py", "Drift", "🌊"),
    ("trading.py", "Trading", "🔁"),
    ("risk.py", "Risk", "🛡️"),
    ("sql.py", "SQL", "🗄️"),
]

st.set_page_config(page_title="AAITI", layout="wide")
navigation = st.navigation(
    [
        st.Page(str(ROOT / "views" / file), title=title, icon=icon, default=i == 0)
        for i, (file, title, icon) in enumerate(PAGES)
    ]
)
navigation.run()
