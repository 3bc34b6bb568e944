"""Models: labels, purged walk-forward, XGBoost, evaluation, MLflow tracking and prediction.

The train stage, where the model meets the strategy, is ``aaiti.strategy.training``."""

from aaiti.ml.predict import PredictReport, predict_new
from aaiti.ml.tracking import tracker_for
from aaiti.ml.train import NoTrainingDataError

__all__ = [
    "NoTrainingDataError",
    "PredictReport",
    "predict_new",
    "tracker_for",
]
