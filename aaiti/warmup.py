"""First use of the tools a pipeline cycle needs, paid once by a long-lived process.

A fresh interpreter spends ~11 s importing Great Expectations, dbt, MLflow and XGBoost
and a few more on their first use (GX's project context, dbt's adapter and manifest,
MLflow's registry store); a cycle's own work is ~5 s. The pipeline's warm runner
(``flows/warm_runner.py``) calls :func:`warm_up` once when its executor starts, so the
first scheduled cycle is nearly as fast as the rest. Nothing here writes data; ``dbt
parse`` applies pending warehouse migrations first, as every dbt run does.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from aaiti.config import Settings
from aaiti.ml.tracking import CHAMPION, model_name, tracker_for
from aaiti.transform.dbt import run_dbt

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class WarmUpReport:
    """Seconds per step, and what each step found (a champion or not, say)."""

    seconds: dict[str, float] = field(default_factory=dict)
    notes: dict[str, str] = field(default_factory=dict)

    @property
    def total_s(self) -> float:
        return sum(self.seconds.values())

    def summary(self) -> str:
        steps = ", ".join(f"{k} {v:.1f} s: {self.notes[k]}" for k, v in self.seconds.items())
        return f"warmed up in {self.total_s:.1f} s ({steps})"


def warm_up(settings: Settings) -> WarmUpReport:
    """Import the cycle's tools and open their state: GX's context, dbt's parsed project,
    the champion model. A step that fails is logged and noted, never raised: the cycle
    itself will then pay that first use, and report its own error if there is one."""
    seconds: dict[str, float] = {}
    notes: dict[str, str] = {}

    def step(name: str, fn: Callable[[], str | None]) -> None:
        t0 = time.perf_counter()
        try:
            notes[name] = fn() or "ok"
        except Exception as exc:  # a warm-up is an optimisation; the cycle reports errors
            notes[name] = f"skipped: {type(exc).__name__}: {exc}"
            log.warning("warm-up step %s failed: %s", name, exc)
        seconds[name] = time.perf_counter() - t0

    step("great_expectations", lambda: _gx(settings))
    step("dbt", lambda: _dbt(settings))
    step("mlflow_xgboost", lambda: _champion(settings))
    report = WarmUpReport(seconds, notes)
    log.info(report.summary())
    return report


def _gx(settings: Settings) -> str:
    from aaiti.quality import validator_for

    validator_for(settings, docs=False).context  # noqa: B018 - creating it is the point
    return "context open"


def _dbt(settings: Settings) -> str:

    report = run_dbt(settings, ["parse"])
    if not report.success:
        raise RuntimeError("dbt parse did not succeed; see the dbt log")
    return "project parsed"


def _champion(settings: Settings) -> str:

    tracker = tracker_for(settings)
    name = model_name(settings.timeframe)
    if tracker.by_alias(name, CHAMPION) is None:
        import xgboost  # noqa: F401 - the import is most of the cost

        return f"no champion for {name} yet"
    tracker.load(name, CHAMPION)
    return f"{name}@{CHAMPION} loaded"


def release_memory() -> None:
    """Between runs, hand the freed heap back to the system: a warm process otherwise keeps
    its largest run's peak resident until it is replaced (glibc holds freed pages)."""
    import ctypes
    import gc

    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc: the allocator has no trim to ask for
        return
