"""Transformations: the dbt project in models_dbt/, run in-process."""

from aaiti.transform.dbt import DbtError, NodeResult, TransformReport, build, generate_docs, run_dbt

__all__ = ["DbtError", "NodeResult", "TransformReport", "build", "generate_docs", "run_dbt"]
