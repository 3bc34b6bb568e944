"""Execution: the strategy's one decision core, the session that steps it bar by bar, the
paper broker and the cost model. ``aaiti.strategy`` (evaluation, verdicts, promotion) and
``aaiti.trading`` (the cycle) both use it; it imports neither."""

from aaiti.execution.core import Decision, StreamState, decide, params_of
from aaiti.execution.spec import EdgeModel, StrategySpec, fit_edge_model, spec_from_settings

__all__ = [
    "Decision",
    "EdgeModel",
    "StrategySpec",
    "StreamState",
    "decide",
    "fit_edge_model",
    "params_of",
    "spec_from_settings",
]
