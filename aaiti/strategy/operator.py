"""An operator's hand on the registry: promote and roll back, audited, failing closed.

The strategy trades the model version it was evaluated with. A version an operator makes
champion by hand has not been judged net of costs, so the strategy is re-pinned to it and
stands aside until the next training evaluates it. Who, what, before and after, and why
go to ``audit.log``.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime

from aaiti.config import Settings
from aaiti.errors import InputError
from aaiti.ml.tracking import CHAMPION, Tracker, model_name
from aaiti.ops import audit
from aaiti.strategy.store import DeployedStrategy, load_state, save_state
from aaiti.warehouse import Warehouse


@dataclass(frozen=True)
class RegistryChange:
    name: str
    before: int | None
    after: int
    message: str


def promote_by_hand(
    settings: Settings, tracker: Tracker, *, version: int, actor: str, reason: str,
    timeframe: str | None = None,
) -> RegistryChange:  # fmt: skip
    name = model_name(timeframe or settings.timeframe)
    known = sorted(v.version for v in tracker.versions(name))
    if version not in known:
        raise InputError(f"{name} has no version {version}; it has {known or 'none'}")
    before = tracker.by_alias(name, CHAMPION)
    tracker.promote(name, version, reason=f"promoted by {actor}: {reason}")
    return _record(
        settings, name, before.version if before else None, version, actor, reason, "model promote"
    )


def rollback_by_hand(
    settings: Settings, tracker: Tracker, *, actor: str, reason: str, timeframe: str | None = None
) -> RegistryChange:
    name = model_name(timeframe or settings.timeframe)
    before = tracker.by_alias(name, CHAMPION)
    after = tracker.rollback(name)
    return _record(
        settings, name, before.version if before else None, after, actor, reason, "model rollback"
    )


def _record(settings, name, before, after, actor, reason, action) -> RegistryChange:
    now = datetime.now(UTC)
    message = f"{name}: champion v{before} → v{after} by {actor} ({reason})"
    timeframe = name.removeprefix("aaiti-")
    with Warehouse.from_settings(settings).writer(purpose=action) as con:
        audit(con, actor=actor, action=action, detail=message, at=now)
        state = load_state(con, name=settings.trading_strategy, timeframe=timeframe)
        if state is not None and state.spec.model_version != after:
            why = (
                f"{action} by {actor}: v{after} has not been evaluated net of costs; "
                "the strategy stands aside until the next `aaiti train`"
            )
            spec = replace(state.spec, model_version=after)
            save_state(con, DeployedStrategy(spec, False, why, now))
            message += "; the strategy stands aside until the next training evaluates it"
    return RegistryChange(name, before, after, message)
