"""Data quality gates: GX suites from expectations/, run per stream on DuckDB batches."""

from aaiti.quality.gate import (
    FEATURES,
    RAW,
    GateResult,
    gate_status,
    raw_parameters,
    run_gate,
    run_gates,
    validator_for,
)
from aaiti.quality.gx import ExpectationOutcome, GxValidator, SuiteOutcome

__all__ = [
    "FEATURES",
    "RAW",
    "ExpectationOutcome",
    "GateResult",
    "GxValidator",
    "SuiteOutcome",
    "gate_status",
    "raw_parameters",
    "run_gate",
    "run_gates",
    "validator_for",
]
