"""Has the champion gone stale? Drift of its inputs and outputs, its live quality, a decision.

Reference: the champion's own training window (from its MLflow run). Current: the newest
``monitor_current_bars`` gated feature rows of each stream. The champion scores both sides
for the prediction-drift check; its live quality is the AUC of the predictions it actually
wrote (``ml.predictions``) whose labels have matured, against its walk-forward OOS AUC.
The decision to retrain — and why, or why not — is recorded with the drift run; a cool-down
keeps drift from causing a retrain storm.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import duckdb
import numpy as np
import pandas as pd

from aaiti.config import MonitorSettings, Settings
from aaiti.market.candles import stream_columns
from aaiti.ml.dataset import STREAM_COLUMN, build_dataset, model_inputs, one_hot_inputs
from aaiti.ml.evaluate import classification_metrics
from aaiti.ml.features import load_features
from aaiti.ml.tracking import CHAMPION, ModelInputs, Tracker, model_name, tracker_for
from aaiti.monitoring.drift import PREDICTION_COLUMN, DriftResult, data_drift
from aaiti.ops import raise_alert
from aaiti.warehouse import Warehouse
from aaiti.warehouse.sql import fetch_one, load_sql, run

log = logging.getLogger(__name__)
_SQL = "aaiti.monitoring"


@dataclass(frozen=True)
class RetrainDecision:
    retrain: bool
    reason: str


def decide_retrain(
    *,
    drifted_share: float,
    share_threshold: float,
    auc_decay: float | None,
    max_auc_decay: float,
    last_triggered_at: datetime | None,
    cooldown: timedelta,
    now: datetime,
    enabled: bool = True,
) -> RetrainDecision:
    """Drift or quality decay → retrain, unless within the cool-down or switched off."""
    causes = []
    if drifted_share >= share_threshold:
        causes.append(f"{drifted_share:.0%} of features drifted (threshold {share_threshold:.0%})")
    if auc_decay is not None and auc_decay > max_auc_decay:
        causes.append(f"live AUC {auc_decay:.3f} below the OOS AUC (bound {max_auc_decay})")
    if not causes:
        quality = "quality not yet judged" if auc_decay is None else f"AUC decay {auc_decay:.3f}"
        return RetrainDecision(
            False, f"no retrain: {drifted_share:.0%} of features drifted, {quality}"
        )
    cause = "; ".join(causes)
    if not enabled:
        return RetrainDecision(False, f"retrain switched off (AAITI_MONITOR_RETRAIN): {cause}")
    if last_triggered_at is not None and now - last_triggered_at < cooldown:
        wait = last_triggered_at + cooldown - now
        return RetrainDecision(
            False,
            f"cool-down: last drift-triggered retrain {last_triggered_at:%Y-%m-%d %H:%M} UTC, "
            f"next allowed in {wait.total_seconds() / 3600:.1f} h; {cause}",
        )
    return RetrainDecision(True, f"retrain: {cause}")


@dataclass(frozen=True)
class MonitorResult:
    model_name: str
    version: int | None
    message: str
    drift_run_id: str | None = None
    drift: DriftResult | None = None
    decision: RetrainDecision | None = None
    report_path: str | None = None
    labelled_rows: int = 0
    current_auc: float | None = None
    reference_auc: float | None = None


def _current_window(features: pd.DataFrame, bars: int) -> pd.DataFrame:
    keys = stream_columns(features)
    return features.sort_values([*keys, "ts"]).groupby(keys, group_keys=False).tail(bars)


def _live_quality(
    con: duckdb.DuckDBPyConnection,
    features: pd.DataFrame,
    *,
    name: str,
    version: int,
    timeframe: str,
    cfg: MonitorSettings,
    since: pd.Timestamp,
) -> tuple[int, float | None]:
    """AUC of the champion's written predictions whose labels have matured since ``since``."""
    preds = (
        con.sql(load_sql(_SQL, "champion_predictions"), params=[name, version, timeframe])
        .to_arrow_table()
        .to_pandas()
    )
    if preds.empty:
        return 0, None
    ds = build_dataset(
        features,
        timeframe=timeframe,
        horizon=cfg.horizon,
        dead_zone=cfg.dead_zone,
        streams=sorted(features["symbol"].unique()),
    )
    labels = ds.meta[["symbol", "ts"]].assign(label=ds.y.to_numpy())
    matured = preds.merge(labels, on=["symbol", "ts"]).dropna(subset=["label"])
    matured = matured[matured["ts"] >= since]
    if len(matured) < cfg.min_labelled or matured["label"].nunique() < 2:
        return len(matured), None
    m = classification_metrics(matured["label"].to_numpy(), matured["probability"].to_numpy())
    return len(matured), m.auc


