"""Use cases of the strategy: evaluate a walk-forward, compare with what is deployed, record.

Library functions that the CLI and the flows both call; the numbers come from the pure
cores in :mod:`aaiti.strategy.evaluate` and :mod:`aaiti.strategy.promotion`.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from aaiti.execution.spec import EdgeModel, StrategySpec, fit_edge_model
from aaiti.market.candles import stream_columns
from aaiti.risk import metrics as m
from aaiti.strategy.evaluate import (
    StrategyEvaluation,
    VerdictRules,
    bars_per_year,
    evaluate,
    fold_edge_models,
    portfolio_returns,
    scored_bars,
    stream_runs,
)
from aaiti.strategy.ledger import (
    NO_PRIOR,
    DataSet,
    PriorTrials,
    Trial,
    load_prior,
    recipe_of,
    research_count,
    research_entries,
)
from aaiti.strategy.promotion import LiveComparison
from aaiti.strategy.search import SearchResult, candidates, choose, label
from aaiti.warehouse import Warehouse

if TYPE_CHECKING:
    from aaiti.ml.dataset import Dataset
    from aaiti.ml.model import TrainConfig, WalkForwardResult


@dataclass(frozen=True)
class Judged:
    evaluation: StrategyEvaluation
    deployed_edge: EdgeModel  # for the model refit on every row, from the OOS predictions
    search: SearchResult | None = None  # the configurations tried, when searched
    data: DataSet | None = None  # with ``trials``: what the trial ledger records of the run
    trials: tuple[Trial, ...] = ()


def judge_walk_forward(
    spec: StrategySpec,
    *,
    ds: Dataset,
    wf: WalkForwardResult,
    trials: int,
    rules: VerdictRules,
    search_horizon: int | None = None,
    prior: PriorTrials = NO_PRIOR,
) -> Judged:
    """The strategy traded on ``wf``'s out-of-sample predictions only, net of costs.

    With ``search_horizon``, the configuration is first chosen among the candidates of
    :mod:`aaiti.strategy.search` on the folds' validation parts; each candidate counts
    as a trial (times ``trials``, the model's own), and their out-of-sample returns give
    the PBO. ``prior`` is what was tried on the data set before (:func:`prior_for`)."""
    y = ds.y.to_numpy(float)
    cost = spec.cost
    edges = fold_edge_models(proba_val=wf.validation, meta=ds.meta, y=y, cost=cost)

    def oos_bars(s: StrategySpec) -> pd.DataFrame:
        return scored_bars(oos=wf.oos, meta=ds.meta, spec=s, edges=edges)

    found, trial_returns = None, None
    if search_horizon is not None:
        found = choose(
            spec,
            horizon=search_horizon,
            validation=wf.validation,
            oos_bars_for=oos_bars,
            meta=ds.meta,
            edges=edges,
        )
        spec, trial_returns = found.chosen, found.trial_returns
        trials *= trial_returns.shape[1]
    ev = evaluate(
        oos_bars(spec),
        spec,
        timeframe=spec.timeframe,
        trials=trials,
        trial_returns=trial_returns,
        rules=rules,
        prior=prior,
    )
    rows = wf.oos["row"].to_numpy()
    fwd = ds.meta["forward_log_return"].to_numpy(float)
    deployed = fit_edge_model(wf.oos["proba"].to_numpy(float), y[rows], fwd[rows], cost=cost)
    return Judged(ev, deployed, found)


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
    dep_bars["payoff"] = deployed.edge_model.payoff_ratio
    per_year = bars_per_year(deployed.timeframe)

    def sharpe(bars: pd.DataFrame, spec: StrategySpec) -> float | None:
        if bars.empty:
            return None
        runs = stream_runs(bars, spec, per_year=per_year)
        r = portfolio_returns(runs, "strategy").to_numpy()
        out = m.annualised_sharpe(r, periods_per_year=per_year)
        return None if np.isnan(out) else out

    return LiveComparison(
        int(meta["ts"].nunique()), sharpe(ch_bars, challenger), sharpe(dep_bars, deployed)
    )


def deployed_spec(
    base: StrategySpec, *, model_name: str, version: int, edge: EdgeModel
) -> StrategySpec:
    return replace(base, model_name=model_name, model_version=version, edge_model=edge)


def now() -> datetime:
    return datetime.now(UTC)


def data_set_of(meta: pd.DataFrame, timeframe: str, *, sliding: bool = False) -> DataSet:
    """The data set a walk-forward ran on: its timeframe, streams and first bar's day. A
    sliding training window (``AAITI_MODEL_TRAIN_BARS``) moves its first bar every run over
    the same market history: its data set is then named by the timeframe and streams."""
    keys = meta[stream_columns(meta)].drop_duplicates().itertuples(index=False)
    streams = sorted({":".join(map(str, k)) for k in keys})  # instruments, exchange:symbol
    first = "sliding" if sliding else pd.Timestamp(meta["ts"].min()).strftime("%Y-%m-%d")
    return DataSet(timeframe, tuple(streams), first)


def run_recipes(
    cfg: TrainConfig, spec: StrategySpec, *, train_bars: int | None, search_horizon: int | None
) -> dict[str, dict]:
    """The recipe of each configuration a run evaluates: the search's candidates by label,
    or the strategy alone under ``""`` (the keys of ``StrategyEvaluation.run_sharpes``)."""
    specs = (
        {"": spec}
        if search_horizon is None
        else {label(c): c for c in candidates(spec, horizon=search_horizon)}
    )
    return {
        k: recipe_of(cfg.as_dict(), c.as_dict(), train_bars=train_bars) for k, c in specs.items()
    }


def prior_for(settings, data: DataSet, recipes: dict[str, dict]) -> PriorTrials:
    """What was tried on ``data`` before, apart from this run's recipes: the trial ledger,
    read from the writer's file (the snapshot may lag a run), and the research log."""
    research = research_count(research_entries(settings.research_log), data)
    own = {Trial(r, float("nan"), 0).key for r in recipes.values()}
    with Warehouse.from_settings(settings).writer(purpose="trial ledger") as con:
        return load_prior(con, data, exclude=own, research=research)


def run_trials(ev: StrategyEvaluation, recipes: dict[str, dict], *, weight: int) -> list[Trial]:
    """This run's trials for the ledger: each configuration evaluated, its Sharpe."""
    n = len(ev.returns)
    return [Trial(recipes[k], sharpe, n, weight) for k, sharpe in ev.run_sharpes.items()]
