"""XGBoost with purged walk-forward validation; baselines evaluated on the same folds.

``hist`` trees, early stopping on each fold's validation part, class imbalance handled with
``scale_pos_weight`` (negatives / positives of the fold's training rows), fixed seeds and
thread count so the same data and config give the same model. An optional budgeted random
search picks parameters by mean validation log loss (never by the test blocks).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd

from aaiti.market.timeframes import timeframe_ms
from aaiti.ml.dataset import Dataset, build_dataset
from aaiti.ml.evaluate import ClassificationMetrics, classification_metrics
from aaiti.ml.splits import Fold, walk_forward

DEFAULT_PARAMS: dict = {
    "max_depth": 3,
    "eta": 0.05,
    "subsample": 0.8,
    "colsample_bytree": 0.8,
    "min_child_weight": 20,
    "lambda": 5.0,
}
SEARCH_SPACE: dict[str, list] = {
    "max_depth": [2, 3, 4, 6],
    "eta": [0.02, 0.05, 0.1],
    "min_child_weight": [5, 20, 50],
    "subsample": [0.6, 0.8, 1.0],
    "colsample_bytree": [0.6, 0.8, 1.0],
    "lambda": [1.0, 5.0, 20.0],
}


@dataclass(frozen=True)
class TrainConfig:
    timeframe: str = "4h"
    horizon: int = 1
    dead_zone: float = 0.0005
    fold_period: str = "quarter"  # test blocks: calendar month|quarter|half|year, or 7d, 12h …
    min_train_days: float = 365.0  # the first test block begins this long after the first bar
    embargo_bars: int = 1
    validation_fraction: float = 0.2
    num_boost_round: int = 400
    early_stopping_rounds: int = 30
    seed: int = 7
    nthread: int = 2
    search_budget: int = 0
    label_cost: float | None = None  # round-trip log cost: labels beyond it (None: direction)
    params: dict = field(default_factory=lambda: dict(DEFAULT_PARAMS))

    def __post_init__(self) -> None:
        if self.embargo_bars < self.horizon:
            raise ValueError(
                f"embargo_bars ({self.embargo_bars}) must be at least the horizon ({self.horizon})"
            )

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class FoldResult:
    fold: int
    test_start: pd.Timestamp
    test_end: pd.Timestamp
    n_train: int
    n_validation: int
    best_iteration: int
    metrics: ClassificationMetrics


@dataclass(frozen=True)
class WalkForwardResult:
    folds: list[FoldResult]
    oos: pd.DataFrame  # row, symbol, ts, label, proba, momentum, next_log_return
    overall: ClassificationMetrics
    params: dict
    validation: pd.DataFrame | None = None  # row, fold, proba: each fold's validation part

    @property
    def mean_best_iteration(self) -> int:
        return int(np.mean([f.best_iteration for f in self.folds])) + 1


def _booster_params(cfg: TrainConfig, params: dict, y_train: np.ndarray) -> dict:
    pos = float(y_train.sum())
    neg = float(len(y_train) - pos)
    return {
        "objective": "binary:logistic",
        "eval_metric": "logloss",
        "tree_method": "hist",
        "seed": cfg.seed,
        "nthread": cfg.nthread,
        "scale_pos_weight": neg / pos if pos else 1.0,
        **params,
    }


def fit_booster(
    X_train: pd.DataFrame,
    y_train: np.ndarray,
    X_val: pd.DataFrame,
    y_val: np.ndarray,
    *,
    cfg: TrainConfig,
    params: dict,
):
    """One booster with early stopping on the validation part."""
    import xgboost as xgb

    dtrain = xgb.DMatrix(X_train, label=y_train, enable_categorical=True)
    dval = xgb.DMatrix(X_val, label=y_val, enable_categorical=True)
    return xgb.train(
        _booster_params(cfg, params, y_train),
        dtrain,
        num_boost_round=cfg.num_boost_round,
        evals=[(dval, "validation")],
        early_stopping_rounds=cfg.early_stopping_rounds,
        verbose_eval=False,
    )


def predict(booster, X: pd.DataFrame) -> np.ndarray:
    import xgboost as xgb

    best = getattr(booster, "best_iteration", None)
    kwargs = {"iteration_range": (0, best + 1)} if best is not None else {}
    return booster.predict(xgb.DMatrix(X, enable_categorical=True), **kwargs)


def dataset_for(features: pd.DataFrame, cfg: TrainConfig, *, streams: list[str]) -> Dataset:
    return build_dataset(
        features,
        timeframe=cfg.timeframe,
        horizon=cfg.horizon,
        dead_zone=cfg.dead_zone,
        streams=streams,
        label_cost=cfg.label_cost,
    )


def make_folds(ds: Dataset, cfg: TrainConfig) -> list[Fold]:
    bar = pd.Timedelta(milliseconds=timeframe_ms(cfg.timeframe))
    return walk_forward(
        ds.meta["ts"],
        ds.meta["label_end_ts"],
        labelled=ds.y.notna().to_numpy(),
        period=cfg.fold_period,
        min_train=pd.Timedelta(days=cfg.min_train_days),
        bar=bar,
        embargo_bars=cfg.embargo_bars,
        validation_fraction=cfg.validation_fraction,
    )


@dataclass(frozen=True)
class FoldFit:
    """One independent fit: the rows of a fold and the parameters, all a worker needs.

    It holds the whole design matrix and the fold's row numbers, not copies of the slices:
    the search's candidates × folds jobs then share one matrix in this process."""

    X: pd.DataFrame
    y: np.ndarray
    train: np.ndarray
    validation: np.ndarray
    test: np.ndarray | None
    cfg: TrainConfig
    params: dict


