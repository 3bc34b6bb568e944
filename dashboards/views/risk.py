"""Risk: VaR/CVaR and the rest, exposure against limits, breaches, kill switch, halt/resume."""

from __future__ import annotations

import json

import streamlit as st

from aaiti.books import amount_in, quote
from dashboards import data

user = data.page("Risk")
data.blocked_banner()
settings = data.settings()

metrics = data.query("risk_metrics")
st.subheader("Risk metrics (latest run)")
if metrics.empty:
    st.info("The risk job has not run yet.")
else:
    st.dataframe(metrics, hide_index=True, width="stretch")
    judged = metrics[metrics["status"] != "ok"]
    if len(judged):
        st.warning(
            f"{len(judged)} metric(s) not judged ({', '.join(judged['metric'])}): too little "
            "history — new risk is blocked rather than measured as 0."
        )

st.subheader("Exposure against limits")
positions = data.query("positions")
equity = data.query("equity")
for account in sorted(positions["account"].unique()) if not positions.empty else []:
    pos = positions[positions["account"] == account]
    eq = equity[equity["account"] == account]["equity"]
    if eq.empty:
        continue
    gross = pos["market_value"].abs().sum() / eq.iloc[-1]
    st.progress(
        min(gross / settings.risk.max_gross_exposure, 1.0),
        text=f"{account}: gross exposure {gross:.2f}× of {settings.risk.max_gross_exposure}×",
    )
    for row in pos.itertuples(index=False):
        value = abs(row.market_value or 0.0)
        currency = quote(row.symbol)  # a book's limit is in its quote currency
        limit = amount_in(settings.risk.max_position_notional, currency)
        if limit is None:
            st.warning(f"{row.symbol}: {value:,.0f} {currency}; no position limit in {currency}")
            continue
        st.progress(
            min(value / limit, 1.0), text=f"{row.symbol}: {value:,.0f} of {limit:,.0f} {currency}"
        )

st.subheader("Kill switch and halt")
states = data.query("risk_state")
for row in states.itertuples(index=False):
    s = json.loads(row.state)
    halted = bool(s.get("manual_halt") or s.get("kill_switch") or s.get("breaker_open"))
    (st.error if halted else st.success)(
        f"**{row.account}**: {'HALTED — ' + str(s.get('reason')) if halted else 'trading'} · "
        f"manual halt {s.get('manual_halt')} · kill switch {s.get('kill_switch')} · "
        f"order breaker {s.get('breaker_open')} · peak equity {s.get('peak_equity')} · "
        f"consecutive order failures {s.get('consecutive_failures')}"
    )
if user is None:  # no logins configured: loopback only, the name is asked
    actor, allowed = st.text_input("Your name (written to the audit log)", value=""), True
else:  # the logged-in user acts, if an operator
    actor, allowed = user.name, user.operator
    if not allowed:
        st.warning(f"Halt and resume need the operator role; {user.name} is a {user.role}.")
reason = st.text_input("Reason for a halt", value="")
c1, c2 = st.columns(2)
if not allowed:
    actor = ""  # the buttons stay disabled
if c1.button("Halt trading", type="primary", disabled=not (actor and reason)) and allowed:
    st.session_state["risk_command"] = (True, data.halt_trading(actor=actor, reason=reason))
    st.rerun()  # show the new state at once
if c2.button("Resume trading", disabled=not actor) and allowed:
    st.session_state["risk_command"] = data.resume_trading(actor=actor)
    st.rerun()
if "risk_command" in st.session_state:
    ok, message = st.session_state["risk_command"]
    (st.info if ok else st.error)(f"Last command: {message} (written to the audit log)")

st.subheader("Breaches (refusals and kill-switch events)")
st.dataframe(data.query("breaches"), hide_index=True, width="stretch")
st.subheader("Audit log")
st.dataframe(data.query("audit"), hide_index=True, width="stretch")
