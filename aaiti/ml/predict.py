"""Score the newest feature rows with the champion and write ``ml.predictions``.

Only rows after the champion's training data are scored: an in-sample "prediction" would
look far better than the model is, and trading on it would be fake. Each row is scored
once per model version (the primary key makes a rerun change nothing). With no champion
there is a clear message and no predictions — trading then stays flat.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd

from aaiti.config import Settings
from aaiti.ml.dataset import model_inputs, one_hot_inputs
from aaiti.ml.tracking import CHAMPION, ModelInputs, Tracker, VersionInfo, model_name, tracker_for
from aaiti.quality.gx import GxValidator
from aaiti.quality.predictions import check_predictions
from aaiti.quality.verdicts import validator_for
from aaiti.warehouse import Warehouse
from aaiti.warehouse.sql import load_sql, run

log = logging.getLogger(__name__)


#: Boosters and inputs of the versions scored in this process, by run: a registered
#: version never changes, and fetching both from MLflow took ~0.7 s of each bar's predict.
_LOADED: dict[tuple[str, int, str], tuple[Any, ModelInputs]] = {}


def _champion_parts(tracker: Tracker, champion: VersionInfo) -> tuple[Any, ModelInputs]:
    key = (champion.name, champion.version, champion.run_id)
    if key not in _LOADED:
        if len(_LOADED) >= 4:  # a warm process sees few champions; keep the newest
            _LOADED.pop(next(iter(_LOADED)))
        booster = tracker.load(champion.name, str(champion.version))
        _LOADED[key] = booster, tracker.model_inputs(champion)
    return _LOADED[key]


@dataclass(frozen=True)
class PredictReport:
    model_name: str
    version: int | None
    written: int
    message: str


def predict_new(
    settings: Settings,
    *,
    timeframe: str | None = None,
    tracker: Tracker | None = None,
    warehouse: Warehouse | None = None,
    validator: GxValidator | None = None,
) -> PredictReport:

    timeframe = timeframe or settings.timeframe
    tracker = tracker or tracker_for(settings)
    warehouse = warehouse or Warehouse.from_settings(settings)
    name = model_name(timeframe)
    champion = tracker.by_alias(name, CHAMPION)
    if champion is None:
        message = (
            f"no champion for {name}: train a model first (`aaiti train`); "
            "no predictions written, so trading stays flat"
        )
        log.warning(message)
        return PredictReport(name, None, 0, message)
    booster, inputs = _champion_parts(tracker, champion)
    streams = inputs.streams
    data_end = pd.Timestamp(champion.params["data_end"])
    symbols = [s for s in settings.symbols if s in streams]
    with warehouse.writer(purpose=f"predict {name}") as con:
        frame = (
            con.sql(
                load_sql("aaiti.ml", "features_after"),
                params=[timeframe, symbols, data_end.to_pydatetime(), name, champion.version],
            )
            .to_arrow_table()
            .to_pandas()
        )
        if frame.empty:
            message = f"{name} v{champion.version}: nothing new to score after {data_end}"
            return PredictReport(name, champion.version, 0, message)
        out = _scored(frame, booster, inputs, champion, at=datetime.now(UTC))
        check_predictions(
            validator or validator_for(settings, docs=False),
            out,
            blocked={
                (e, sym)
                for e, sym in con.execute(
                    load_sql("aaiti.ml", "blocked_streams"), [timeframe]
                ).fetchall()
            },
        )
        con.register("new_predictions", out)
        run(con, load_sql("aaiti.ml", "insert_predictions"))
        con.unregister("new_predictions")
    message = f"{name} v{champion.version}: {len(out)} prediction(s), {out['ts'].min()} → {out['ts'].max()}"
    log.info(message)
    return PredictReport(name, champion.version, len(out), message)


def _scored(
    frame: pd.DataFrame, booster: Any, inputs: ModelInputs, champion: VersionInfo, *, at: datetime
) -> pd.DataFrame:
    """The champion's probability for each new feature row, as ``ml.predictions`` rows."""
    used = inputs.features
    X = model_inputs(frame, streams=inputs.streams, one_hot=one_hot_inputs(used))[used]
    proba = np.asarray(booster.inplace_predict(X), dtype=float)
    return pd.DataFrame(
        {
            "exchange": frame["exchange"], "symbol": frame["symbol"],
            "timeframe": frame["timeframe"], "ts": frame["ts"], "model_name": champion.name,
            "model_version": champion.version, "run_id": champion.run_id,
            "probability": proba, "signal": (proba > 0.5).astype(int), "predicted_at": at,
        }
    )  # fmt: skip
