"""Real MLflow (SQLite + local artifacts): tracking, registry, promotion rule, predictions."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import duckdb
import pandas as pd
import pytest

from aaiti.config import load_settings
from aaiti.ml import predict_new, tracker_for
from aaiti.ml.tracking import CHALLENGER, CHAMPION
from aaiti.strategy.training import train_and_register
from tests.conftest import SAMPLE_DIR
from tests.support.planted import replay_cycle

pytestmark = pytest.mark.integration
START = datetime(2021, 1, 1, tzinfo=UTC)
#: three yearly test blocks (2018, 2019, 2020) after 2016-05's first bar; replayed bars open 2021's
FOLDS = {"model_fold_period": "year", "model_min_train_days": 400}


def cycle(settings, bars: int = 1) -> None:
    replay_cycle(settings, start=START, bars=bars)


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    settings = load_settings(
        data_dir=tmp_path_factory.mktemp("ml") / "data", sample_dir=SAMPLE_DIR, **FOLDS
    )
    cycle(settings)
    return settings


def test_no_champion_means_a_clear_message_and_no_predictions(env):
    report = predict_new(env)
    assert report.version is None and report.written == 0
    assert "no champion for aaiti-4h" in report.message and "trading stays flat" in report.message


def test_the_training_window_keeps_each_streams_newest_bars(env):
    """AAITI_MODEL_TRAIN_BARS: training's window on a long history (the full-build target)."""
    from aaiti.ml.features import load_features
    from aaiti.warehouse import Warehouse

    wh = Warehouse.from_settings(env)
    every = load_features(wh, timeframe="4h", symbols=env.symbols)
    kept = load_features(wh, timeframe="4h", symbols=env.symbols, last_bars=300)
    assert kept["symbol"].value_counts().to_dict() == {"BTC/USD": 300, "ETH/USD": 300}
    for symbol, rows in every.groupby("symbol"):
        newest = rows.sort_values("ts").tail(300).reset_index(drop=True)
        mine = kept[kept["symbol"] == symbol].reset_index(drop=True)
        pd.testing.assert_frame_equal(newest, mine, check_dtype=False)  # NULL gaps: float
    assert len(every) > len(kept)


