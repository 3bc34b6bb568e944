"""AAITI: Auto AI Trading Interface — a workflow-orchestrated data and ML pipeline for crypto markets."""

__version__ = "0.1.0"
