"""The stack's supervisor: a service that dies is started again, with backoff, logged,
alerted and counted for ``make status``.

The pure core (``step``) decides, from one service's watch and whether it is alive, when to
restart it: the first death at once, a death soon after a restart after a wait that doubles
up to a ceiling (a crash loop must not spin), and a service that stayed up ``stable_s``
counts as healthy again. The shell (``supervise``) reads the pid files ``up`` wrote, starts
what died in the same way ``up`` does and records what it did in ``run/supervisor.json``.

It watches only services with a pid file: ``down`` stops the supervisor first, then the rest,
and removes their pid files, so nothing it stopped comes back.
"""

from __future__ import annotations

import json
import logging
import os
import queue
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aaiti.config import Settings, SupervisorSettings, child_environment
from aaiti.stack import (
    COMPONENTS,
    Component,
    components,
    is_ours,
    reap_group,
    record_of,
    start,
    state_path,
)

Event = dict[str, Any]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RestartPolicy:
    interval_s: float
    backoff_s: float
    backoff_max_s: float
    stable_s: float

    @classmethod
    def of(cls, section: SupervisorSettings) -> RestartPolicy:
        """From the settings' section (the one set of defaults)."""
        return cls(
            interval_s=section.interval_s,
            backoff_s=section.backoff_s,
            backoff_max_s=section.backoff_max_s,
            stable_s=section.stable_s,
        )


@dataclass(frozen=True)
class Watch:
    """What the supervisor knows of one service (times on the monotonic clock)."""

    restarts: int = 0  # restarts since the supervisor started
    failures: int = 0  # deaths since the service last ran stable_s
    up_since: float | None = None  # when it was last seen alive after a (re)start
    retry_at: float | None = None  # a dead service's next restart


def delay(failures: int, policy: RestartPolicy) -> float:
    """Seconds to wait before restart number ``failures + 1`` of an unstable service."""
    if failures == 0:
        return 0.0
    return float(min(policy.backoff_s * 2.0 ** (failures - 1), policy.backoff_max_s))


def step(watch: Watch, *, alive: bool, now: float, policy: RestartPolicy) -> tuple[Watch, bool]:
    """(the watch after this look, whether to restart the service now)."""
    if alive:
        if watch.up_since is None:
            return replace(watch, up_since=now), False
        if watch.failures and now - watch.up_since >= policy.stable_s:
            return replace(watch, failures=0), False
        return watch, False
    retry_at = watch.retry_at
    if retry_at is None:
        retry_at = now + delay(watch.failures, policy)
        watch = replace(watch, retry_at=retry_at)
    if now < retry_at:
        return watch, False
    restarted = Watch(restarts=watch.restarts + 1, failures=watch.failures + 1, up_since=now)
    return restarted, True


