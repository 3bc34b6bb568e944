"""The library never imports orchestration: no module under aaiti/ imports flows."""

from __future__ import annotations

import ast
from pathlib import Path

LIBRARY = Path(__file__).resolve().parents[1] / "aaiti"


def test_no_library_module_imports_flows():
    offenders = []
    for path in LIBRARY.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            offenders += [f"{path.relative_to(LIBRARY.parent)}: {n}" for n in names
                          if n == "flows" or n.startswith("flows.")]  # fmt: skip
    assert offenders == []


STAGES = ["market/ingest.py", "quality/gate.py", "features", "ml/train.py", "ml/features.py",
          "monitoring/monitor.py", "monitoring/alerts.py", "risk", "trading/engine.py",
          "trading/stale.py", "trading/backtest.py"]  # fmt: skip


def test_inside_a_stage_no_function_takes_the_whole_settings():
    """Settings are read once at the edge: a stage's entry point (what the CLI and the
    flows call) may take ``Settings``; everything it calls takes its section."""
    offenders = []
    for stage in STAGES:
        root = LIBRARY / stage
        for path in [root] if root.is_file() else sorted(root.rglob("*.py")):
            tree = ast.parse(path.read_text(), filename=str(path))
            for node in ast.walk(tree):
                if not isinstance(node, ast.FunctionDef) or not node.name.startswith("_"):
                    continue
                args = node.args.args + node.args.kwonlyargs
                if any(a.annotation is not None and ast.unparse(a.annotation) == "Settings"
                       for a in args):  # fmt: skip
                    offenders.append(f"{path.relative_to(LIBRARY.parent)}:{node.name}")
    assert offenders == []
