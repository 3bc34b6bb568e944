"""Labels, purged walk-forward splits, leakage, determinism and the shuffled-label control."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from aaiti.features import compute_features
from aaiti.ml.dataset import build_dataset
from aaiti.ml.labels import forward_labels
from aaiti.ml.model import TrainConfig, make_folds, walk_forward_evaluate
from tests.conftest import sample_frame

STREAMS = ["BTC/USD", "ETH/USD"]


def features_of(candles_by_symbol: dict[str, pd.DataFrame]) -> pd.DataFrame:
    parts = []
    for symbol, candles in candles_by_symbol.items():
        f = compute_features(candles)
        f.insert(0, "timeframe", "4h")
        f.insert(0, "symbol", symbol)
        f.insert(0, "exchange", "coinbase")
        f["close"] = candles["close"].to_numpy()
        parts.append(f)
    return pd.concat(parts, ignore_index=True)


@pytest.fixture(scope="module")
def candles() -> dict[str, pd.DataFrame]:
    out = {}
    for symbol, pair in (("BTC/USD", "BTC-USD"), ("ETH/USD", "ETH-USD")):
        c = sample_frame("coinbase", pair, "4h")
        out[symbol] = c[(c["ts"] >= "2019-01-01") & (c["ts"] < "2023-01-01")].reset_index(drop=True)
    return out


@pytest.fixture(scope="module")
def dataset(candles):
    return build_dataset(
        features_of(candles), timeframe="4h", horizon=1, dead_zone=0.0005, streams=STREAMS
    )


CFG = TrainConfig(fold_period="half", min_train_days=730, num_boost_round=150)  # 2021–2022


def test_labels_follow_the_definition_with_dead_zone_and_holes():
    ts = pd.to_datetime(
        [
            "2020-01-01 00:00",
            "2020-01-01 04:00",
            "2020-01-01 08:00",
            "2020-01-01 16:00",
            "2020-01-01 20:00",
        ],
        utc=True,
    )
    frame = pd.DataFrame({"ts": ts, "close": [100.0, 101.0, 101.02, 99.0, 99.0]})
    out = forward_labels(frame, horizon=1, dead_zone=0.001, timeframe_s=14_400)
    assert out["label"][0] == 1.0  # +1 %: up
    assert np.isnan(out["label"][1])  # +0.02 % is inside the 0.1 % dead zone
    assert np.isnan(out["label"][2])  # a hole follows (12:00 missing): no label across it
    assert np.isnan(out["label"][3])  # unchanged close: dead zone
    assert np.isnan(out["label"][4])  # nothing ahead
    assert out["label_end_ts"][0] == ts[1]


def test_no_training_label_crosses_its_fold_boundary(dataset):
    ends = dataset.meta["label_end_ts"]
    times = dataset.meta["ts"]
    cfg = TrainConfig(fold_period="quarter", min_train_days=730, horizon=3, embargo_bars=4)
    folds = make_folds(dataset, cfg)
    assert len(folds) == 8  # the quarters of 2021 and 2022
    embargo = pd.Timedelta(hours=4 * 4)
    for f in folds:
        assert ends.iloc[f.train].max() < times.iloc[f.validation].min()
        assert ends.iloc[f.validation].max() < f.test_start
        assert times.iloc[f.train].max() < times.iloc[f.validation].min() - embargo
        assert times.iloc[f.validation].max() < f.test_start - embargo
        assert not set(f.train) & set(f.test) and not set(f.validation) & set(f.test)
    tests = np.concatenate([f.test for f in folds])
    assert len(tests) == len(set(tests))  # each labelled row is tested at most once


def test_embargo_must_cover_the_horizon():
    with pytest.raises(ValueError, match=r"embargo_bars .* must be at least the horizon"):
        TrainConfig(horizon=3, embargo_bars=1)


def test_shuffled_labels_give_an_auc_near_one_half(dataset):
    control = walk_forward_evaluate(dataset, CFG, shuffle_labels=True)
    assert abs(control.overall.auc - 0.5) < 0.04, control.overall


def test_same_data_and_config_give_the_same_model(dataset):
    a = walk_forward_evaluate(dataset, CFG)
    b = walk_forward_evaluate(dataset, CFG)
    np.testing.assert_array_equal(a.oos["proba"].to_numpy(), b.oos["proba"].to_numpy())


def test_changing_the_future_never_changes_a_past_prediction(candles, dataset):
    """Prices after t change; every out-of-sample prediction at or before t stays the same."""
    base = walk_forward_evaluate(dataset, CFG)
    t = base.oos["ts"].sort_values().iloc[len(base.oos) // 2]
    changed = {}
    for symbol, c in candles.items():
        c = c.copy()
        after = c["ts"] > t
        c.loc[after, ["open", "high", "low", "close"]] *= np.linspace(0.7, 1.6, after.sum())[
            :, None
        ]
        changed[symbol] = c
    ds2 = build_dataset(
        features_of(changed), timeframe="4h", horizon=1, dead_zone=0.0005, streams=STREAMS
    )
    other = walk_forward_evaluate(ds2, CFG)
    before = base.oos[base.oos["ts"] <= t].sort_values(["ts", "symbol"])
    before2 = other.oos[other.oos["ts"] <= t].sort_values(["ts", "symbol"])
    # the label of the very last bar before t may change (it looks one bar ahead) — so may
    # whether that row is in the dead zone; compare the rows both runs scored
    merged = before.merge(before2, on=["ts", "symbol"], suffixes=("", "_changed"))
    assert len(merged) >= len(before) - 2
    np.testing.assert_array_equal(merged["proba"].to_numpy(), merged["proba_changed"].to_numpy())
    assert not np.array_equal(
        base.oos["proba"].to_numpy()[-100:], other.oos["proba"].to_numpy()[-100:]
    )


def test_the_stream_is_one_native_categorical_column_however_many_streams():
    """Pooled over 200 streams the model has its base inputs plus one stream column (not a
    column per stream), the codes follow the training streams' order, and the trees learn a
    per-stream effect through it."""
    import xgboost as xgb

    from aaiti.ml.dataset import BASE_FEATURES, STREAM_COLUMN, model_inputs
    from aaiti.ml.model import predict

    streams = [f"SYN{i:03d}/USDT" for i in range(200)]
    rng = np.random.default_rng(4)
    n = 4000
    symbol = rng.choice(streams, n)
    frame = pd.DataFrame({c: rng.normal(size=n) for c in BASE_FEATURES}, dtype=float)
    for raw in ("macd", "macd_signal", "macd_hist", "atr_14"):
        frame[raw] = rng.normal(size=n)
    frame["close"], frame["symbol"] = 100.0, symbol
    X = model_inputs(frame, streams=streams)
    assert list(X.columns) == [*BASE_FEATURES, STREAM_COLUMN]
    assert list(X[STREAM_COLUMN].cat.categories) == streams
    # scoring one stream alone keeps its training code
    alone = model_inputs(frame[frame["symbol"] == streams[150]], streams=streams)
    assert set(alone[STREAM_COLUMN].cat.codes) == {150}
    # a label that is the stream's parity (half the streams up, half down) and noise elsewhere
    y = np.array([int(s[3:6]) % 2 for s in symbol], dtype=float)
    booster = xgb.train(
        {"objective": "binary:logistic", "tree_method": "hist", "nthread": 1},
        xgb.DMatrix(X, label=y, enable_categorical=True),
        30,
    )
    p = predict(booster, X)
    assert p[y == 1].min() > 0.9 and p[y == 0].max() < 0.1
    unseen = model_inputs(frame.assign(symbol="NEW/USDT").head(3), streams=streams)
    assert unseen[STREAM_COLUMN].isna().all()  # a stream the model never saw: missing


def test_models_trained_on_one_hot_streams_are_still_scored_with_their_columns():
    from aaiti.ml.dataset import BASE_FEATURES, model_inputs, one_hot_inputs

    frame = pd.DataFrame({c: [0.1, 0.2] for c in BASE_FEATURES})
    for raw in ("macd", "macd_signal", "macd_hist", "atr_14"):
        frame[raw] = 1.0
    frame["close"], frame["symbol"] = 100.0, ["BTC/USD", "ETH/USD"]
    used = [*BASE_FEATURES, "is_BTC/USD", "is_ETH/USD"]
    assert one_hot_inputs(used) and not one_hot_inputs([*BASE_FEATURES, "stream"])
    X = model_inputs(frame, streams=["BTC/USD", "ETH/USD"], one_hot=True)[used]
    assert X["is_BTC/USD"].tolist() == [1.0, 0.0] and X["is_ETH/USD"].tolist() == [0.0, 1.0]


def _oos_until(candles, end: str, cfg: TrainConfig) -> pd.DataFrame:
    window = {s: c[c["ts"] < end].reset_index(drop=True) for s, c in candles.items()}
    ds = build_dataset(
        features_of(window), timeframe="4h", horizon=1, dead_zone=0.0005, streams=STREAMS
    )
    wf = walk_forward_evaluate(ds, cfg, folds=make_folds(ds, cfg))
    return wf.oos.assign(symbol=wf.oos["symbol"].astype(str))[["ts", "symbol", "fold", "proba"]]


def test_new_bars_leave_every_earlier_out_of_sample_prediction_identical(candles):
    """Calendar-anchored blocks: 4 new bars extend the open block, 200 open the next one;
    every prediction made before them is the same, bit for bit, and so are its folds."""
    base = _oos_until(candles, "2022-06-20", CFG)
    for extra in (4, 200):
        end = str(pd.Timestamp("2022-06-20", tz="UTC") + pd.Timedelta(hours=4 * extra))
        more = _oos_until(candles, end, CFG)
        merged = base.merge(more, on=["ts", "symbol"], suffixes=("", "_more"))
        assert len(merged) == len(base)
        np.testing.assert_array_equal(merged["proba"].to_numpy(), merged["proba_more"].to_numpy())
        np.testing.assert_array_equal(merged["fold"].to_numpy(), merged["fold_more"].to_numpy())
        assert len(more) > len(base)
    assert more["fold"].max() == base["fold"].max() + 1  # 200 bars opened 2022's second half


def test_the_same_data_gives_the_same_predictions_in_a_fresh_process(candles):
    import hashlib
    import subprocess
    import sys

    here = _oos_until(candles, "2021-09-01", CFG)
    code = (
        "import hashlib; from tests.test_ml_core import _oos_until, CFG, sample_frame;"
        "c = {s: (f := sample_frame('coinbase', p, '4h'))[f['ts'] >= '2019-01-01']"
        ".reset_index(drop=True) for s, p in (('BTC/USD', 'BTC-USD'), ('ETH/USD', 'ETH-USD'))};"
        "print(hashlib.sha256(_oos_until(c, '2021-09-01', CFG)['proba'].to_numpy().tobytes())"
        ".hexdigest())"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=300
    )
    assert out.stdout.strip() == hashlib.sha256(here["proba"].to_numpy().tobytes()).hexdigest()


def test_blocks_follow_the_calendar_or_a_fixed_grid_and_a_bad_period_is_refused():
    from aaiti.ml.splits import block_starts, period_of

    utc = lambda text: pd.Timestamp(text, tz="UTC")  # noqa: E731
    q = block_starts(utc("2021-02-10"), utc("2021-12-31"), period="quarter")
    assert list(q.strftime("%Y-%m-%d")) == ["2021-04-01", "2021-07-01", "2021-10-01"]
    assert list(block_starts(utc("2021-07-01"), utc("2022-01-01"), period="half")) == [
        utc("2021-07-01"), utc("2022-01-01"),
    ]  # fmt: skip
    h = block_starts(utc("1999-12-31 05:00"), utc("2000-01-01 00:00"), period="6h")
    assert list(h.strftime("%H:%M")) == ["06:00", "12:00", "18:00", "00:00"]
    with pytest.raises(ValueError, match="fold period 'weekly': use month, quarter"):
        period_of("weekly")
