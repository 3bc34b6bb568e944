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


STAGES = ["market/ingest.py", "quality/gate.py", "quality/verdicts.py", "features", "ml/train.py", "ml/features.py",
          "monitoring/monitor.py", "monitoring/alerts.py", "risk", "trading/cycle.py", "trading/book.py", "trading/sequencing.py", "trading/venue.py",
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


# Third-party packages slow enough to import that a module may defer them: each took more than
# 0.15 s over a bare interpreter here (`python -c "import x"`, warm). Only these justify
# importing an ``aaiti`` module inside a function (the CLI's start, a flow's worker).
HEAVY = {"apprise", "arch", "ccxt", "dask", "dbt", "distributed", "duckdb", "evidently",
         "great_expectations", "httpx", "matplotlib", "mlflow", "numba", "numpy", "pandas",
         "plotly", "prefect", "prometheus_client", "pyarrow", "scipy", "sklearn",
         "statsmodels", "streamlit", "uvicorn", "xgboost"}  # fmt: skip
# aaiti.config builds its pydantic settings at import: 0.4 s, the CLI's start pays it only
# for a command that reads settings.
HEAVY_OWN = {"aaiti.config"}


def _module_name(path: Path) -> str:
    parts = path.relative_to(LIBRARY.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> list[tuple[str, list[str], bool]]:
    """(module, names imported from it, inside a function) for each import of ``path``
    outside ``if TYPE_CHECKING``."""
    tree = ast.parse(path.read_text(), filename=str(path))
    out: list[tuple[str, list[str], bool]] = []

    def visit(node: ast.AST, in_function: bool) -> None:
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            return
        if isinstance(node, ast.Import):
            out.extend((a.name, [], in_function) for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            out.append((node.module, [a.name for a in node.names], in_function))
        inside = in_function or isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        for child in ast.iter_child_nodes(node):
            visit(child, inside)

    visit(tree, False)
    return out


def _graph() -> tuple[dict[str, set[str]], dict[str, list[set[str]]], dict[str, set[str]]]:
    """(module → aaiti modules it imports anywhere, → what each import inside a function
    may import, → the third-party packages it imports at module level). ``from package import module`` is
    an import of the module, as Python resolves it."""
    paths = {_module_name(p): p for p in LIBRARY.rglob("*.py")}
    edges: dict[str, set[str]] = {m: set() for m in paths}
    deferred: dict[str, list[set[str]]] = {m: [] for m in paths}
    third: dict[str, set[str]] = {m: set() for m in paths}
    lazy = {m: _lazy_homes(p, paths) for m, p in paths.items()}
    for module, path in paths.items():
        for name, names, in_function in _imports(path):
            if name.split(".")[0] != "aaiti":
                if not in_function:
                    third[module].add(name.split(".")[0])
                continue
            targets = {f"{name}.{n}" for n in names if f"{name}.{n}" in paths}
            if not names or len(targets) < len(names):  # a name, maybe loaded lazily
                targets |= (lazy.get(name) if names else None) or {name}
            edges[module] |= targets - {module, "aaiti"}
            if in_function and targets - {module, "aaiti"}:
                deferred[module].append(targets - {module, "aaiti"})
    return edges, deferred, third


def test_no_import_cycle_between_library_modules_even_inside_functions():
    """An import inside a function may defer a heavy import; it may not hide a cycle."""
    edges, _, _ = _graph()
    cycles = [scc for scc in _strongly_connected(edges) if len(scc) > 1]
    assert cycles == []


def test_an_import_inside_a_function_only_defers_a_heavy_package():
    """Each ``aaiti`` module imported inside a library function brings in (at module level,
    transitively) a package slow to import; otherwise it belongs at the top of the file."""
    edges, deferred, third = _graph()
    lazy = {m: set().union(*deferred[m]) for m in edges}
    plain = {m: edges[m] - lazy[m] | _parents(m, edges) for m in edges}

    def heavy(module: str, seen: set[str]) -> bool:
        if third[module] & HEAVY or module in HEAVY_OWN:
            return True
        seen.add(module)
        return any(heavy(n, seen) for n in plain[module] if n not in seen)

    light = sorted(
        f"{m} → {', '.join(sorted(targets))}"
        for m in deferred
        for targets in deferred[m]
        if not any(heavy(n, set()) for n in targets)
    )
    assert light == []


def _lazy_homes(path: Path, modules: dict[str, Path]) -> set[str]:
    """The modules a package's PEP 562 ``__getattr__`` loads names from (named as strings
    in it): ``from package import name`` may import any of them."""
    tree = ast.parse(path.read_text(), filename=str(path))
    if not any(isinstance(n, ast.FunctionDef) and n.name == "__getattr__" for n in tree.body):
        return set()
    found = {n.value for n in ast.walk(tree) if isinstance(n, ast.Constant)}
    return {s for s in found if isinstance(s, str) and s in modules}


def _parents(module: str, modules: dict[str, set[str]]) -> set[str]:
    """The packages importing ``module`` imports first (``a.b`` for ``a.b.c``)."""
    parts = module.split(".")
    return {".".join(parts[:i]) for i in range(1, len(parts))} & set(modules)


def _strongly_connected(edges: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's strongly connected components."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []

    def connect(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in edges.get(v, ()):
            if w not in index:
                connect(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            scc = []
            while True:
                w = stack.pop()
                on.discard(w)
                scc.append(w)
                if w == v:
                    break
            out.append(sorted(scc))

    for v in edges:
        if v not in index:
            connect(v)
    return out
