"""Health at a glance: one status line per part, green, amber or red, with the reason.

Pure functions of what the Overview already loads (no Streamlit, no I/O), so each rule is
tested on its own. Red means a person must act (a halt, a blocked stream, a failed run, an
alert that could not be delivered); amber means the system protects itself or cannot
judge yet (standing aside, drift, a risk figure without history); green says why it is.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import pandas as pd

GREEN, AMBER, RED = "green", "amber", "red"
PARTS = ("stack", "gates", "champion", "strategy", "trading", "risk", "alerts")


@dataclass(frozen=True)
class Status:
    part: str
    level: str
    reason: str


def stack_status(runs: pd.DataFrame | None) -> Status:
    """The Prefect API and the newest pipeline run."""
    if runs is None:
        return Status("stack", RED, "the Prefect API does not answer (make up starts it)")
    pipeline = runs[runs["flow"] == "pipeline"] if len(runs) else runs
    if pipeline.empty:
        return Status("stack", AMBER, "the Prefect API answers; no pipeline run yet")
    last = pipeline.iloc[0]
    if last["state"] in ("Failed", "Crashed"):
        return Status("stack", RED, f"the newest pipeline run {last['run']} is {last['state']}")
    stuck = stuck_runs(runs)
    if stuck:
        return Status("stack", AMBER, f"running far longer than its flow's runs take: {stuck[0]}")
    return Status("stack", GREEN, f"the newest pipeline run {last['run']} is {last['state']}")


#: A run is called stuck when it has been Running longer than this many times its flow's
#: longest finished run among the recent ones, and at least STUCK_MIN_S.
STUCK_FACTOR, STUCK_MIN_S = 3.0, 600.0


def stuck_runs(runs: pd.DataFrame) -> list[str]:
    """Runs still Running far past what their flow's finished runs took (a run whose
    process died and nobody marked, or one that hangs)."""
    if "_seconds" not in runs.columns:
        return []
    done = runs[runs["state"] != "Running"].groupby("flow")["_seconds"].max()
    out = []
    for _, r in runs[runs["state"] == "Running"].iterrows():
        bound = max(STUCK_MIN_S, STUCK_FACTOR * float(done.get(r["flow"], 0.0) or 0.0))
        if pd.notna(r["_seconds"]) and r["_seconds"] > bound:
            out.append(f"{r['flow']} run {r['run']} has been Running for {r['took']}")
    return out


def gates_status(blocked: pd.DataFrame, streams: int) -> Status:
    if len(blocked):
        names = sorted({f"{r.exchange}:{r.symbol} {r.timeframe}" for r in blocked.itertuples()})
        return Status("gates", RED, f"{len(names)} stream(s) blocked: {', '.join(names[:4])}")
    return Status("gates", GREEN, f"all {streams} stream(s) pass their quality gates")


def champion_status(
    strategy: pd.DataFrame, drift: pd.DataFrame, *, max_auc_decay: float, drift_share: float
) -> Status:
    if strategy.empty:
        return Status("champion", AMBER, "no champion yet (`aaiti train`)")
    s = strategy.iloc[0]
    name = f"{s['model_name']} v{s['model_version']}"
    runs = drift[drift["model_name"] == s["model_name"]] if len(drift) else drift
    if runs.empty:
        return Status("champion", GREEN, f"{name}; no drift run yet")
    d = runs.sort_values("computed_at").iloc[-1]
    live, oos = d.get("current_auc"), d.get("reference_auc")
    if pd.notna(live) and pd.notna(oos) and live < oos - max_auc_decay:
        return Status("champion", AMBER, f"{name}: live AUC {live:.3f} below OOS {oos:.3f}")
    if d["drifted_share"] >= drift_share:
        return Status("champion", AMBER,
                      f"{name}: {d['drifted_share']:.0%} of its features drifted")  # fmt: skip
    return Status("champion", GREEN, f"{name}: {d['drifted_share']:.0%} of features drifted")


def strategy_status(strategy: pd.DataFrame) -> Status:
    if strategy.empty:
        return Status("strategy", AMBER, "none evaluated yet: trading stays flat")
    s = strategy.iloc[0]
    if bool(s["qualified"]):
        return Status("strategy", GREEN, f"{s['strategy']} qualified: trades ({s['reason']})")
    return Status("strategy", AMBER, f"{s['strategy']} stands aside: {s['reason']}")


def trading_status(risk_state: pd.DataFrame, differences: pd.DataFrame | None = None) -> Status:
    if risk_state.empty:
        return Status("trading", AMBER, "no trading account yet")
    halted = []
    for row in risk_state.itertuples(index=False):
        s = json.loads(row.state)
        if s.get("manual_halt") or s.get("kill_switch") or s.get("breaker_open"):
            halted.append(f"{row.account} halted: {s.get('reason')}")
    if differences is not None and not differences.empty:
        halted += [_differs(account, rows) for account, rows in differences.groupby("account")]
    if halted:
        return Status("trading", RED, "; ".join(halted))
    return Status("trading", GREEN, f"{len(risk_state)} account(s) trading")


def _differs(account: str, rows: pd.DataFrame) -> str:
    what = ", ".join(
        f"unknown open order {r.currency}"
        if r.kind == "foreign_order"
        else f"{r.currency} ledger {r.ledger:,.8g} vs exchange {r.exchange:,.8g}"
        for r in rows.itertuples(index=False)
    )
    return (
        f"{account} differs from the exchange ({what}): no new orders until explained or "
        "`aaiti live accept`"
    )


def risk_status(metrics: pd.DataFrame) -> Status:
    if metrics.empty:
        return Status("risk", AMBER, "the risk job has not run yet")
    unknown = sorted(metrics.loc[metrics["status"] != "ok", "metric"])
    if unknown:
        return Status("risk", AMBER, f"{len(unknown)} figure(s) without enough history: "
                                     f"{', '.join(unknown[:3])}")  # fmt: skip
    return Status("risk", GREEN, f"all {len(metrics)} risk figures computed")


def alerts_status(alerts: pd.DataFrame) -> Status:
    if alerts.empty:
        return Status("alerts", GREEN, "no alerts in the last 24 h")
    failed = alerts["delivery"].str.contains(":failed", regex=False).sum()
    if failed:
        return Status("alerts", RED, f"{failed} alert(s) could not be delivered on a channel")
    critical = int((alerts["severity"] == "critical").sum())
    level = AMBER if critical else GREEN
    return Status("alerts", level, f"{len(alerts)} alert(s) in 24 h, {critical} critical, "
                                   "all delivered")  # fmt: skip
