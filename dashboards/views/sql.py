"""SQL: read-only queries on the serving snapshot, with a row limit and a timeout."""

from __future__ import annotations

import duckdb
import streamlit as st

from dashboards import data

data.page("SQL")
st.caption(
    "Read-only by construction: the snapshot is opened read-only, with external access off "
    "and the configuration locked; each query runs under its own memory, spill and thread "
    "caps (AAITI_ANALYST_*), so it cannot take the machine from the pipeline. Schemas: raw, ops, staging, intermediate, marts, ml, "
    "trading, risk, monitoring, audit."
)
sql = st.text_area(
    "Query",
    value="SELECT symbol, timeframe, count(*) AS bars, max(ts) AS newest\n"
    "FROM marts.fct_candles GROUP BY ALL ORDER BY ALL",
    height=160,
)
c1, c2 = st.columns(2)
limit = c1.number_input("Row limit", min_value=1, max_value=100_000, value=1_000)
timeout = c2.number_input("Timeout (s)", min_value=1.0, max_value=120.0, value=10.0)
if st.button("Run", type="primary"):
    try:
        result = data.analyst_query(sql, row_limit=int(limit), timeout_s=float(timeout))
    except (data.QueryTimeoutError, data.QueryLimitError) as err:
        st.error(str(err))
    except duckdb.Error as err:
        st.error(f"{type(err).__name__}: {err}")
    else:
        st.dataframe(result.frame, hide_index=True, width="stretch")
        st.caption(
            f"{len(result.frame)} row(s)"
            + (f" — stopped at the limit of {int(limit)}" if result.truncated else "")
        )
