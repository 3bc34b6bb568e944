"""Choosing the strategy's configuration on validation data only, counting every trial.

Each fold's validation part (the rows just before its test block, after its training rows)
is scored by that fold's model and traded with each candidate configuration; the candidate
with the best net Sharpe there is chosen. The test blocks never steer the choice. Every
candidate is a trial for the deflated Sharpe ratio, and the candidates' out-of-sample
returns give the probability of backtest overfitting (CSCV).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from aaiti.execution.spec import EdgeModel, StrategySpec
from aaiti.risk import metrics as m
from aaiti.strategy.evaluate import bars_per_year, portfolio_returns, scored_bars, stream_runs

#: Entry edge beyond costs (bps) × minimum holding (multiples of the label horizon) ×
#: sizing (the configured one, and a volatility target at the configured level).
MIN_EDGE_BPS = (0.0, 10.0, 25.0)
HOLD_MULTIPLES = (1, 2, 4)
SIZINGS = ("fixed", "vol_target")


def candidates(base: StrategySpec, *, horizon: int) -> list[StrategySpec]:
    return [
        replace(base, min_edge=e / 10_000, min_hold_bars=horizon * k, sizing=z)
        for e in MIN_EDGE_BPS
        for k in HOLD_MULTIPLES
        for z in SIZINGS
    ]


def net_returns(bars: pd.DataFrame, spec: StrategySpec) -> pd.Series:
    per_year = bars_per_year(spec.timeframe)
    runs = stream_runs(bars, spec, per_year=per_year)
    return portfolio_returns(runs, "strategy")


def validation_returns(
    spec: StrategySpec, *, validation: pd.DataFrame, meta: pd.DataFrame, edges: dict[int, EdgeModel]
) -> np.ndarray:
    """Net per-bar returns on each fold's validation part, folds one after another."""
    parts = []
    for fold, part in validation.groupby("fold"):
        oos = part.assign(ts=meta["ts"].to_numpy()[part["row"].to_numpy()])
        bars = scored_bars(oos=oos, meta=meta, spec=spec, edges={int(fold): edges[int(fold)]})
        parts.append(net_returns(bars, spec).to_numpy())
    return np.concatenate(parts) if parts else np.empty(0)


@dataclass(frozen=True)
class SearchResult:
    chosen: StrategySpec
    validation_sharpe: dict[
        str, float
    ]  # candidate label → net Sharpe on validation (NaN: undefined)
    trial_returns: pd.DataFrame  # out-of-sample net returns, one column per candidate


def label(spec: StrategySpec) -> str:
    return f"edge≥{spec.min_edge * 10_000:g}bps hold≥{spec.min_hold_bars} {spec.sizing}"


def choose(
    base: StrategySpec,
    *,
    horizon: int,
    validation: pd.DataFrame,
    oos_bars_for,  # StrategySpec → scored out-of-sample bars
    meta: pd.DataFrame,
    edges: dict[int, EdgeModel],
) -> SearchResult:
    per_year = bars_per_year(base.timeframe)
    found = {}
    for spec in candidates(base, horizon=horizon):
        r = validation_returns(spec, validation=validation, meta=meta, edges=edges)
        found[label(spec)] = (spec, m.annualised_sharpe(r, periods_per_year=per_year))
    ranked = m.undefined_last(np.array([sharpe for _, sharpe in found.values()]))
    best = list(found.values())[int(np.argmax(ranked))][0]
    trials = pd.DataFrame(
        {name: net_returns(oos_bars_for(spec), spec) for name, (spec, _) in found.items()}
    ).fillna(0.0)
    return SearchResult(best, {k: v[1] for k, v in found.items()}, trials)
