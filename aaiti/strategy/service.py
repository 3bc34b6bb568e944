"""Use cases of the strategy: evaluate a walk-forward, compare with what is deployed, record.

Library functions that the CLI and the flows both call; the numbers come from the pure
cores in :mod:`aaiti.strategy.evaluate` and :mod:`aaiti.strategy.promotion`.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime

import numpy as np
import pandas as pd

from aaiti.ml.dataset import Dataset
from aaiti.ml.model import WalkForwardResult
from aaiti.strategy.evaluate import (
    StrategyEvaluation,
    bars_per_year,
    evaluate,
    fold_edge_models,
    portfolio_returns,
    run_stream,
    scored_bars,
)
from aaiti.strategy.promotion import LiveComparison
from aaiti.strategy.spec import EdgeModel, StrategySpec, fit_edge_model


@dataclass(frozen=True)
class Judged:
    evaluation: StrategyEvaluation
    deployed_edge: EdgeModel  # for the model refit on every row, from the OOS predictions


def judge_walk_forward(
    spec: StrategySpec, *, ds: Dataset, wf: WalkForwardResult, trials: int, min_dsr: float
) -> Judged:
    """The strategy traded on ``wf``'s out-of-sample predictions only, net of costs."""
    y = ds.y.to_numpy(float)
    cost = spec.cost
    edges = fold_edge_models(proba_val=wf.validation, meta=ds.meta, y=y, cost=cost)
    bars = scored_bars(oos=wf.oos, meta=ds.meta, spec=spec, edges=edges)
    ev = evaluate(bars, spec, timeframe=spec.timeframe, trials=trials, min_dsr=min_dsr)
    rows = wf.oos["row"].to_numpy()
    fwd = ds.meta["forward_log_return"].to_numpy(float)
    deployed = fit_edge_model(wf.oos["proba"].to_numpy(float), y[rows], fwd[rows], cost=cost)
    return Judged(ev, deployed)


def compare_live(
    *,
    challenger: StrategySpec,
    challenger_wf: WalkForwardResult,
    challenger_edges: dict[int, EdgeModel],
    deployed: StrategySpec,
    deployed_proba: np.ndarray,
    ds: Dataset,
    after: pd.Timestamp,
) -> LiveComparison:
    """Both strategies on the bars after the deployed model's training end: the challenger
    with its walk-forward predictions, the deployed model as deployed (its own version)."""
    rows = np.flatnonzero(ds.meta["ts"].to_numpy() > np.datetime64(after.tz_convert(None)))
    if len(rows) == 0:
        return LiveComparison(0, None, None)
    meta = ds.meta.iloc[rows]
    oos = challenger_wf.oos[challenger_wf.oos["row"].isin(rows)]
    ch_bars = scored_bars(oos=oos, meta=ds.meta, spec=challenger, edges=challenger_edges)
    dep_bars = meta.rename(columns={"atr_14": "atr", "realized_vol_20": "vol"}).copy()
    dep_bars["score"] = deployed.score(deployed_proba)
    dep_bars["prob"] = deployed.calibrated(deployed_proba)
    per_year = bars_per_year(deployed.timeframe)

    def sharpe(bars: pd.DataFrame, spec: StrategySpec) -> float | None:
        if bars.empty:
            return None
        runs = [run_stream(g, spec, per_year=per_year) for _, g in bars.groupby("symbol")]
        r = portfolio_returns(runs, "strategy").to_numpy()
        sd = r.std(ddof=1) if len(r) > 1 else 0.0
        return float(r.mean() / sd * np.sqrt(per_year)) if sd > 0 else None

    return LiveComparison(
        int(meta["ts"].nunique()), sharpe(ch_bars, challenger), sharpe(dep_bars, deployed)
    )


def deployed_spec(
    base: StrategySpec, *, model_name: str, version: int, edge: EdgeModel
) -> StrategySpec:
    return replace(base, model_name=model_name, model_version=version, edge_model=edge)


def now() -> datetime:
    return datetime.now(UTC)