@dataclass(frozen=True)
class FoldFitResult:
    best_iteration: int
    best_score: float
    proba: np.ndarray | None  # on the fold's test rows, when it has them
    proba_validation: np.ndarray | None = None  # on its validation rows (calibration)


def fit_fold(job: FoldFit) -> FoldFitResult:
    """Fit one fold (early stopping on its validation part) and score its test block."""
    X, y = job.X, job.y
    booster = fit_booster(
        X.iloc[job.train],
        y[job.train],
        X.iloc[job.validation],
        y[job.validation],
        cfg=job.cfg,
        params=job.params,
    )
    if job.test is None:
        return FoldFitResult(int(booster.best_iteration), float(booster.best_score), None)
    return FoldFitResult(
        int(booster.best_iteration),
        float(booster.best_score),
        predict(booster, X.iloc[job.test]),
        predict(booster, X.iloc[job.validation]),
    )


#: Runs independent fold fits, in order: ``map``'s shape, a list out. The default fits them
#: here one after another; the train flow passes one that spreads them over Dask workers
#: (``AAITI_DASK_ADDRESS``). Each fit is deterministic, so where it runs changes nothing.
FoldMap = Callable[[Callable[[FoldFit], FoldFitResult], list[FoldFit]], list[FoldFitResult]]


def fit_here(fn: Callable[[FoldFit], FoldFitResult], jobs: list[FoldFit]) -> list[FoldFitResult]:
    return [fn(job) for job in jobs]


def walk_forward_evaluate(
    ds: Dataset,
    cfg: TrainConfig,
    *,
    params: dict | None = None,
    shuffle_labels: bool = False,
    folds: list[Fold] | None = None,
    map_folds: FoldMap = fit_here,
) -> WalkForwardResult:
    """Train on each fold's past, predict its test block; ``shuffle_labels`` is the control."""
    params = dict(params or cfg.params)
    folds = folds or make_folds(ds, cfg)
    y_all = ds.y.to_numpy(float)
    y_true = y_all.copy()
    if shuffle_labels:
        rng = np.random.default_rng(cfg.seed)
        labelled = ds.labelled
        y_all = y_all.copy()
        y_all[labelled] = rng.permutation(y_all[labelled])
    fits = map_folds(
        fit_fold,
        [FoldFit(ds.X, y_all, f.train, f.validation, f.test, cfg, params) for f in folds],
    )
    results, parts, validation = [], [], []
    for f, fit in zip(folds, fits, strict=True):
        validation.append(
            pd.DataFrame({"row": f.validation, "fold": f.number, "proba": fit.proba_validation})
        )
        proba = fit.proba
        y_test = y_true[f.test] if not shuffle_labels else y_all[f.test]
        results.append(
            FoldResult(
                f.number,
                f.test_start,
                f.test_end,
                len(f.train),
                len(f.validation),
                fit.best_iteration,
                classification_metrics(y_test, proba),
            )
        )
        parts.append(
            pd.DataFrame(
                {
                    "row": f.test,
                    "fold": f.number,
                    # slice first: tz-aware times become Python objects in .to_numpy()
                    "symbol": ds.meta["symbol"].iloc[f.test].to_numpy(),
                    "ts": ds.meta["ts"].iloc[f.test].reset_index(drop=True),
                    "label": y_test,
                    "proba": proba,
                    "momentum": (ds.X["ret_1"].to_numpy()[f.test] > 0).astype(float),
                }
            )
        )
    oos = pd.concat(parts, ignore_index=True)
    overall = classification_metrics(oos["label"].to_numpy(), oos["proba"].to_numpy())
    return WalkForwardResult(
        results, oos, overall, params, pd.concat(validation, ignore_index=True)
    )


def search_params(
    ds: Dataset, cfg: TrainConfig, folds: list[Fold], *, map_folds: FoldMap = fit_here
) -> dict:
    """Random search within the budget, scored by mean *validation* log loss over folds."""
    if cfg.search_budget <= 0:
        return dict(cfg.params)
    rng = random.Random(cfg.seed)
    y = ds.y.to_numpy(float)
    candidates = [
        {k: rng.choice(v) for k, v in SEARCH_SPACE.items()} for _ in range(cfg.search_budget)
    ]
    fits = map_folds(
        fit_fold,
        [
            FoldFit(ds.X, y, f.train, f.validation, None, cfg, candidate)
            for candidate in candidates
            for f in folds
        ],
    )
    best, best_loss = dict(cfg.params), np.inf
    for i, candidate in enumerate(candidates):
        losses = [fit.best_score for fit in fits[i * len(folds) : (i + 1) * len(folds)]]
        if np.mean(losses) < best_loss:
            best, best_loss = candidate, float(np.mean(losses))
    return best


def fit_final(ds: Dataset, cfg: TrainConfig, *, params: dict, rounds: int):
    """The deployable model: every labelled row, the walk-forward's typical tree count."""
    import xgboost as xgb

    rows = ds.labelled
    y = ds.y.to_numpy(float)[rows]
    dtrain = xgb.DMatrix(ds.X.iloc[rows], label=y, enable_categorical=True)
    return xgb.train(_booster_params(cfg, params, y), dtrain, num_boost_round=max(rounds, 1))
