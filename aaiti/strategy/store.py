"""The strategy's warehouse shell: its state (what trades, and whether it may) and its
evaluations with their curves. Callers pass an open writer connection: one transaction."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import datetime

import duckdb
import pandas as pd

from aaiti.execution.spec import StrategySpec
from aaiti.strategy.evaluate import StrategyEvaluation
from aaiti.warehouse.sql import fetch_one, load_sql, run

_SQL = "aaiti.strategy"


@dataclass(frozen=True)
class DeployedStrategy:
    spec: StrategySpec
    qualified: bool
    reason: str
    decided_at: datetime


def load_state(
    con: duckdb.DuckDBPyConnection, *, name: str, timeframe: str
) -> DeployedStrategy | None:
    row = fetch_one(con, load_sql(_SQL, "state_get"), [name, timeframe])
    if row is None:
        return None
    return DeployedStrategy(StrategySpec.from_dict(json.loads(row[3])), row[4], row[5], row[6])


def save_state(con: duckdb.DuckDBPyConnection, state: DeployedStrategy) -> None:
    s = state.spec
    run(
        con,
        load_sql(_SQL, "state_upsert"),
        [
            s.name,
            s.timeframe,
            s.model_name,
            s.model_version,
            s.version,
            json.dumps(s.as_dict(), default=str),
            state.qualified,
            state.reason,
            state.decided_at,
        ],
    )


def new_evaluation_id() -> str:
    return uuid.uuid4().hex[:12]


def save_evaluation(
    con: duckdb.DuckDBPyConnection,
    ev: StrategyEvaluation,
    *,
    evaluation_id: str,
    role: str,
    at: datetime,
) -> None:
    p, bh = ev.portfolio["strategy"], ev.portfolio["buy_and_hold"]
    row = {
        "evaluation_id": evaluation_id,
        "evaluated_at": at,
        "role": role,
        "strategy": ev.spec.name,
        "strategy_version": ev.spec.version,
        "model_name": ev.spec.model_name,
        "model_version": ev.spec.model_version,
        "timeframe": ev.timeframe,
        "oos_start": pd.Timestamp(ev.start),
        "oos_end": pd.Timestamp(ev.end),
        "net_total_return": p.total_return,
        "net_cagr": p.cagr,
        "net_sharpe": p.sharpe,
        "net_sortino": p.sortino,
        "net_max_drawdown": p.max_drawdown,
        "trades": p.trades,
        "exposure": p.exposure,
        "turnover": p.turnover,
        "bh_total_return": bh.total_return,
        "bh_sharpe": bh.sharpe,
        "bh_max_drawdown": bh.max_drawdown,
        "dsr": None if ev.dsr is None else ev.dsr.probability,
        "pbo": ev.pbo,
        "trials": ev.trials,
        "benchmark": None if ev.versus is None else ev.versus.benchmark,
        "benchmark_p_value": None if ev.versus is None else ev.versus.sharpe_test.p_value,
        "spa_p_value": None if ev.versus is None else ev.versus.spa_p_value,
        "candidates": None if ev.versus is None else ev.versus.candidates,
        "qualified": ev.qualification.qualified,
        "reason": ev.qualification.reason,
        "summary": json.dumps(ev.summary(), default=str),
    }
    curves = ev.curves.assign(evaluation_id=evaluation_id, role=role)
    for table, frame, sql in (
        ("evaluations_now", pd.DataFrame([row]), "evaluations_insert"),
        ("curves_now", curves, "curves_insert"),
    ):
        con.register(table, frame)
        run(con, load_sql(_SQL, sql))
        con.unregister(table)