def monitor_champion(
    settings: Settings,
    *,
    timeframe: str | None = None,
    tracker: Tracker | None = None,
    warehouse: Warehouse | None = None,
    now: datetime | None = None,
) -> MonitorResult:
    """One drift run for the champion of a timeframe; everything it found is written."""

    timeframe = timeframe or settings.timeframe
    tracker = tracker or tracker_for(settings)
    warehouse = warehouse or Warehouse.from_settings(settings)
    now = now or datetime.now(UTC)
    name = model_name(timeframe)
    champion = tracker.by_alias(name, CHAMPION)
    if champion is None:
        return MonitorResult(name, None, f"no champion for {name}: nothing to monitor")
    cfg = settings.monitor
    features = load_features(warehouse, timeframe=timeframe, symbols=settings.symbols)
    w = _windows(cfg, tracker.model_inputs(champion), champion.params, features)
    drift = _drift(cfg, tracker.load(name, CHAMPION), w)
    drift_run_id = f"{name}-v{champion.version}-{now:%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:6]}"
    path = settings.data_dir / "reports" / "drift" / f"{drift_run_id}.html"
    drift.save_html(path)
    tracker.log_artifact_file(champion.run_id, path, "drift")
    reference_auc = champion.metrics.get("oos_auc")
    with warehouse.writer(purpose=f"monitor {name}") as con:
        labelled, current_auc = _live_quality(
            con, w.features, name=name, version=champion.version, timeframe=timeframe,
            cfg=cfg, since=w.current["ts"].min(),
        )  # fmt: skip
        decay = (
            reference_auc - current_auc
            if current_auc is not None and reference_auc is not None
            else None
        )
        decision = _decide(con, cfg, name, drift, decay, now)
        quality = (labelled, current_auc, reference_auc, str(path))
        run(con, load_sql(_SQL, "drift_run_insert"),
            [drift_run_id, now, name, champion.version, champion.run_id,
             *_drift_run_row(cfg, w, drift), *quality])  # fmt: skip
        _write_scores(con, drift_run_id, drift)
        run(con, load_sql(_SQL, "retrain_decision_insert"),
            [now, name, drift_run_id, decision.retrain, decision.reason])  # fmt: skip
        if drift.dataset_drift or decision.retrain or (decay is not None and decay > 0):
            _alert_drift(con, (name, champion.version), drift, decision, current_auc,
                         report=path.name, now=now)  # fmt: skip
    message = _summary(cfg, name, champion.version, drift, decision, labelled, current_auc)
    log.info(message)
    return MonitorResult(
        name, champion.version, message, drift_run_id, drift, decision, str(path), labelled,
        current_auc, reference_auc,
    )  # fmt: skip


def _drift_run_row(cfg: MonitorSettings, w: _Windows, drift: DriftResult) -> list[Any]:
    """The drift run's windows, method and findings, as ``monitoring.drift_runs`` holds them."""
    pred = drift.prediction
    return [
        w.reference["ts"].min(), w.reference["ts"].max(), w.current["ts"].min(),
        w.current["ts"].max(), len(w.reference), len(w.current), cfg.drift_method,
        cfg.drift_threshold, drift.drifted_share, drift.dataset_drift,
        pred.score if pred else None, pred.drifted if pred else None,
    ]  # fmt: skip


def _alert_drift(
    con: duckdb.DuckDBPyConnection,
    model: tuple[str, int],  # name, version
    drift: DriftResult,
    decision: RetrainDecision,
    current_auc: float | None,
    *,
    report: str,
    now: datetime,
) -> None:
    raise_alert(
        con,
        source="drift",
        severity="warning",
        dedup_key=f"drift:{model[0]}:v{model[1]}",
        message=(
            f"{model[0]} v{model[1]}: {drift.drifted_share:.0%} of features drifted"
            f"{'' if current_auc is None else f', live AUC {current_auc:.3f}'}; "
            f"{decision.reason} (report {report})"
        ),
        at=now,
    )


