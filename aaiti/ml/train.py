"""Train, evaluate, track, register and (maybe) promote the model of one timeframe.

The challenger and the current champion's configuration are evaluated on the *same*
walk-forward folds of today's data, in the same run; the challenger becomes champion only if
its out-of-sample AUC beats the champion's by the configured margin (the very first model
becomes champion, so the pipeline has something to predict with — its numbers are shown
either way, beside the baselines).
"""

from __future__ import annotations

import hashlib
import json
import logging
import subprocess
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from aaiti.config import ModelSettings, Settings
from aaiti.market.candles import stream_columns
from aaiti.ml.dataset import Dataset
from aaiti.ml.evaluate import calibration_table, classification_metrics, long_flat_equity
from aaiti.ml.features import load_features
from aaiti.ml.model import (
    FoldMap,
    TrainConfig,
    WalkForwardResult,
    dataset_for,
    fit_final,
    fit_here,
    make_folds,
    search_params,
    walk_forward_evaluate,
)
from aaiti.ml.splits import Fold
from aaiti.ml.tracking import (
    CHAMPION,
    INPUTS_ARTIFACT,
    Tracker,
    VersionInfo,
    importance_figure,
    model_name,
    tracker_for,
)
from aaiti.strategy.deploy import decide_and_deploy, judge_strategies, strategy_metrics
from aaiti.strategy.service import Judged
from aaiti.warehouse import Warehouse

log = logging.getLogger(__name__)


class NoTrainingDataError(ValueError):
    """Nothing to train on yet: a state the user fixes by running the stages before."""


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


def config_for(model: ModelSettings, timeframe: str) -> TrainConfig:
    from aaiti.strategy.spec import round_trip_cost

    cost = round_trip_cost(fee_bps=model.fee_bps, slippage_bps=model.slippage_bps)
    return TrainConfig(
        label_cost=cost if model.label == "beyond_cost" else None,
        timeframe=timeframe,
        horizon=model.horizon,
        dead_zone=model.dead_zone,
        fold_period=model.fold_period,
        min_train_days=model.min_train_days,
        embargo_bars=model.embargo_bars or model.horizon,
        seed=model.seed,
        search_budget=model.search_budget,
    )


def _git_commit() -> str:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            timeout=5,
            cwd=Path(__file__).resolve().parents[2],
        )
        return out.stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def _manifest_hash(dbt_dir: Path) -> str:
    path = dbt_dir / "target" / "manifest.json"
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.exists() else "missing"


def baselines(
    ds: Dataset, wf: WalkForwardResult, shuffled: WalkForwardResult
) -> dict[str, dict[str, float]]:
    """Always-long, momentum sign and the shuffled-label control on the same OOS rows."""
    y = wf.oos["label"].to_numpy()
    momentum = classification_metrics(y, np.where(wf.oos["momentum"] > 0, 0.55, 0.45))
    always = {"auc": 0.5, "accuracy": float(y.mean()), "positive_rate": float(y.mean())}
    return {
        "always_long": always,
        "momentum_sign": momentum.as_dict(),
        "shuffled_label_control": shuffled.overall.as_dict(),
    }


