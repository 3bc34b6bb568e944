"""The predictions checkpoint, with the real GX suite: every failure kind names its rows."""

from __future__ import annotations

import pandas as pd
import pytest

from aaiti.quality.gate import validator_for
from aaiti.quality.predictions import PredictionsRejectedError, check_predictions


def batch() -> pd.DataFrame:
    ts = pd.date_range("2025-01-01", periods=3, freq="4h", tz="UTC")
    rows = [
        {"exchange": "coinbase", "symbol": s, "timeframe": "4h", "ts": t, "model_name": "aaiti-4h",
         "model_version": 2, "run_id": "r", "probability": 0.55}
        for s in ("BTC/USD", "ETH/USD") for t in ts
    ]  # fmt: skip
    return pd.DataFrame(rows)


@pytest.fixture(scope="module")
def validator(tmp_path_factory):
    from aaiti.config import load_settings

    settings = load_settings(data_dir=tmp_path_factory.mktemp("gx") / "data")
    return validator_for(settings, docs=False)


def test_a_clean_batch_of_two_streams_passes(validator):
    assert check_predictions(validator, batch(), blocked=set()).passed


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            lambda f: f.assign(probability=[0.5, 1.3, 0.5, 0.5, 0.5, 0.5]),
            "probability in \\[0, 1\\]: 1 row",
        ),
        (
            lambda f: f.assign(probability=[0.5, None, 0.5, 0.5, 0.5, 0.5]),
            "probability is present: 1 row",
        ),
        (
            lambda f: pd.concat([f, f.iloc[[1]]], ignore_index=True),
            "one prediction per stream bar and model version: 2 row",
        ),
        (lambda f: f.assign(run_id=[None, "r", "r", "r", "r", "r"]), "run_id is present: 1 row"),
    ],
)
def test_each_failure_refuses_the_whole_batch_and_names_the_bar(validator, change, message):
    with pytest.raises(PredictionsRejectedError, match=message) as err:
        check_predictions(validator, change(batch()), blocked=set())
    assert "nothing written" in str(err.value) and "e.g. 2025-01-01" in str(err.value)


def test_a_prediction_for_a_blocked_stream_is_refused(validator):
    with pytest.raises(PredictionsRejectedError, match="blocks"):
        check_predictions(validator, batch(), blocked={("coinbase", "ETH/USD")})
