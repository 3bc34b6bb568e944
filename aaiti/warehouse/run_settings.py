"""The settings each run used, audited: a hash, and what changed since the previous run.

A run's numbers are only explained with the settings behind them. Each flow run and each
stage command records its settings in ``audit.run_settings``: the values (secrets only as
``set``/``unset``, never their text or a hash of it), their hash, and the settings that
changed since the previous recorded run, each as ``[before, after]``.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, SecretStr

from aaiti.config import Settings
from aaiti.warehouse.core import Warehouse
from aaiti.warehouse.sql import load_sql, run

_SQL = "aaiti.warehouse"


@dataclass(frozen=True)
class RunSettings:
    settings_hash: str
    values: dict[str, Any]
    changed: dict[str, list[Any]]


def settings_values(settings: Settings) -> dict[str, Any]:
    """Every setting as JSON values, under its variable's name (a nested section's fields
    as ``<section>_<name>``); a secret (or a list of them) only as set/unset."""
    out: dict[str, Any] = {}
    for name, value, annotation in sorted(_flat(settings)):
        if isinstance(value, SecretStr) or (
            isinstance(value, list) and value and isinstance(value[0], SecretStr)
        ):
            out[name] = "set"
        elif (value is None or value == []) and "SecretStr" in annotation:
            out[name] = "unset"
        else:
            out[name] = json.loads(json.dumps(value, default=str))
    return out


def _flat(model: BaseModel, prefix: str = "") -> list[tuple[str, Any, str]]:
    """(variable name, value, annotation) of each setting, sections' fields included."""
    out = []
    for name, field in type(model).model_fields.items():
        value = getattr(model, name)
        if isinstance(value, BaseModel):
            out += _flat(value, f"{prefix}{name}_")
        else:
            out.append((f"{prefix}{name}", value, str(field.annotation)))
    return out


def compare(previous: dict[str, Any] | None, values: dict[str, Any]) -> RunSettings:
    """The hash of ``values`` and what changed since ``previous`` (all of it, the first time)."""
    text = json.dumps(values, sort_keys=True)
    before = previous or {}
    changed = {
        k: [before.get(k), v] for k, v in values.items() if previous is None or before.get(k) != v
    }
    changed |= {k: [v, None] for k, v in before.items() if k not in values}
    return RunSettings(hashlib.sha256(text.encode()).hexdigest()[:16], values, changed)


def record_run_settings(warehouse: Warehouse, settings: Settings, *, run_name: str) -> RunSettings:
    """Record the settings ``run_name`` uses, in one transaction."""
    values = settings_values(settings)
    with warehouse.writer(purpose=f"settings of {run_name}") as con:
        rows = con.sql(load_sql(_SQL, "run_settings_previous")).fetchall()
        result = compare(json.loads(rows[0][0]) if rows else None, values)
        run(
            con,
            load_sql(_SQL, "run_settings_insert"),
            [
                datetime.now(UTC),
                run_name,
                result.settings_hash,
                json.dumps(result.changed, sort_keys=True),
                json.dumps(values, sort_keys=True),
            ],
        )
    return result
