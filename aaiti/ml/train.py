"""The model's part of training: the candidate walked forward beside the baselines and the
shuffled-label control, the champion's configuration on the same folds, the final fit
logged to MLflow as a new registered version.

The stage that also judges the strategy on these predictions and decides what is deployed
is ``aaiti.strategy.training``.
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

from aaiti.config import ModelSettings
from aaiti.errors import StateError
from aaiti.execution.spec import round_trip_cost
from aaiti.market.candles import stream_columns
from aaiti.ml.dataset import Dataset
from aaiti.ml.evaluate import calibration_table, classification_metrics, long_flat_equity
from aaiti.ml.model import (
    FoldMap,
    TrainConfig,
    WalkForwardResult,
    fit_final,
    make_folds,
    search_params,
    walk_forward_evaluate,
)
from aaiti.ml.splits import Fold
from aaiti.ml.tracking import (
    INPUTS_ARTIFACT,
    Tracker,
    VersionInfo,
    importance_figure,
)

log = logging.getLogger(__name__)


class NoTrainingDataError(StateError, ValueError):
    """Nothing to train on yet: a state the user fixes by running the stages before."""


def config_for(model: ModelSettings, timeframe: str) -> TrainConfig:
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


@dataclass(frozen=True)
class Candidate:
    params: dict[str, Any]
    folds: list[Fold]
    wf: WalkForwardResult
    base: dict[str, dict[str, float]]


def candidate(ds: Dataset, cfg: TrainConfig, map_folds: FoldMap) -> Candidate:
    """The searched parameters, walked forward, beside the baselines and the shuffled-label
    control on the same folds."""
    folds = make_folds(ds, cfg)
    params = search_params(ds, cfg, folds, map_folds=map_folds)
    wf = walk_forward_evaluate(ds, cfg, params=params, folds=folds, map_folds=map_folds)
    shuffled = walk_forward_evaluate(
        ds, cfg, params=params, folds=folds, shuffle_labels=True, map_folds=map_folds
    )
    return Candidate(params, folds, wf, baselines(ds, wf, shuffled))


def champion_on_the_same_folds(
    champion: VersionInfo | None,
    ds: Dataset,
    cfg: TrainConfig,
    c: Candidate,
    map_folds: FoldMap,
) -> tuple[dict[str, Any] | None, WalkForwardResult | None]:
    """(the champion's parameters, its walk-forward on the candidate's folds), or Nones."""
    if champion is None:
        return None, None
    params = json.loads(champion.params.get("xgb_params", "{}")) or cfg.params
    wf = walk_forward_evaluate(ds, cfg, params=params, folds=c.folds, map_folds=map_folds)
    return params, wf


def log_run(
    dbt_dir: Path,
    tracker: Tracker,
    cfg: TrainConfig,
    ds: Dataset,
    c: Candidate,
    *,
    name: str,
    timeframe: str,
    streams: list[str],
    champion_auc: float | None,
    strategy_metrics: dict[str, float],
    strategy_artifacts: dict[str, object],
) -> tuple[VersionInfo, str, str]:
    """The final fit on every labelled row, logged to MLflow as a new registered version."""
    rows = ds.labelled
    trained_ts = ds.meta["ts"].iloc[rows]
    wf = c.wf
    booster = fit_final(ds, cfg, params=c.params, rounds=wf.mean_best_iteration)
    calib = calibration_table(wf.oos["label"].to_numpy(), wf.oos["proba"].to_numpy())
    equity = equity_by_symbol(ds, wf, timeframe)
    metrics = run_metrics(wf=wf, base=c.base, equity=equity, champion_auc=champion_auc)
    metrics.update(strategy_metrics)
    fingerprint = {
        "training_rows_sha256": ds.fingerprint(),
        "dbt_manifest_sha256": _manifest_hash(dbt_dir),
        "git_commit": _git_commit(),
    }
    data_start, data_end = str(trained_ts.min()), str(trained_ts.max())
    params = {
        **{k: v for k, v in cfg.as_dict().items() if k != "params"},
        "xgb_params": json.dumps(c.params), "n_streams": len(streams),
        "n_features": len(ds.feature_names), "data_start": data_start, "data_end": data_end,
        "training_rows": len(rows), "final_rounds": wf.mean_best_iteration,
    }  # fmt: skip
    artifacts = run_artifacts(
        cfg=cfg, params=c.params, ds=ds, streams=streams, wf=wf, calib=calib, base=c.base,
        equity=equity, fingerprint=fingerprint,
    )  # fmt: skip
    info = tracker.log_training(
        name=name,
        booster=booster,
        params=params,
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
        artifacts=artifacts | strategy_artifacts,
        figures={"feature_importance.png": importance_figure(booster, title=f"{name}: total gain")},
        input_example=ds.X.iloc[rows[-5:]].reset_index(drop=True),
    )
    return info, data_start, data_end


def run_metrics(
    *,
    wf: WalkForwardResult,
    base: dict[str, dict[str, float]],
    equity: dict[str, dict[str, float]],
    champion_auc: float | None,
) -> dict[str, float]:
    """The model's metrics: out of sample, baselines, controls (the strategy's are its own)."""
    metrics = {f"oos_{k}": float(v) for k, v in wf.overall.as_dict().items()}
    metrics.update({f"baseline_momentum_{k}": float(v) for k, v in base["momentum_sign"].items()})
    metrics.update(
        {f"control_shuffled_{k}": float(v) for k, v in base["shuffled_label_control"].items()}
    )
    metrics["baseline_always_long_accuracy"] = base["always_long"]["accuracy"]
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
) -> dict[str, object]:
    """The model's JSON artifacts (lists that grow with the universe included)."""
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