def equity_by_symbol(
    ds: Dataset, wf: WalkForwardResult, timeframe: str
) -> dict[str, dict[str, float]]:
    """Long/flat close-to-close OOS equity per stream, keyed ``exchange:symbol`` (no
    costs; see aaiti.ml.evaluate)."""
    out = {}
    meta = ds.meta
    next_ret = np.full(len(meta), np.nan)
    keys = stream_columns(meta)
    for _, idx in meta.groupby(keys).groups.items():
        idx = np.asarray(sorted(idx, key=lambda i: meta.at[i, "ts"]))
        close = meta["close"].to_numpy(float)[idx]
        next_ret[idx[:-1]] = np.log(close[1:] / close[:-1])
    # each out-of-sample row's stream, from the training row it scored
    oos = wf.oos.assign(**{c: meta[c].to_numpy()[wf.oos["row"].to_numpy()] for c in keys})
    for key, part in oos.groupby(keys):
        part = part.sort_values("ts")
        out[":".join(map(str, key))] = asdict(
            long_flat_equity(
                part["proba"].to_numpy(), next_ret[part["row"].to_numpy()], timeframe=timeframe
            )
        )
    return out


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
    if features is None:
        features = load_features(
            Warehouse.from_settings(settings), timeframe=timeframe, symbols=settings.symbols,
            last_bars=settings.model.train_bars,
        )  # fmt: skip
    if features.empty:
        raise NoTrainingDataError(
            f"no gated feature rows for {timeframe} {settings.symbols}: run ingest, validate and transform first"
        )
    streams = sorted(features["symbol"].unique())
    ds = dataset_for(features, cfg, streams=streams)
    c = _candidate(ds, cfg, map_folds)
    champion = tracker.by_alias(name, CHAMPION)
    champ_params, champ_wf = _champion_on_the_same_folds(champion, ds, cfg, c, map_folds)
    trials = max(cfg.search_budget, 1)  # this run's; the ledger adds every earlier recipe
    spec, judged, champ_judged = judge_strategies(
        settings, cfg, name=name, ds=ds, wf=c.wf, champ_wf=champ_wf, champion=champion,
        trials=trials,
    )  # fmt: skip
    info, data_start, data_end = _log_run(
        settings.dbt_dir, tracker, cfg, ds, c, name=name, timeframe=timeframe, streams=streams,
        judged=judged, champion_auc=champ_wf.overall.auc if champ_wf else None,
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
        name,
        info.version,
        info.run_id,
        decision.promoted,
        decision.reason,
        {k: float(v) for k, v in c.wf.overall.as_dict().items()},
        c.base,
        champion.version if champion else None,
        data_start,
        data_end,
        len(ds.labelled),
        judged.evaluation.summary(),
        decision.qualified,
        decision.qualification,
    )


@dataclass(frozen=True)
class _Candidate:
    params: dict[str, Any]
    folds: list[Fold]
    wf: WalkForwardResult
    base: dict[str, dict[str, float]]


def _candidate(ds: Dataset, cfg: TrainConfig, map_folds: FoldMap) -> _Candidate:
    """The searched parameters, walked forward, beside the baselines and the shuffled-label
    control on the same folds."""
    folds = make_folds(ds, cfg)
    params = search_params(ds, cfg, folds, map_folds=map_folds)
    wf = walk_forward_evaluate(ds, cfg, params=params, folds=folds, map_folds=map_folds)
    shuffled = walk_forward_evaluate(
        ds, cfg, params=params, folds=folds, shuffle_labels=True, map_folds=map_folds
    )
    return _Candidate(params, folds, wf, baselines(ds, wf, shuffled))


def _champion_on_the_same_folds(
    champion: VersionInfo | None,
    ds: Dataset,
    cfg: TrainConfig,
    c: _Candidate,
    map_folds: FoldMap,
) -> tuple[dict[str, Any] | None, WalkForwardResult | None]:
    """(the champion's parameters, its walk-forward on the candidate's folds), or Nones."""
    if champion is None:
        return None, None
    params = json.loads(champion.params.get("xgb_params", "{}")) or cfg.params
    wf = walk_forward_evaluate(ds, cfg, params=params, folds=c.folds, map_folds=map_folds)
    return params, wf


def _log_run(
    dbt_dir: Path,
    tracker: Tracker,
    cfg: TrainConfig,
    ds: Dataset,
    c: _Candidate,
    *,
    name: str,
    timeframe: str,
    streams: list[str],
    judged: Judged,
    champion_auc: float | None,
) -> tuple[VersionInfo, str, str]:
    """The final fit on every labelled row, logged to MLflow as a new registered version."""
    rows = ds.labelled
    trained_ts = ds.meta["ts"].iloc[rows]
    wf = c.wf
    booster = fit_final(ds, cfg, params=c.params, rounds=wf.mean_best_iteration)
    calib = calibration_table(wf.oos["label"].to_numpy(), wf.oos["proba"].to_numpy())
    equity = equity_by_symbol(ds, wf, timeframe)
    metrics = run_metrics(
        wf=wf, base=c.base, equity=equity, judged=judged, champion_auc=champion_auc
    )
    fingerprint = {
        "training_rows_sha256": ds.fingerprint(),
        "dbt_manifest_sha256": _manifest_hash(dbt_dir),
        "git_commit": _git_commit(),
    }
    data_start, data_end = str(trained_ts.min()), str(trained_ts.max())
    info = tracker.log_training(
        name=name,
        booster=booster,
        params={
            **{k: v for k, v in cfg.as_dict().items() if k != "params"},
            "xgb_params": json.dumps(c.params),
            "n_streams": len(streams),
            "n_features": len(ds.feature_names),
            "data_start": data_start,
            "data_end": data_end,
            "training_rows": len(rows),
            "final_rounds": wf.mean_best_iteration,
        },
        metrics=metrics,
        fold_metrics=[
            {"fold": f.fold, **{k: float(v) for k, v in f.metrics.as_dict().items()}}
            for f in wf.folds
        ],
        tags={
            **fingerprint,
            "data_start": data_start,
            "data_end": data_end,
            "timeframe": timeframe,
        },
        artifacts=run_artifacts(
            cfg=cfg,
            params=c.params,
            ds=ds,
            streams=streams,
            wf=wf,
            calib=calib,
            base=c.base,
            equity=equity,
            fingerprint=fingerprint,
            judged=judged,
        ),
        figures={"feature_importance.png": importance_figure(booster, title=f"{name}: total gain")},
        input_example=ds.X.iloc[rows[-5:]].reset_index(drop=True),
    )
    return info, data_start, data_end