@dataclass(frozen=True)
class _Windows:
    features: pd.DataFrame  # the champion's streams, all bars
    reference: pd.DataFrame  # its training window
    current: pd.DataFrame  # the recent bars it is judged on
    streams: list[str]
    used: list[str]  # its input columns


def _windows(
    cfg: MonitorSettings, inputs: ModelInputs, params: dict[str, str], features: pd.DataFrame
) -> _Windows:
    """The champion's training window and the current window of its streams' features."""
    features = features[features["symbol"].isin(inputs.streams)]
    start = pd.Timestamp(params["data_start"])
    end = pd.Timestamp(params["data_end"])
    return _Windows(
        features,
        features[(features["ts"] >= start) & (features["ts"] <= end)],
        _current_window(features, cfg.current_bars),
        inputs.streams,
        inputs.features,
    )


def _drift(cfg: MonitorSettings, booster: Any, w: _Windows) -> DriftResult:
    """Drift of the inputs and of the champion's predictions, reference against current."""
    sides = {}
    for side, frame in (("reference", w.reference), ("current", w.current)):
        X = model_inputs(
            frame.reset_index(drop=True), streams=w.streams, one_hot=one_hot_inputs(w.used)
        )[w.used]
        X[PREDICTION_COLUMN] = np.asarray(booster.inplace_predict(X[w.used]), dtype=float)
        sides[side] = X
    return data_drift(
        sides["reference"],
        sides["current"],
        # the stream's column (or its one-hots) is the mix of streams, not a drift signal
        columns=[c for c in w.used if c != STREAM_COLUMN and not c.startswith("is_")],
        method=cfg.drift_method,
        threshold=cfg.drift_threshold,
        drift_share=cfg.drift_share,
        prediction_column=PREDICTION_COLUMN,
    )


def _decide(
    con: duckdb.DuckDBPyConnection,
    cfg: MonitorSettings,
    name: str,
    drift: DriftResult,
    decay: float | None,
    now: datetime,
) -> RetrainDecision:
    row = fetch_one(con, load_sql(_SQL, "last_triggered_retrain"), [name])
    last = row[0] if row else None
    return decide_retrain(
        drifted_share=drift.drifted_share,
        share_threshold=cfg.drift_share,
        auc_decay=decay,
        max_auc_decay=cfg.max_auc_decay,
        last_triggered_at=last,
        cooldown=timedelta(hours=cfg.retrain_cooldown_hours),
        now=now,
        enabled=cfg.retrain,
    )


def _write_scores(con: duckdb.DuckDBPyConnection, drift_run_id: str, drift: DriftResult) -> None:
    pred = drift.prediction
    rows = [("feature", c) for c in drift.features] + ([("prediction", pred)] if pred else [])
    frame = pd.DataFrame(
        [
            {"drift_run_id": drift_run_id, "kind": kind, "column_name": c.column,
             "method": c.method, "score": c.score, "threshold": c.threshold,
             "drifted": c.drifted}
            for kind, c in rows
        ]
    )  # fmt: skip
    con.register("drift_rows", frame)
    run(con, load_sql(_SQL, "drift_metrics_insert"))
    con.unregister("drift_rows")


def _summary(
    cfg: MonitorSettings,
    name: str,
    version: int,
    drift: DriftResult,
    decision: RetrainDecision,
    labelled: int,
    current_auc: float | None,
) -> str:
    pred = drift.prediction
    return (
        f"{name} v{version}: drifted share {drift.drifted_share:.0%} "
        f"({sum(f.drifted for f in drift.features)}/{len(drift.features)} features, "
        f"{cfg.drift_method} ≥ {cfg.drift_threshold}); "
        + (f"prediction drift {pred.score:.3f}; " if pred else "no prediction drift score; ")
        + (
            f"live AUC {current_auc:.3f} on {labelled} matured predictions"
            if current_auc is not None
            else f"live quality not judged yet ({labelled} matured predictions)"
        )
        + f"; {decision.reason}"
    )


def record_retrain_start(
    settings: Settings, *, drift_run_id: str, via: str, warehouse: Warehouse | None = None
) -> None:
    warehouse = warehouse or Warehouse.from_settings(settings)
    with warehouse.writer(purpose="retrain started") as con:
        run(con, load_sql(_SQL, "retrain_started"), [via, drift_run_id])
