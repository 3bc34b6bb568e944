"""Data quality gates: GX suites from expectations/, run per stream on DuckDB batches."""

from aaiti.quality.gate import gate_status, run_gate, run_gates
from aaiti.quality.gx import ExpectationOutcome, GxValidator, SuiteOutcome
from aaiti.quality.verdicts import (
    FEATURES,
    RAW,
    GateResult,
    raw_parameters,
    validator_for,
)

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
