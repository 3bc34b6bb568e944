"""The train stage: the model walked forward and registered, the strategy judged on its
out-of-sample predictions net of costs, and the champion/challenger decision deployed.

The challenger and the current champion's configuration are evaluated on the *same*
walk-forward folds of today's data, in the same run; the challenger becomes champion only if
its out-of-sample AUC beats the champion's by the configured margin (the very first model
becomes champion, so the pipeline has something to predict with — its numbers are shown
either way, beside the baselines). The model's part is ``aaiti.ml.train``; this module is
where it meets the strategy, so ``aaiti.ml`` never imports ``aaiti.strategy``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from aaiti.config import Settings
from aaiti.ml.features import load_features
from aaiti.ml.model import FoldMap, dataset_for, fit_here
from aaiti.ml.tracking import CHAMPION, Tracker, model_name, tracker_for
from aaiti.ml.train import (
    NoTrainingDataError,
    candidate,
    champion_on_the_same_folds,
    config_for,
    log_run,
)
from aaiti.strategy.deploy import decide_and_deploy, judge_strategies, strategy_metrics
from aaiti.strategy.service import Judged
from aaiti.warehouse import Warehouse


@dataclass(frozen=True)
class TrainingReport:
    model_name: str
    version: int
    run_id: str
    promoted: bool
    decision: str
    oos: dict[str, float]
    baselines: dict[str, dict[str, float]]
    champion_before: int | None
    data_start: str
    data_end: str
    rows: int
    strategy: dict[str, Any] | None = None  # the walk-forward strategy evaluation, net of costs
    qualified: bool = False  # may the strategy that trades after this decision trade?
    qualification: str = ""


def train_and_register(
    settings: Settings,
    *,
    timeframe: str | None = None,
    tracker: Tracker | None = None,
    features: pd.DataFrame | None = None,
    map_folds: FoldMap = fit_here,
) -> TrainingReport:
    """Walk-forward, baselines, MLflow run, registry and the champion/challenger decision.

    ``map_folds`` runs the independent fold fits (search, walk-forward, shuffled control,
    champion on the same folds): here by default, on Dask workers from the train flow."""
    timeframe = timeframe or settings.timeframe
    cfg = config_for(settings.model, timeframe)
    tracker = tracker or tracker_for(settings)
    name = model_name(timeframe)
    features = _training_rows(settings, timeframe, features)
    streams = sorted(features["symbol"].unique())
    ds = dataset_for(features, cfg, streams=streams)
    c = candidate(ds, cfg, map_folds)
    champion = tracker.by_alias(name, CHAMPION)
    champ_params, champ_wf = champion_on_the_same_folds(champion, ds, cfg, c, map_folds)
    trials = max(cfg.search_budget, 1)  # this run's; the ledger adds every earlier recipe
    spec, judged, champ_judged = judge_strategies(
        settings, cfg, name=name, ds=ds, wf=c.wf, champ_wf=champ_wf, champion=champion,
        trials=trials,
    )  # fmt: skip
    info, data_start, data_end = log_run(
        settings.dbt_dir, tracker, cfg, ds, c, name=name, timeframe=timeframe, streams=streams,
        champion_auc=champ_wf.overall.auc if champ_wf else None,
        strategy_metrics=strategy_metrics(judged.evaluation),
        strategy_artifacts=strategy_artifacts(judged),
    )  # fmt: skip
    decision = decide_and_deploy(
        settings,
        tracker,
        name=name,
        version=info.version,
        run_id=info.run_id,
        champion=champion,
        spec=spec,
        judged=judged,
        champ_judged=champ_judged,
        wf=c.wf,
        ds=ds,
        same_config=champ_params == c.params,
    )
    return TrainingReport(
        name, info.version, info.run_id, decision.promoted, decision.reason,
        {k: float(v) for k, v in c.wf.overall.as_dict().items()}, c.base,
        champion.version if champion else None, data_start, data_end, len(ds.labelled),
        judged.evaluation.summary(), decision.qualified, decision.qualification,
    )  # fmt: skip


def _training_rows(
    settings: Settings, timeframe: str, features: pd.DataFrame | None
) -> pd.DataFrame:
    """The gated feature rows to train on (given, or read), or why there are none."""
    if features is None:
        features = load_features(
            Warehouse.from_settings(settings), timeframe=timeframe, symbols=settings.symbols,
            last_bars=settings.model.train_bars,
        )  # fmt: skip
    if features.empty:
        raise NoTrainingDataError(
            f"no gated feature rows for {timeframe} {settings.symbols}: run ingest, validate "
            "and transform first"
        )
    return features


def strategy_artifacts(judged: Judged) -> dict[str, object]:
    """The strategy's JSON artifacts of the training run."""
    out: dict[str, object] = {"strategy_evaluation.json": judged.evaluation.summary()}
    if judged.search is not None:
        # JSON has no NaN: an undefined Sharpe is written as null
        out["strategy_search.json"] = {
            k: None if np.isnan(v) else v for k, v in judged.search.validation_sharpe.items()
        }
    return out
