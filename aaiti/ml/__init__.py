"""Models: labels, purged walk-forward, XGBoost, evaluation, MLflow tracking and prediction."""

from aaiti.ml.predict import PredictReport, predict_new
from aaiti.ml.tracking import tracker_for
from aaiti.ml.train import NoTrainingDataError, TrainingReport, train_and_register

__all__ = [
    "NoTrainingDataError",
    "PredictReport",
    "TrainingReport",
    "predict_new",
    "tracker_for",
    "train_and_register",
]