# ------------------------------------------------------------------------------ shell
def supervise(
    settings: Settings,
    *,
    repo: Path,
    stop: threading.Event | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> None:
    """Look at every service each interval and restart what died, until ``stop`` is set
    (SIGTERM sets it when run as ``aaiti stack supervise``)."""
    stop = stop or threading.Event()
    policy = RestartPolicy.of(settings.supervisor)
    table = components(settings, repo=repo)
    watches: dict[str, Watch] = {}
    history: dict[str, Event] = {}  # this supervisor's life: `up` after `down` starts afresh
    alerts = _Alerter(settings)
    while not stop.is_set():
        try:
            for name in COMPONENTS:
                if name == "supervisor" or stop.is_set():
                    continue
                event = _look(settings, table[name], watches, policy, clock(), repo)
                if event:
                    history[name] = {**history.get(name, {}), **event}
                    history[name]["restarts"] = history[name].get("restarts", 0) + 1
                    alerts.put(name, event)
            _write_state(settings, watches, history)
        except Exception:  # a full disk, say: the supervisor is the last thing that may stop
            log.exception("supervisor: this look failed; looking again")
        stop.wait(policy.interval_s)
    alerts.close()


def _look(
    settings: Settings,
    component: Component,
    watches: dict[str, Watch],
    policy: RestartPolicy,
    now: float,
    repo: Path,
) -> Event | None:
    """One service: restart it if it died and its backoff has passed; what happened."""
    record = record_of(settings, component.name)
    if record is None:  # never started, or stopped by down
        watches.pop(component.name, None)
        return None
    watch, restart = step(
        watches.get(component.name, Watch()), alive=is_ours(record), now=now, policy=policy
    )
    watches[component.name] = watch
    if not restart:
        return None
    reap_group(record["pid"], wait_s=5.0)  # its orphans would hold the port
    try:
        pid = start(settings, component, repo=repo)
    except OSError as err:
        log.error("supervisor: %s could not be started: %s", component.name, err)
        pid = None
    at = datetime.now(UTC).isoformat(timespec="seconds")
    log.warning(
        "supervisor: %s (pid %s) had died; restart %d started as pid %s",
        component.name, record["pid"], watch.restarts, pid,
    )  # fmt: skip
    return {"last_restart": at, "died_pid": record["pid"], "pid": pid,
            "attempt": watch.failures}  # fmt: skip


def _write_state(settings: Settings, watches: dict[str, Watch], history: dict[str, Event]) -> None:
    """Atomically (a reader never sees half a file)."""
    state = {
        "beat": datetime.now(UTC).isoformat(),
        "pid": os.getpid(),
        "services": history,
        "watching": {n: asdict(w) for n, w in watches.items()},
    }
    path = state_path(settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(state, indent=1))
    tmp.replace(path)


ALERT_TIMEOUT_S = 120.0  # the writer lock's wait plus the channels' retries


class _Alerter:
    """Alerts go out from their own thread: a held writer lock or a slow channel never
    delays a restart. Without a warehouse there is no outbox: the log is the record."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.queue: queue.Queue[tuple[str, Event] | None] = queue.Queue()
        self.thread = threading.Thread(target=self._run, name="supervisor-alerts", daemon=True)
        self.thread.start()

    def put(self, name: str, event: Event) -> None:
        self.queue.put((name, event))

    def close(self, timeout_s: float = 10.0) -> None:
        self.queue.put(None)
        self.thread.join(timeout_s)

    def _run(self) -> None:
        while (item := self.queue.get()) is not None:
            name, event = item
            if not Path(str(self.settings.warehouse_path)).exists():
                continue
            message = (
                f"{name} died (pid {event['died_pid']}) and was restarted "
                f"(pid {event['pid']}, attempt {event['attempt']}) at {event['last_restart']}"
            )
            try:
                raise_in_child(self.settings, dedup_key=f"supervisor:{name}", message=message)
            except Exception as err:  # an alert must never stop the supervisor
                log.error("supervisor: the alert for %s was not raised: %s", name, err)


def raise_in_child(settings: Settings, *, dedup_key: str, message: str) -> None:
    """Raise and deliver one alert from a short-lived process: the outbox's imports
    (pandas, DuckDB, the channels) took the supervisor from 44 to 207 MB resident for
    good, in a process meant to stay small for days (measured in the 200-bar soak)."""
    import subprocess
    import sys

    env = child_environment({"AAITI_DATA_DIR": str(Path(settings.data_dir).resolve())})
    done = subprocess.run(
        [sys.executable, "-m", "aaiti.monitoring.alerts", "supervisor", "warning", dedup_key,
         message],
        env=env, capture_output=True, text=True, timeout=ALERT_TIMEOUT_S,
    )  # fmt: skip
    if done.returncode != 0:
        raise RuntimeError(f"exit {done.returncode}: {done.stderr.strip()[-300:]}")
    log.info("supervisor: alert %s raised: %s", dedup_key, done.stdout.strip()[-200:])


def run_forever(settings: Settings, *, repo: Path) -> None:
    """``aaiti stack supervise``: until SIGTERM or SIGINT."""
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    handler = logging.StreamHandler()  # stderr: run/supervisor.log under `up`
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    log.propagate = False
    log.info("supervisor: watching the stack every %.1f s", settings.supervisor.interval_s)
    supervise(settings, repo=repo, stop=stop)
    log.info("supervisor: stopped")
