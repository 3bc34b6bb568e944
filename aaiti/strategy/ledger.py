"""The trial ledger: every configuration ever evaluated on a data set, so the deflated
Sharpe ratio's N and the variance of trial Sharpes count them all, across runs.

A **data set** is a timeframe, its streams and the day of its first bar: more bars of the
same history are the same data set. A **recipe** is everything that decides the trades
except the data: the model's training configuration (labels, folds, search budget,
parameters, training window) and the strategy's rules (signal, thresholds, holding,
sizing, exits, costs), plus whether a search chose among candidates. A retrain of the same
recipe on more data updates its row; a changed recipe is a new trial.

Development counts too: the recipes tried on the bundled data are declared in the
committed research log (``research/log.yml``), which adds to N for its data set.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb

from aaiti.errors import InputError
from aaiti.warehouse.sql import load_sql, run

_SQL = "aaiti.strategy"

#: spec fields that name what trades, not how it decides: not part of a recipe
_NOT_RECIPE = ("name", "model_name", "model_version", "edge_model")


@dataclass(frozen=True)
class DataSet:
    timeframe: str
    streams: tuple[str, ...]  # instruments, exchange:symbol, sorted
    first_day: str  # YYYY-MM-DD of the first bar, or "sliding" (a moving training window)

    @property
    def key(self) -> str:
        return _hash({"timeframe": self.timeframe, "streams": self.streams,
                      "first_day": self.first_day})  # fmt: skip


@dataclass(frozen=True)
class Trial:
    """One configuration evaluated: its recipe and out-of-sample per-bar Sharpe (NaN:
    undefined); ``weight`` the model-parameter draws behind it (the search budget)."""

    recipe: dict[str, Any]
    sharpe: float
    observations: int
    weight: int = 1

    @property
    def key(self) -> str:
        return _hash(self.recipe)


@dataclass(frozen=True)
class PriorTrials:
    """What was tried on the data set before this run: ledger rows of other recipes and
    the research log's entries (which have no Sharpe)."""

    n: int = 0
    sharpes: tuple[float, ...] = ()


#: a data set nothing was tried on before
NO_PRIOR = PriorTrials()


def _hash(value: object) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()[:16]


def recipe_of(
    train_config: dict[str, Any], spec: dict[str, Any], *, train_bars: int | None
) -> dict[str, Any]:
    """The recipe: the training config (seed and threads included: another seed is another
    look), the training window, and the strategy's rules (a search's candidate is its own
    rules: evaluating the chosen one later is the same trial)."""
    rules = {k: v for k, v in spec.items() if k not in _NOT_RECIPE}
    return {"model": train_config, "train_bars": train_bars, "strategy": rules}


class ResearchLogError(InputError):
    """The research log cannot be read: a committed file the user fixes."""


def research_entries(path: Path) -> list[dict[str, Any]]:
    """The research log's entries; each names a recipe and the data set it was tried on."""
    import yaml  # type: ignore[import-untyped,unused-ignore]

    if not path.exists():
        return []
    try:
        raw = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise ResearchLogError(f"{path}: not YAML ({exc})") from exc
    entries = raw.get("trials", []) if isinstance(raw, dict) else None
    if not isinstance(entries, list):
        raise ResearchLogError(f"{path}: expected a mapping with a list under 'trials'")
    need = ("recipe", "timeframe", "streams", "first_day")
    for i, e in enumerate(entries, 1):
        if not isinstance(e, dict) or any(k not in e for k in need):
            raise ResearchLogError(f"{path}: trial {i} needs {', '.join(need)}")
        if not isinstance(e.get("count", 1), int) or e.get("count", 1) < 1:
            raise ResearchLogError(f"{path}: trial {i}'s count must be a whole number ≥ 1")
    return entries


def research_count(entries: list[dict[str, Any]], data: DataSet) -> int:
    """How many of the research log's recipes were tried on ``data``."""
    return sum(
        int(e.get("count", 1))
        for e in entries
        if str(e["timeframe"]) == data.timeframe
        and tuple(sorted(map(str, e["streams"]))) == data.streams
        and str(e["first_day"]) == data.first_day
    )


def load_prior(
    con: duckdb.DuckDBPyConnection, data: DataSet, *, exclude: set[str], research: int
) -> PriorTrials:
    """The ledger's rows for ``data`` other than the recipes in ``exclude``, plus the
    research log's count for it."""
    rows = con.execute(load_sql(_SQL, "trials_prior"), [data.key, sorted(exclude)]).fetchall()
    return PriorTrials(
        research + sum(int(r[1]) for r in rows),
        tuple(float(r[0]) for r in rows if r[0] is not None),
    )


def record(
    con: duckdb.DuckDBPyConnection, data: DataSet, trials: list[Trial], *, source: str,
    at: datetime,
) -> None:  # fmt: skip
    """Upsert the run's trials: the same recipe on the same data set is one row."""
    for t in trials:
        run(
            con,
            load_sql(_SQL, "trials_upsert"),
            [data.key, json.dumps({"timeframe": data.timeframe, "streams": data.streams,
                                   "first_day": data.first_day}),
             t.key, json.dumps(t.recipe, sort_keys=True, default=str), source,
             None if not math.isfinite(t.sharpe) else t.sharpe, t.observations, t.weight, at],
        )  # fmt: skip