def test_train_track_register_promote_predict_rollback(env):
    tracker = tracker_for(env)
    first = train_and_register(env)
    assert first.promoted and first.version == 1 and "first model" in first.decision
    assert 0.45 < first.oos["auc"] < 0.65
    assert abs(first.baselines["shuffled_label_control"]["auc"] - 0.5) < 0.05

    v1 = tracker.by_alias("aaiti-4h", CHAMPION)
    assert v1.version == 1 and CHALLENGER in v1.aliases
    # everything a run must carry
    inputs = tracker.model_inputs(v1)
    assert inputs.streams == ["BTC/USD", "ETH/USD"] and "rsi_14" in inputs.features
    assert v1.params["n_streams"] == "2" and v1.params["n_features"] == str(len(inputs.features))
    assert v1.params["data_end"].startswith("2020-12-31")
    assert len(v1.tags["training_rows_sha256"]) == 64 and len(v1.tags["dbt_manifest_sha256"]) == 64
    assert v1.tags["git_commit"]
    for key in (
        "oos_auc",
        "oos_log_loss",
        "oos_brier",
        "oos_accuracy",
        "oos_precision",
        "oos_recall",
        "baseline_momentum_auc",
        "control_shuffled_auc",
        "longflat_coinbase_BTC_USD_sharpe",
    ):
        assert key in v1.metrics, key
    history = tracker.client.get_metric_history(v1.run_id, "fold_auc")
    assert [m.step for m in history] == [0, 1, 2]
    artifacts = {a.path for a in tracker.client.list_artifacts(v1.run_id)}
    assert {
        "config.json",
        "features.json",
        "folds.json",
        "calibration.json",
        "baselines.json",
        "feature_importance.png",
        "fingerprint.json",
    } <= artifacts
    model = tracker.mlflow.models.get_model_info(f"models:/aaiti-4h@{CHAMPION}")
    assert model.signature is not None  # 17 inputs and the stream, one categorical column
    assert model.signature.inputs.input_names()[-1] == "stream"
    assert len(model.signature.inputs.input_names()) == 18

    # the last history bar had no label at training time: it is the first out-of-sample row
    first_pred = predict_new(env)
    assert first_pred.written == 2 and first_pred.version == 1
    cycle(env)  # one more bar closes
    assert predict_new(env).written == 2
    assert predict_new(env).written == 0  # idempotent per bar and version
    con = duckdb.connect(str(env.warehouse_path), read_only=True)
    rows = con.sql(
        "SELECT model_version, run_id, probability, signal FROM ml.predictions"
    ).fetchall()
    con.close()
    assert len(rows) == 4 and {r[0] for r in rows} == {1} and {r[1] for r in rows} == {v1.run_id}
    assert all(0 <= r[2] <= 1 and r[3] == int(r[2] > 0.5) for r in rows)

    # on this window the strategy does not survive its deflated Sharpe: the challenger of
    # the same configuration is no refresh, and the champion's strategy stands aside
    second = train_and_register(env)
    assert not second.promoted and "kept champion v1" in second.decision
    assert "does not qualify" in second.decision and not second.qualified
    assert tracker.by_alias("aaiti-4h", CHAMPION).version == 1
    assert tracker.by_alias("aaiti-4h", CHALLENGER).version == 2

    # a margin that anything beats still promotes nothing that does not qualify
    third = train_and_register(env.model_copy(update={"strategy_promotion_margin": -1.0}))
    assert not third.promoted and tracker.by_alias("aaiti-4h", CHAMPION).version == 1
    # an operator's promotion (aaiti model promote); rollback returns to the previous one
    tracker.promote("aaiti-4h", third.version, reason="operator")
    assert tracker.by_alias("aaiti-4h", CHAMPION).version == 3
    assert tracker.history("aaiti-4h") == [1, 3]
    assert tracker.rollback("aaiti-4h") == 1
    assert tracker.by_alias("aaiti-4h", CHAMPION).version == 1
    with pytest.raises(ValueError, match="no earlier champion"):
        tracker.rollback("aaiti-4h")

    # by hand, as `aaiti model promote/rollback` do: audited, and the strategy re-pinned to
    # a version nobody judged stands aside (fails closed) until the next training
    from aaiti.strategy.operator import promote_by_hand, rollback_by_hand
    from aaiti.strategy.store import load_state

    change = promote_by_hand(env, tracker, version=2, actor="ops", reason="drill")
    assert (change.before, change.after) == (1, 2)
    back = rollback_by_hand(env, tracker, actor="ops", reason="undo the drill")
    assert (back.before, back.after) == (2, 1)
    con = duckdb.connect(str(env.warehouse_path), read_only=True)
    try:
        audit = con.sql("SELECT actor, action, detail FROM audit.log ORDER BY logged_at").fetchall()
        state = load_state(con, name=env.trading_strategy, timeframe="4h")
    finally:
        con.close()
    assert [(a, b) for a, b, _ in audit[-2:]] == [
        ("ops", "model promote"),
        ("ops", "model rollback"),
    ]
    assert "v1 → v2" in audit[-2][2] and "drill" in audit[-2][2] and "v2 → v1" in audit[-1][2]
    assert state.spec.model_version == 1 and not state.qualified and "stands aside" in state.reason


def test_the_inputs_of_a_200_stream_model_are_never_cut(tmp_path):
    """A universe's stream and input lists go to an artifact whole; a param MLflow would
    cut is an error, never a silent truncation."""
    import numpy as np
    import pandas as pd
    import xgboost as xgb

    from aaiti.ml.tracking import INPUTS_ARTIFACT, Tracker, checked_params

    tracker = Tracker(
        tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}", artifact_root=tmp_path / "artifacts"
    )
    streams = [f"SYN{i:03d}/USDT" for i in range(200)]
    features = ["ret_1", "stream"]  # the stream is one categorical input, not 200 columns
    X = pd.DataFrame({
        "ret_1": np.random.default_rng(0).normal(size=50),
        "stream": pd.Categorical([streams[i % 200] for i in range(50)], categories=streams),
    })  # fmt: skip
    booster = xgb.train(
        {"nthread": 1}, xgb.DMatrix(X, label=np.arange(50) % 2, enable_categorical=True), 2
    )
    v = tracker.log_training(
        name="aaiti-1m", booster=booster, params={"n_streams": 200}, metrics={},
        fold_metrics=[], tags={}, figures={}, input_example=X.head(2),
        artifacts={INPUTS_ARTIFACT: {"streams": streams, "features": features}},
    )  # fmt: skip
    got = tracker.model_inputs(v)
    assert got.streams == streams and got.features == features
    loaded = tracker.load("aaiti-1m", str(v.version))  # the categorical splits survive
    np.testing.assert_allclose(loaded.inplace_predict(X), booster.inplace_predict(X))
    assert len(json.dumps(streams)) > 500  # what the old 500-character params cut
    with pytest.raises(ValueError, match="would be cut"):
        checked_params({"streams": json.dumps(streams * 10)})
