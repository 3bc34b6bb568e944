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
