"""Monitoring on a warehouse and a champion built by the real pipeline: drift runs, the
report in MLflow, the retrain trigger through the monitor flow, its cool-down, alerts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import pytest

from aaiti.config import load_settings
from aaiti.ml import predict_new
from aaiti.monitoring.monitor import decide_retrain, monitor_champion
from aaiti.strategy.training import train_and_register
from tests.conftest import SAMPLE_DIR
from tests.test_ml_registry import FOLDS, cycle

pytestmark = pytest.mark.integration


def q(settings, sql, params=None):
    con = duckdb.connect(str(settings.warehouse_path), read_only=True)
    try:
        return con.sql(sql, params=params).fetchall()
    finally:
        con.close()


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    settings = load_settings(
        data_dir=tmp_path_factory.mktemp("monitor") / "data", sample_dir=SAMPLE_DIR, **FOLDS
    )
    cycle(settings)
    train_and_register(settings)
    for _ in range(3):
        cycle(settings)
        predict_new(settings)
    return settings


def test_a_drift_run_records_scores_report_and_decision(env):
    from aaiti.ml.tracking import tracker_for

    result = monitor_champion(env)
    assert result.version == 1 and result.drift is not None
    (share, rows_ref, rows_cur, n_metrics, decision, path) = q(
        env,
        """SELECT r.drifted_share, r.reference_rows, r.current_rows,
                  (SELECT count(*) FROM monitoring.drift_metrics m
                    WHERE m.drift_run_id = r.drift_run_id),
                  (SELECT reason FROM monitoring.retrain_decisions d
                    WHERE d.drift_run_id = r.drift_run_id),
                  r.report_path
           FROM monitoring.drift_runs r WHERE r.drift_run_id = $1""",
        [result.drift_run_id],
    )[0]
    assert share == pytest.approx(result.drift.drifted_share)
    assert rows_cur == 2 * env.monitor_current_bars and rows_ref > 10 * rows_cur
    assert n_metrics == len(result.drift.features) + 1  # + the predicted probability
    assert decision == result.decision.reason
    html = Path(path).read_text(encoding="utf-8")
    assert len(html) > 100_000 and "realized_vol_20" in html and "probability" in html
    tracker = tracker_for(env)
    logged = [a.path for a in tracker.client.list_artifacts(result_run_id(env), "drift")]
    assert f"drift/{result.drift_run_id}.html" in logged
    assert not result.decision.retrain  # the current window is the champion's own regime


def result_run_id(env) -> str:
    return q(env, "SELECT mlflow_run_id FROM monitoring.drift_runs LIMIT 1")[0][0]


def test_retrain_decision_rules():
    now = datetime(2025, 1, 2, tzinfo=UTC)
    common = {"share_threshold": 0.5, "max_auc_decay": 0.05, "cooldown": timedelta(hours=24)}
    calm = decide_retrain(
        drifted_share=0.2, auc_decay=None, last_triggered_at=None, now=now, **common
    )
    assert not calm.retrain and "quality not yet judged" in calm.reason
    drift = decide_retrain(
        drifted_share=0.6, auc_decay=0.01, last_triggered_at=None, now=now, **common
    )
    assert drift.retrain and "60% of features drifted" in drift.reason
    decay = decide_retrain(
        drifted_share=0.1, auc_decay=0.08, last_triggered_at=None, now=now, **common
    )
    assert decay.retrain and "AUC" in decay.reason
    cooling = decide_retrain(
        drifted_share=0.9,
        auc_decay=None,
        last_triggered_at=now - timedelta(hours=3),
        now=now,
        **common,
    )
    assert not cooling.retrain and "next allowed in 21.0 h" in cooling.reason
    off = decide_retrain(
        drifted_share=0.9, auc_decay=None, last_triggered_at=None, now=now, enabled=False, **common
    )
    assert not off.retrain and "switched off" in off.reason


@pytest.fixture(scope="module")
def prefect_server():
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield


def test_drift_starts_training_once_then_cools_down(env, prefect_server, monkeypatch):
    from aaiti.ml.tracking import tracker_for
    from flows.monitor import monitor_flow

    monkeypatch.setenv("AAITI_DATA_DIR", str(env.data_dir))
    monkeypatch.setenv("AAITI_SAMPLE_DIR", str(env.sample_dir))
    monkeypatch.setenv("AAITI_MODEL_FOLD_PERIOD", "year")
    monkeypatch.setenv("AAITI_MODEL_MIN_TRAIN_DAYS", "400")
    monkeypatch.setenv("AAITI_MONITOR_DRIFT_THRESHOLD", "0.0001")  # every feature "drifts"
    first = monitor_flow()
    assert first["retrain"] and first["started_via"] == "subflow"  # no train deployment served
    assert len(tracker_for(env).versions("aaiti-4h")) == 2  # the subflow trained v2
    second = monitor_flow()
    assert not second["retrain"]
    reasons = q(
        env,
        "SELECT retrain, started_via, reason FROM monitoring.retrain_decisions ORDER BY decided_at",
    )
    assert reasons[-2][:2] == (True, "subflow")
    assert reasons[-1][0] is False and reasons[-1][2].startswith("cool-down")
    sent = q(env, "SELECT channel, status FROM monitoring.alerts WHERE source = 'drift'")
    assert ("log", "sent") in sent


def test_a_failed_flow_raises_a_critical_alert(env, prefect_server, monkeypatch):
    from prefect import flow

    from flows.common import alert_on_failure

    monkeypatch.setenv("AAITI_DATA_DIR", str(env.data_dir))

    @flow(name="doomed", on_failure=[alert_on_failure])
    def doomed():
        raise RuntimeError("the disk is on fire")

    state = doomed(return_state=True)
    assert state.is_failed()
    rows = q(
        env,
        "SELECT severity, channel, status, message FROM monitoring.alerts WHERE source = 'flow'",
    )
    assert rows and rows[0][:3] == ("critical", "log", "sent")
    assert "doomed" in rows[0][3] and "the disk is on fire" in rows[0][3]
