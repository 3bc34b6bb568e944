"""What every flow shares: settings at the edge and the transient-only retry rule."""

from __future__ import annotations

from typing import Any

from aaiti.config import Settings, apply_tool_environment, load_settings


def flow_settings(**overrides: Any) -> Settings:
    """Read settings once at the flow's entry and point tool state into the data folder."""
    settings = load_settings(**{k: v for k, v in overrides.items() if v is not None})
    apply_tool_environment(settings)
    return settings


def is_transient(exc: BaseException | None) -> bool:
    from aaiti.market.errors import TransientExchangeError
    from aaiti.warehouse import WarehouseBusyError

    return isinstance(exc, TransientExchangeError | WarehouseBusyError)


def retry_on_transient(task: Any, task_run: Any, state: Any) -> bool:
    """Prefect retry condition: retry exchange hiccups and a busy warehouse, nothing else."""
    try:
        state.result()
    except Exception as exc:  # the state's exception is re-raised here
        return is_transient(exc)
    return False
