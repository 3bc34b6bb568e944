"""Walk-forward overhead and prediction latency (issue 5).

1. 5-fold purged walk-forward on 1M × 30 synthetic rows through aaiti.ml against bare
   ``xgb.train`` + predict on the *same* folds, params and rounds, same run. Target ≤ 1.3×.
2. Single-row prediction latency from a champion loaded through the MLflow registry
   (``models:/…@champion``), 2,000 calls. Target p99 < 5 ms.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from benchmarks.common import peak_rss_mb, write_result

ROWS, COLS = 1_000_000, 30


def synthetic_dataset():
    from aaiti.ml.dataset import Dataset

    rng = np.random.default_rng(7)
    X = pd.DataFrame(rng.standard_normal((ROWS, COLS)), columns=[f"f{i}" for i in range(COLS)])
    logit = 0.15 * X["f0"] - 0.1 * X["f1"] + 0.05 * X["f2"] * X["f3"]
    y = pd.Series((rng.random(ROWS) < 1 / (1 + np.exp(-logit))).astype(float))
    ts = pd.Series(pd.date_range("2024-01-01", periods=ROWS, freq="1min", tz="UTC"))
    meta = pd.DataFrame(
        {
            "exchange": "synthetic",
            "symbol": "SYN/USD",
            "timeframe": "1m",
            "ts": ts,
            "close": 100.0,
            "forward_log_return": 0.0,
            "label_end_ts": ts + pd.Timedelta(minutes=1),
        }
    )
    X["ret_1"] = X["f4"]  # the momentum baseline column the evaluator reads
    return Dataset(X, y, meta, list(X.columns))


def bare(ds, folds, cfg, params) -> float:
    import xgboost as xgb

    from aaiti.ml.model import _booster_params

    t0 = time.perf_counter()
    y = ds.y.to_numpy(float)
    for f in folds:
        dtrain = xgb.DMatrix(ds.X.iloc[f.train], label=y[f.train])
        dval = xgb.DMatrix(ds.X.iloc[f.validation], label=y[f.validation])
        booster = xgb.train(
            _booster_params(cfg, params, y[f.train]),
            dtrain,
            num_boost_round=cfg.num_boost_round,
            evals=[(dval, "validation")],
            early_stopping_rounds=cfg.early_stopping_rounds,
            verbose_eval=False,
        )
        booster.predict(
            xgb.DMatrix(ds.X.iloc[f.test]), iteration_range=(0, booster.best_iteration + 1)
        )
    return time.perf_counter() - t0


def latency() -> dict:
    from aaiti.ml.model import TrainConfig, fit_booster
    from aaiti.ml.tracking import CHAMPION, Tracker

    folder = Path(tempfile.mkdtemp(prefix="aaiti-bench-ml-"))
    try:
        tracker = Tracker(
            tracking_uri=f"sqlite:///{folder / 'mlflow.db'}", artifact_root=folder / "artifacts"
        )
        ds = synthetic_dataset()
        small = ds.X.iloc[:50_000]
        booster = fit_booster(
            small.iloc[:40_000],
            ds.y.iloc[:40_000].to_numpy(),
            small.iloc[40_000:],
            ds.y.iloc[40_000:50_000].to_numpy(),
            cfg=TrainConfig(timeframe="1m"),
            params=TrainConfig().params,
        )
        info = tracker.log_training(
            name="bench-latency",
            booster=booster,
            params={},
            metrics={},
            fold_metrics=[],
            tags={},
            artifacts={},
            figures={},
            input_example=small.iloc[:5],
        )
        tracker.promote("bench-latency", info.version, reason="bench")
        loaded = tracker.load("bench-latency", CHAMPION)
        rows = ds.X.iloc[60_000:62_000]
        times = []
        for i in range(len(rows)):
            one = rows.iloc[[i]]
            t0 = time.perf_counter()
            loaded.inplace_predict(one)
            times.append(time.perf_counter() - t0)
        ms = np.array(times) * 1000
        return {
            "calls": len(ms),
            "p50_ms": float(np.percentile(ms, 50)),
            "p99_ms": float(np.percentile(ms, 99)),
            "max_ms": float(ms.max()),
        }
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def main() -> dict:
    from aaiti.ml.model import TrainConfig, make_folds, walk_forward_evaluate

    ds = synthetic_dataset()
    cfg = TrainConfig(
        timeframe="1m", num_boost_round=200, params={**TrainConfig().params, "max_depth": 6}
    )
    folds = make_folds(ds, cfg)
    ours_runs, bare_runs = [], []
    for i in range(2):  # alternate the order so neither side pays the cold start alone
        if i == 1:
            bare_runs.append(bare(ds, folds, cfg, cfg.params))
        t0 = time.perf_counter()
        wf = walk_forward_evaluate(ds, cfg, folds=folds)
        ours_runs.append(time.perf_counter() - t0)
        if i == 0:
            bare_runs.append(bare(ds, folds, cfg, cfg.params))
    ours, reference = float(np.median(ours_runs)), float(np.median(bare_runs))
    lat = latency()
    result = {
        "rows": ROWS,
        "columns": COLS,
        "folds": len(folds),
        "reference": "bare xgb.train + predict on the same folds, params and rounds (same run)",
        "walk_forward_s": ours,
        "bare_xgb_s": reference,
        "overhead_ratio": ours / reference,
        "walk_forward_runs_s": ours_runs,
        "bare_xgb_runs_s": bare_runs,
        "oos_auc": wf.overall.auc,
        "single_row_latency": lat,
        "peak_rss_mb": peak_rss_mb(),
        "targets": {"overhead <= 1.3x": ours / reference <= 1.3, "p99 < 5 ms": lat["p99_ms"] < 5.0},
    }
    print(f"wrote {write_result('ml', result)}")
    return result


if __name__ == "__main__":
    import json

    print(json.dumps(main(), indent=2, default=str))
