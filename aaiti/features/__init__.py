"""Technical features: pure numpy computations, full or continued from a stored state."""

from aaiti.features.compute import (
    FEATURE_COLUMNS,
    LOOKBACK_BARS,
    MIN_BARS_FOR_INCREMENTAL,
    STATE_COLUMNS,
    RecursiveState,
    compute_feature_arrays,
    compute_features,
)

__all__ = [
    "FEATURE_COLUMNS",
    "LOOKBACK_BARS",
    "MIN_BARS_FOR_INCREMENTAL",
    "STATE_COLUMNS",
    "RecursiveState",
    "compute_feature_arrays",
    "compute_features",
]
