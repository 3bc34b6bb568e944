"""The modelling dataset: features at t, labels from t+h, one pooled frame per timeframe.

Pooled across streams (more data per model): the model for a timeframe sees every gated
stream of it, and the stream is one native categorical input (XGBoost splits on sets of
categories), so 200 streams are one column, not 200 one-hot columns. Price-scaled indicators (MACD, ATR) are
divided by the close so that assets at 400 and 60,000 look alike. Rows whose label is
undefined (dead zone, hole ahead, end of data) are kept in ``meta`` for scoring but never
trained or evaluated on.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np
import pandas as pd

from aaiti.errors import StateError
from aaiti.market.timeframes import timeframe_ms
from aaiti.ml.labels import forward_labels

#: Model inputs, in order (before the stream's column).
BASE_FEATURES: tuple[str, ...] = (
    "ret_1",
    "ret_4",
    "ret_24",
    "log_ret_1",
    "realized_vol_20",
    "rsi_14",
    "macd_rel",
    "macd_signal_rel",
    "macd_hist_rel",
    "bb_pct_b",
    "bb_bandwidth",
    "atr_rel",
    "volume_z_20",
    "dist_sma_50",
    "dist_sma_200",
    "hour_of_day",
    "day_of_week",
)


@dataclass(frozen=True)
class Dataset:
    X: pd.DataFrame  # model inputs, every row
    y: pd.Series  # label (NaN where undefined)
    meta: pd.DataFrame  # exchange, symbol, timeframe, ts, close, forward_log_return, label_end_ts
    feature_names: list[str]

    @property
    def labelled(self) -> np.ndarray:
        return np.flatnonzero(self.y.notna().to_numpy())

    def fingerprint(self) -> str:
        """Hash of the rows a model trains on (inputs and labels), order included."""
        rows = self.labelled
        h = hashlib.sha256()
        h.update(",".join(self.feature_names).encode())
        h.update(pd.util.hash_pandas_object(self.X.iloc[rows], index=False).to_numpy().tobytes())
        h.update(self.y.iloc[rows].to_numpy(float).tobytes())
        h.update(
            pd.util.hash_pandas_object(self.meta.iloc[rows][["symbol", "ts"]], index=False)
            .to_numpy()
            .tobytes()
        )
        return h.hexdigest()


#: The stream's one input column: a pandas categorical whose categories are the training
#: streams in order, so a code means the same stream at training and at scoring (a stream
#: the model never saw is missing, which the trees route like any missing value).
STREAM_COLUMN = "stream"


def one_hot_inputs(columns: list[str]) -> bool:
    """Whether a model's inputs are the earlier one-hot stream columns (``is_<symbol>``):
    models registered before the categorical are still scored with what they learned."""
    return any(c.startswith("is_") for c in columns)


def model_inputs(
    features: pd.DataFrame, *, streams: list[str], one_hot: bool = False
) -> pd.DataFrame:
    """fct_features rows → the model's input columns (``streams``: the stream's categories)."""
    close = features["close"].astype(float)
    x = pd.DataFrame(index=features.index)
    for col in BASE_FEATURES:
        if col.endswith("_rel"):
            source = {
                "macd_rel": "macd",
                "macd_signal_rel": "macd_signal",
                "macd_hist_rel": "macd_hist",
                "atr_rel": "atr_14",
            }[col]
            x[col] = features[source].astype(float) / close
        else:
            x[col] = features[col].astype(float)
    if one_hot:
        for s in streams:
            x[f"is_{s}"] = (features["symbol"] == s).astype(float)
    else:
        x[STREAM_COLUMN] = pd.Categorical(features["symbol"], categories=list(streams))
    return x


#: Columns kept beside the inputs when the features carry them: the strategy evaluation
#: fills at opens within the bar's range and sizes on ATR and volatility.
META_EXTRA = ("open", "high", "low", "volume", "atr_14", "realized_vol_20")


def build_dataset(
    features: pd.DataFrame,
    *,
    timeframe: str,
    horizon: int,
    dead_zone: float,
    streams: list[str],
    label_cost: float | None = None,
) -> Dataset:
    """Labels per stream, then one frame ordered by (ts, symbol) for walk-forward splits."""
    step_s = timeframe_ms(timeframe) // 1000
    parts = []
    for _, group in features.groupby(["exchange", "symbol"], sort=True):
        group = group.sort_values("ts").reset_index(drop=True)
        labels = forward_labels(
            group, horizon=horizon, dead_zone=dead_zone, timeframe_s=step_s, cost=label_cost
        )
        parts.append(pd.concat([group, labels], axis=1))
    if not parts:
        raise StateError(f"no feature rows for timeframe {timeframe} and streams {streams}")
    frame = pd.concat(parts, ignore_index=True).sort_values(["ts", "symbol"], kind="stable")
    frame = frame.reset_index(drop=True)
    X = model_inputs(frame, streams=streams)
    meta = frame[
        ["exchange", "symbol", "timeframe", "ts", "close", "forward_log_return", "label_end_ts"]
        + [c for c in META_EXTRA if c in frame.columns]
    ]
    return Dataset(X, frame["label"], meta, list(X.columns))
