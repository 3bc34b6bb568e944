"""The strategy: one versioned object, one pure decision core, evaluation net of costs."""

from aaiti.strategy.core import Decision, StreamState, decide, params_of
from aaiti.strategy.spec import EdgeModel, StrategySpec, fit_edge_model, spec_from_settings

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
