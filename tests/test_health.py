"""The Overview's health lines, rule by rule: red needs a person, amber is the system
protecting itself or unable to judge yet, green says why."""

from __future__ import annotations

import json

import pandas as pd

from dashboards import health as h


def test_stack():
    assert h.stack_status(None).level == h.RED
    runs = pd.DataFrame({"flow": ["pipeline", "risk"], "run": ["a", "b"],
                         "state": ["Crashed", "Completed"]})  # fmt: skip
    assert h.stack_status(runs) == h.Status("stack", h.RED, "the newest pipeline run a is Crashed")
    runs.loc[0, "state"] = "Completed"
    assert h.stack_status(runs).level == h.GREEN
    assert h.stack_status(runs[runs["flow"] == "risk"]).level == h.AMBER


def test_a_run_running_far_longer_than_its_flow_takes_turns_the_stack_amber():
    """Stuck: Running more than 3 × the flow's longest recent finished run, and 10 min."""
    runs = pd.DataFrame({"flow": ["pipeline", "pipeline", "pipeline"], "run": ["c", "b", "a"],
                         "state": ["Running", "Completed", "Completed"],
                         "took": ["11 min", "9 s", "12 s"],
                         "_seconds": [660.0, 9.0, 12.0]})  # fmt: skip
    status = h.stack_status(runs)
    assert status.level == h.AMBER and "pipeline run c has been Running for 11 min" in status.reason
    runs.loc[0, "_seconds"] = 590.0  # under the 10-minute floor: a slow run, not a stuck one
    assert h.stack_status(runs).level == h.GREEN
    runs.loc[1, "_seconds"] = 400.0  # the flow's runs take long: 3 × 400 s allowed
    runs.loc[0, "_seconds"] = 1100.0
    assert h.stack_status(runs).level == h.GREEN


def test_gates_trading_and_alerts():
    blocked = pd.DataFrame({"exchange": ["coinbase"], "symbol": ["ETH/USD"], "timeframe": ["4h"]})
    assert h.gates_status(blocked, 2).reason == "1 stream(s) blocked: coinbase:ETH/USD 4h"
    assert h.gates_status(blocked.iloc[:0], 2).level == h.GREEN
    state = {"manual_halt": True, "kill_switch": False, "breaker_open": False, "reason": "drill"}
    halted = pd.DataFrame({"account": ["paper"], "state": [json.dumps(state)]})
    assert h.trading_status(halted) == h.Status("trading", h.RED, "paper halted: drill")
    state["manual_halt"] = False
    assert h.trading_status(halted.assign(state=json.dumps(state))).level == h.GREEN
    differs = pd.DataFrame({"account": ["live"], "kind": ["check"], "currency": ["USD"],
                            "ledger": [60000.0], "exchange": [65000.0]})  # fmt: skip
    line = h.trading_status(halted.assign(state=json.dumps(state)), differs)
    assert line.level == h.RED and line.reason.startswith(
        "live differs from the exchange (USD ledger 60,000 vs exchange 65,000)"
    )
    alerts = pd.DataFrame({"severity": ["critical", "warning"],
                           "delivery": ["log:sent, json:failed", "log:sent"]})  # fmt: skip
    assert h.alerts_status(alerts).level == h.RED
    ok = alerts.assign(delivery="log:sent")
    assert h.alerts_status(ok).level == h.AMBER  # delivered, but one was critical
    assert h.alerts_status(ok.assign(severity="warning")).level == h.GREEN


def test_champion_strategy_and_risk():
    strategy = pd.DataFrame({"strategy": ["edge"], "model_name": ["aaiti-4h"],
                             "model_version": [3], "qualified": [False],
                             "reason": ["DSR 0.42 < 0.95"]})  # fmt: skip
    assert h.strategy_status(strategy) == h.Status(
        "strategy", h.AMBER, "edge stands aside: DSR 0.42 < 0.95"
    )
    drift = pd.DataFrame({"model_name": ["aaiti-4h"], "computed_at": [1], "drifted_share": [0.1],
                          "current_auc": [0.51], "reference_auc": [0.60]})  # fmt: skip
    decayed = h.champion_status(strategy, drift, max_auc_decay=0.05, drift_share=0.5)
    assert decayed.level == h.AMBER and "live AUC 0.510 below OOS 0.600" in decayed.reason
    fine = h.champion_status(strategy, drift.assign(current_auc=0.58), max_auc_decay=0.05,
                             drift_share=0.5)  # fmt: skip
    assert fine.level == h.GREEN
    metrics = pd.DataFrame({"metric": ["var_95_historical", "sharpe"],
                            "status": ["insufficient_history", "ok"]})  # fmt: skip
    assert h.risk_status(metrics).level == h.AMBER
    assert h.risk_status(metrics.assign(status="ok")).level == h.GREEN
