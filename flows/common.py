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


def alert_on_failure(flow: Any, flow_run: Any, state: Any) -> None:
    """Prefect state hook: a failed flow run becomes a critical alert (never raises)."""
    import logging

    try:
        from aaiti.monitoring.alerts import notify

        settings = flow_settings()
        notify(
            settings,
            source="flow",
            severity="critical",
            dedup_key=f"flow:{flow.name}",
            message=f"flow {flow.name} run {flow_run.name} failed: {state.message}",
        )
    except Exception:  # an alert that cannot be sent must not hide the flow's own failure
        logging.getLogger(__name__).exception("could not raise the failure alert for %s", flow.name)


def deliver_alerts(settings: Settings) -> dict:
    """Send what the flow's stages put in the alert outbox; a dead channel never raises."""
    from aaiti.monitoring.alerts import deliver_pending

    report = deliver_pending(settings)
    return {"alerts": report.alerts, **report.outcomes}
