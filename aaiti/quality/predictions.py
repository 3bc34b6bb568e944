"""The predictions checkpoint: probabilities in [0, 1], one per stream bar and model
version, none for a blocked stream — checked before anything is written."""

from __future__ import annotations

import pandas as pd

from aaiti.errors import StateError
from aaiti.quality.checks import prediction_batch
from aaiti.quality.gx import GxValidator, SuiteOutcome

SUITE = "predictions"


class PredictionsRejectedError(StateError, ValueError):
    """The predictions checkpoint failed: nothing was written."""


def check_predictions(
    validator: GxValidator, frame: pd.DataFrame, *, blocked: set[tuple[str, str]]
) -> SuiteOutcome:
    """Validate a batch of predictions; raise, naming the failures, if any is critical."""
    outcome = validator.validate(
        SUITE, prediction_batch(frame, blocked=blocked), parameters={}, batch_label="predictions"
    )
    if not outcome.passed:
        failures = "; ".join(
            f"{o.description}: {o.unexpected_count or 0} row(s)"
            + (f", e.g. {o.unexpected_ts[0]}" if o.unexpected_ts else "")
            for o in outcome.critical_failures
        )
        raise PredictionsRejectedError(
            f"predictions checkpoint failed, nothing written: {failures}"
        )
    return outcome
