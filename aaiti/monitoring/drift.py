"""Data and prediction drift through Evidently — the only module that imports it (lazily).

One Evidently report per check: its data-drift preset over the model's features, and a
value-drift metric on the predicted probability. The per-column scores, the test used and the
drifted share come from Evidently's own results; the per-column verdicts are derived from the
test's direction and checked against Evidently's own drifted-column count, so the two can
never silently disagree. BLAS is limited to one thread around Evidently (on 2 cores it is
~3× slower otherwise: shared/STACK.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

#: Evidently's tests whose score is a distance (drift when score >= threshold); the others
#: return p-values (drift when p < threshold).
DISTANCE_METHODS = frozenset(
    {"wasserstein", "psi", "jensenshannon", "kl_div", "hellinger", "ed", "empirical_mmd"}
)

PREDICTION_COLUMN = "probability"


@dataclass(frozen=True)
class ColumnDrift:
    column: str
    method: str
    score: float
    threshold: float
    drifted: bool


@dataclass(frozen=True)
class DriftResult:
    features: list[ColumnDrift]
    prediction: ColumnDrift | None
    drifted_share: float  # of the features
    dataset_drift: bool
    snapshot: Any  # Evidently's snapshot, for the HTML page

    def save_html(self, path: Path) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.snapshot.save_html(str(path))
        return path


class DriftCheckError(RuntimeError):
    """Evidently's results could not be read consistently: no verdict rather than a wrong one."""


def is_drifted(method: str, score: float, threshold: float) -> bool:
    return score >= threshold if method in DISTANCE_METHODS else score < threshold


def data_drift(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    *,
    columns: list[str],
    method: str,
    threshold: float,
    drift_share: float,
    prediction_column: str | None = None,
) -> DriftResult:
    """Evidently's drift of ``columns`` (and of ``prediction_column``) from reference to current."""
    from evidently import Report
    from evidently.metrics import ValueDrift
    from evidently.presets import DataDriftPreset
    from threadpoolctl import threadpool_limits

    if reference.empty or current.empty:
        raise DriftCheckError(
            f"drift needs rows on both sides: reference {len(reference)}, current {len(current)}"
        )
    metrics: list[Any] = [
        DataDriftPreset(
            columns=columns,
            num_method=method,
            num_threshold=threshold,
            drift_share=drift_share,
            include_tests=False,
        )
    ]
    keep = list(columns)
    if prediction_column:
        metrics.append(ValueDrift(column=prediction_column, method=method, threshold=threshold))
        keep.append(prediction_column)
    with threadpool_limits(limits=1):
        snapshot = Report(metrics).run(current_data=current[keep], reference_data=reference[keep])
    return _read(snapshot, columns, method, threshold, drift_share, prediction_column)


def _read(
    snapshot: Any,
    columns: list[str],
    method: str,
    threshold: float,
    drift_share: float,
    prediction_column: str | None,
) -> DriftResult:
    results = snapshot.dict()["metrics"]
    counts = [m for m in results if m["config"]["type"].endswith("DriftedColumnsCount")]
    values = {
        m["config"]["column"]: float(m["value"])
        for m in results
        if m["config"]["type"].endswith("ValueDrift")
    }
    missing = [
        c
        for c in [*columns, *([prediction_column] if prediction_column else [])]
        if c not in values
    ]
    if len(counts) != 1 or missing:
        raise DriftCheckError(
            f"Evidently's report lacks expected results (drift count {len(counts)}, "
            f"columns without a score: {missing})"
        )
    features = [
        ColumnDrift(c, method, values[c], threshold, is_drifted(method, values[c], threshold))
        for c in columns
    ]
    count, share = counts[0]["value"]["count"], float(counts[0]["value"]["share"])
    if int(count) != sum(f.drifted for f in features):
        raise DriftCheckError(
            f"Evidently counts {int(count)} drifted columns but its scores give "
            f"{sum(f.drifted for f in features)} with {method} at {threshold}"
        )
    prediction = None
    if prediction_column:
        score = values[prediction_column]
        prediction = ColumnDrift(
            prediction_column, method, score, threshold, is_drifted(method, score, threshold)
        )
    return DriftResult(features, prediction, share, share >= drift_share, snapshot)
