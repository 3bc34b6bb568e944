"""``aaiti evaluate``: the deployed strategy on a fresh walk-forward of today's data (the
champion's configuration refit fold by fold), net of costs, recorded with its trials."""

from __future__ import annotations

import json
from dataclasses import dataclass, replace

from aaiti.config import Settings
from aaiti.errors import StateError
from aaiti.execution.spec import StrategySpec, spec_from_settings
from aaiti.ml.dataset import Dataset
from aaiti.ml.features import load_features
from aaiti.ml.model import (
    TrainConfig,
    WalkForwardResult,
    dataset_for,
    make_folds,
    walk_forward_evaluate,
)
from aaiti.ml.tracking import CHAMPION, model_name, tracker_for
from aaiti.ml.train import config_for
from aaiti.strategy.deploy import deployed_state, strategy_metrics
from aaiti.strategy.evaluate import StrategyEvaluation, VerdictRules
from aaiti.strategy.ledger import DataSet, Trial
from aaiti.strategy.ledger import record as record_trials
from aaiti.strategy.service import (
    data_set_of,
    judge_walk_forward,
    now,
    prior_for,
    run_recipes,
    run_trials,
)
from aaiti.strategy.store import new_evaluation_id, save_evaluation
from aaiti.warehouse import Warehouse


class NothingToEvaluateError(StateError, ValueError):
    """No champion or no data: there is no strategy to judge yet."""


@dataclass(frozen=True)
class ChampionWalkForward:
    spec: StrategySpec  # the deployed strategy (or the configured one), pinned to the champion
    ds: Dataset
    wf: WalkForwardResult
    cfg: TrainConfig


def evaluate_champion(settings: Settings, *, timeframe: str | None = None) -> StrategyEvaluation:
    """``aaiti evaluate``: the deployed strategy on a fresh walk-forward of today's data
    (the champion's configuration refit fold by fold), net of costs, recorded."""
    loaded = champion_walk_forward(settings, timeframe=timeframe or settings.timeframe)
    data = data_set_of(loaded.ds.meta, loaded.spec.timeframe,
                       sliding=settings.model.train_bars is not None)  # fmt: skip
    recipes = run_recipes(loaded.cfg, loaded.spec, train_bars=settings.model.train_bars,
                          search_horizon=None)  # fmt: skip
    judged = judge_walk_forward(
        loaded.spec, ds=loaded.ds, wf=loaded.wf, trials=max(loaded.cfg.search_budget, 1),
        rules=VerdictRules.from_section(settings.strategy),
        prior=prior_for(settings, data, recipes),
    )  # fmt: skip
    trials = run_trials(judged.evaluation, recipes, weight=max(loaded.cfg.search_budget, 1))
    record_evaluation(settings, judged.evaluation, data=data, trials=trials)
    return judged.evaluation


def champion_walk_forward(settings: Settings, *, timeframe: str) -> ChampionWalkForward:
    """Load today's gated features and refit the champion's configuration fold by fold."""
    name = model_name(timeframe)
    champion = tracker_for(settings).by_alias(name, CHAMPION)
    if champion is None:
        raise NothingToEvaluateError(f"no champion for {name}: run `aaiti train` first")
    features = load_features(
        Warehouse.from_settings(settings), timeframe=timeframe, symbols=settings.symbols
    )
    if features.empty:
        raise NothingToEvaluateError(
            f"no gated feature rows for {timeframe}: run ingest, validate and transform first"
        )
    cfg = config_for(settings.model, timeframe)
    ds = dataset_for(features, cfg, streams=sorted(features["symbol"].unique()))
    params = json.loads(champion.params.get("xgb_params", "{}")) or cfg.params
    wf = walk_forward_evaluate(ds, cfg, params=params, folds=make_folds(ds, cfg))
    state = deployed_state(settings, timeframe=timeframe)
    spec = state.spec if state else spec_from_settings(settings.strategy, timeframe=timeframe)
    spec = replace(spec, model_name=name, model_version=champion.version)
    return ChampionWalkForward(spec, ds, wf, cfg)


def record_evaluation(
    settings: Settings, ev: StrategyEvaluation, *, data: DataSet, trials: list[Trial]
) -> None:
    """The evaluation and its trials in the warehouse (role ``evaluate``, one transaction)
    and as an MLflow run."""
    with Warehouse.from_settings(settings).writer(purpose="evaluate") as con:
        at = now()
        save_evaluation(con, ev, evaluation_id=new_evaluation_id(), role="evaluate", at=at)
        record_trials(con, data, trials, source="evaluate", at=at)
    tracker_for(settings).log_evaluation(
        run_name=f"evaluate {ev.spec.name}@{ev.spec.version}",
        metrics=strategy_metrics(ev),
        summary=ev.summary(),
        tags={"kind": "strategy evaluation", "model": f"{ev.spec.model_name} v{ev.spec.model_version}",
              "strategy_version": ev.spec.version},
    )  # fmt: skip