def run_metrics(
    *,
    wf: WalkForwardResult,
    base: dict[str, dict[str, float]],
    equity: dict[str, dict[str, float]],
    judged: Judged,
    champion_auc: float | None,
) -> dict[str, float]:
    """The training run's metrics: out of sample, baselines, controls, the strategy."""
    metrics = {f"oos_{k}": float(v) for k, v in wf.overall.as_dict().items()}
    metrics.update({f"baseline_momentum_{k}": float(v) for k, v in base["momentum_sign"].items()})
    metrics.update(
        {f"control_shuffled_{k}": float(v) for k, v in base["shuffled_label_control"].items()}
    )
    metrics["baseline_always_long_accuracy"] = base["always_long"]["accuracy"]
    metrics.update(strategy_metrics(judged.evaluation))
    for stream, eq in equity.items():  # an instrument, exchange:symbol
        key = stream.replace("/", "_").replace(":", "_")
        metrics.update({f"longflat_{key}_{k}": float(v) for k, v in eq.items()})
    if champion_auc is not None:
        metrics["champion_oos_auc_same_folds"] = float(champion_auc)
    return metrics


def run_artifacts(
    *,
    cfg: TrainConfig,
    params: dict[str, Any],
    ds: Dataset,
    streams: list[str],
    wf: WalkForwardResult,
    calib: pd.DataFrame,
    base: dict[str, dict[str, float]],
    equity: dict[str, dict[str, float]],
    fingerprint: dict[str, str],
    judged: Judged,
) -> dict[str, object]:
    """The training run's JSON artifacts (lists that grow with the universe included)."""
    folds = [
        {"fold": f.fold, "test_start": str(f.test_start), "test_end": str(f.test_end),
         "n_train": f.n_train, "n_validation": f.n_validation,
         "best_iteration": f.best_iteration, **f.metrics.as_dict()}
        for f in wf.folds
    ]  # fmt: skip
    out = {
        "config.json": cfg.as_dict() | {"xgb_params": params},
        "features.json": ds.feature_names,
        INPUTS_ARTIFACT: {"streams": streams, "features": ds.feature_names},
        "folds.json": folds,
        "calibration.json": calib.to_dict(orient="records"),
        "baselines.json": base,
        "equity_long_flat_close_to_close_no_costs.json": equity,
        "fingerprint.json": fingerprint,
        "strategy_evaluation.json": judged.evaluation.summary(),
    }
    if judged.search is not None:
        # JSON has no NaN: an undefined Sharpe is written as null
        out["strategy_search.json"] = {
            k: None if np.isnan(v) else v for k, v in judged.search.validation_sharpe.items()
        }
    return out


def version_summary(v: VersionInfo) -> dict[str, object]:
    return {
        "version": v.version,
        "aliases": ",".join(v.aliases),
        "run_id": v.run_id,
        "oos_auc": v.metrics.get("oos_auc"),
        "momentum_auc": v.metrics.get("baseline_momentum_auc"),
        "shuffled_auc": v.metrics.get("control_shuffled_auc"),
        "data_end": v.params.get("data_end"),
    }
