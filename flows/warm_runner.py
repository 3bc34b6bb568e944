"""The per-bar pipeline's own runner: every served cycle in one warmed executor process.

It serves ``pipeline`` and the 5-minute ``risk`` (whose fresh interpreter every 5 minutes
cost seconds of CPU on a 2-core machine, often during a cycle), one run at a time.

``prefect serve`` starts each flow run in a fresh interpreter (multiprocessing "spawn"), so
each served cycle paid the imports and first use of GX, dbt, MLflow and XGBoost: 18.0 s
flow start → risk written, against 7.4 s for the same cycle in a warm process (target
10 s; ``python -m benchmarks.bench_pipeline``). Prefect's process worker also starts one
process per run.

This runner keeps the Prefect contract and changes only where the run executes:

- It asks the API for the pipeline deployment's due runs, as Prefect's runner does (the
  same endpoint, so the deployment shows Ready in the UI), and claims one by proposing
  Pending; the server grants that once, so no run executes twice.
- It hands the run to one long-lived executor process, which imported and warmed the tools
  once (:func:`aaiti.warmup.warm_up`) and runs the flow with Prefect's own engine
  (``run_flow``): states, subflows, logs, artifacts and hooks are those of any run.
- A run cancelled in the UI kills the executor (the run becomes Cancelled); an executor
  that dies mid-run leaves the run Crashed, with the exit code. Either way a new executor
  is started. After ``AAITI_WARM_RUNNER_MAX_RUNS`` runs it is replaced, so nothing one
  run leaked can grow without bound.
- When several *scheduled* runs of a deployment are due at once (the stack was down for
  a while), only the newest runs: one cycle takes in every bar that arrived, so the older ones are Cancelled
  as superseded instead of replaying the same work. Runs started by hand always run.

``AAITI_PIPELINE_RUNNER=prefect`` serves both with Prefect's runner instead.
"""

from __future__ import annotations

import multiprocessing
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import UTC, datetime
from multiprocessing.connection import Connection
from typing import Any
from uuid import UUID

from aaiti.config import Settings


def _logger() -> Any:
    from prefect.logging import get_logger

    return get_logger("aaiti.warm_runner")


def _executor_main(conn: Connection, warm: bool) -> None:
    """(executor process) Warm up once, then run each (flow run id, flow) the runner sends."""
    from prefect.client.orchestration import get_client
    from prefect.exceptions import Abort
    from prefect.flow_engine import run_flow
    from prefect.utilities.importtools import import_object

    from aaiti.config import apply_tool_environment, load_settings
    from aaiti.warmup import release_memory, warm_up

    _die_with_parent()
    settings = load_settings()
    apply_tool_environment(settings)
    summary = warm_up(settings).summary() if warm else "not warmed up (asked not to)"
    release_memory()  # what the warm-up read to open its tools is garbage now
    conn.send(("ready", summary))
    while True:
        message = conn.recv()
        if message[0] == "stop":
            return
        run_id = UUID(message[1])
        try:
            flow = import_object(message[2])
            with get_client(sync_client=True) as client:
                flow_run = client.read_flow_run(run_id)
            state = run_flow(flow, flow_run=flow_run, return_type="state")
            conn.send(("done", str(run_id), state.type.value, state.message or ""))
        except Abort as exc:  # the server refused to start it (cancelled meanwhile, say)
            conn.send(("done", str(run_id), "ABORTED", str(exc)))
        except Exception as exc:  # no flow, or the engine failed: the runner marks it Crashed
            conn.send(("error", str(run_id), f"{type(exc).__name__}: {exc}"))
        release_memory()


def _die_with_parent() -> None:
    """(executor process) Linux: killed when the runner's process dies. A SIGKILL of
    aaiti-serve then leaves no executor running a run that nobody watches, and the next
    runner may take every run it finds Running as orphaned (:meth:`WarmRunner.reap_orphans`)."""
    import ctypes
    import signal

    with suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


@dataclass
class _Executor:
    process: Any
    conn: Connection
    ready: bool = False
    runs: int = 0


@dataclass(frozen=True)
class RunOutcome:
    """What became of one claimed run."""

    flow_run_id: UUID
    state: str
    message: str


class WarmRunner:
    """Serves its deployments' runs from one warm executor process (see the module doc)."""

    def __init__(
        self,
        *,
        deployments: dict[UUID, str],
        settings: Settings,
        warm: bool = True,
    ) -> None:
        self.deployments = dict(deployments)  # deployment id → its flow, as module:attribute
        self.settings = settings
        self.warm = warm
        self.poll_s = settings.warm_runner_poll_s
        self.max_runs = settings.warm_runner_max_runs
        self._executor: _Executor | None = None
        self._stop = threading.Event()
        self._log = _logger()

    # --- the executor ------------------------------------------------------------------
    def _spawn(self) -> None:
        ctx = multiprocessing.get_context("spawn")
        parent, child = ctx.Pipe()
        process = ctx.Process(
            target=_executor_main,
            args=(child, self.warm),
            name="aaiti-warm-executor",
        )
        process.daemon = True
        process.start()
        child.close()
        self._executor = _Executor(process, parent)
        self._log.info("warm executor started (pid %s), warming up", process.pid)

    def _retire(self, *, kill: bool = False) -> None:
        ex, self._executor = self._executor, None
        if ex is None:
            return
        if not kill and ex.process.is_alive():
            with suppress(OSError):
                ex.conn.send(("stop",))
            ex.process.join(timeout=10)
        if ex.process.is_alive():
            ex.process.terminate()
            ex.process.join(timeout=5)
        if ex.process.is_alive():
            ex.process.kill()
            ex.process.join()
        ex.conn.close()

    def _ready(self) -> bool:
        """Whether the executor has warmed up; restarts one that died on the way."""
        if self._executor is None:
            if self._stop.is_set():
                return False
            self._spawn()
        ex = self._executor
        if ex.ready:
            return True
        if ex.conn.poll(0):
            try:
                kind, summary = ex.conn.recv()
            except (EOFError, OSError):  # it died while warming up
                ex.process.join(timeout=5)
            else:
                ex.ready = kind == "ready"
                self._log.info("warm executor pid %s %s", ex.process.pid, summary)
                return ex.ready
        if not ex.process.is_alive():
            self._log.error("warm executor exited while warming up (code %s)", ex.process.exitcode)
            self._retire(kill=True)
        return False

    # --- the loop ----------------------------------------------------------------------
    def serve(self) -> None:
        """Reap what a dead runner left Running, then poll and run until :meth:`stop`; API
        hiccups are logged and retried."""
        try:
            try:
                self.reap_orphans()
            except Exception:
                self._log.exception("warm runner: could not look for orphaned runs")
            while not self._stop.is_set():
                try:
                    self.run_due()
                except Exception:
                    self._log.exception("warm runner: polling failed; trying again")
                self._stop.wait(self.poll_s)
        finally:
            self._retire()

    def stop(self) -> None:
        self._stop.set()

    def close(self) -> None:
        """Stop the executor (the loop in :meth:`serve` does this itself when it ends)."""
        self._retire()

    @property
    def executor_pid(self) -> int | None:
        return self._executor.process.pid if self._executor else None

    def run_due(self) -> list[RunOutcome]:
        """Run what is due now (once the executor is warm); the outcomes, in order."""
        from prefect.client.orchestration import get_client

        if not self._ready():
            return []
        with get_client(sync_client=True) as client:
            due = client.get_scheduled_flow_runs_for_deployments(
                deployment_ids=list(self.deployments), scheduled_before=datetime.now(UTC)
            )
            outcomes = []
            for run in self._supersede(client, due):
                if self._stop.is_set():
                    break
                outcome = self._execute(client, run)
                if outcome is not None:
                    outcomes.append(outcome)
            return outcomes

    def _supersede(self, client: Any, due: list[Any]) -> list[Any]:
        """Per deployment, cancel all but the newest due scheduled run; runs made by hand
        all stay. What is left, oldest first."""
        from prefect.states import Cancelled

        def start(run: Any) -> datetime:
            return run.next_scheduled_start_time or run.expected_start_time

        due = sorted(due, key=start)
        newest = {r.deployment_id: r for r in due if r.auto_scheduled}  # sorted: the last wins
        keep = []
        for run in due:
            if not run.auto_scheduled or run is newest[run.deployment_id]:
                keep.append(run)
                continue
            client.set_flow_run_state(
                run.id,
                Cancelled(
                    message=f"superseded by the newer scheduled run "
                    f"{newest[run.deployment_id].name}: one cycle takes in every bar that has "
                    "arrived"
                ),
            )
            self._log.info("superseded late scheduled run %s", run.name)
        return keep

    def _execute(self, client: Any, run: Any) -> RunOutcome | None:
        from prefect.client.schemas.responses import SetStateStatus
        from prefect.states import Cancelled, Pending

        claim = client.set_flow_run_state(run.id, Pending(), force=False)
        if claim.status != SetStateStatus.ACCEPT:
            return None  # another runner has it, or it was cancelled meanwhile
        ex = self._executor
        self._log.info("running %s in warm executor pid %s", run.name, ex.process.pid)
        # what Prefect's workers record: the UI shows where the run executes
        client.update_flow_run(
            run.id, infrastructure_pid=f"{socket.gethostname()}:{ex.process.pid}"
        )
        ex.conn.send(("run", str(run.id), self.deployments[run.deployment_id]))
        checked = time.monotonic()
        while True:
            if ex.conn.poll(0.2):
                try:
                    message = ex.conn.recv()
                    break
                except (EOFError, OSError):  # it died: its end of the pipe closed
                    ex.process.join(timeout=5)
            if not ex.process.is_alive():
                message = ("exited", str(run.id), f"exit code {ex.process.exitcode}")
                break
            if self._stop.is_set() or time.monotonic() - checked > 2:
                checked = time.monotonic()
                state = client.read_flow_run(run.id).state
                if state is not None and state.is_cancelling():
                    message = ("cancel", str(run.id), "cancelled from the API")
                    break
                if self._stop.is_set():
                    message = ("exited", str(run.id), "aaiti-serve was stopped during the run")
                    break
        ex.runs += 1
        kind = message[0]
        if kind == "done":
            outcome = RunOutcome(run.id, message[2], message[3])
            if ex.runs >= self.max_runs:
                self._log.info("warm executor ran %s runs; replacing it", ex.runs)
                self._retire()
            return outcome
        self._retire(kill=True)
        if kind == "cancel":  # whatever the dying engine reported, the run was cancelled
            client.set_flow_run_state(
                run.id, Cancelled(message="cancelled; its executor was stopped"), force=True
            )
            return RunOutcome(run.id, "CANCELLED", message[2])
        state = client.read_flow_run(run.id).state
        if state is not None and state.is_final():  # it finished just before the executor went
            return RunOutcome(run.id, state.type.value, state.message or "")
        text = f"the warm executor {'failed' if kind == 'error' else 'died'}: {message[2]}"
        return self._crash(client, run, text)

    def _crash(self, client: Any, run: Any, text: str) -> RunOutcome:
        """Mark a run whose process is gone Crashed, its subflows with it, and alert."""
        from prefect.states import Crashed

        client.set_flow_run_state(run.id, Crashed(message=text), force=True)
        subflows = _crash_subflows(client, run.id, f"its parent run {run.name} crashed: {text}")
        self._log.error("%s crashed: %s (%d subflow run(s) with it)", run.name, text, subflows)
        self._alert_crash(run.name, text)
        return RunOutcome(run.id, "CRASHED", text)

    def reap_orphans(self) -> list[RunOutcome]:
        """Runs of these deployments left Running or Pending when the runner that claimed
        them died (aaiti-serve killed: its executor died with it). One runner serves them,
        so nothing runs them now: each is marked Crashed with its subflows, and alerted."""
        from prefect.client.orchestration import get_client
        from prefect.client.schemas.filters import (
            FlowRunFilter,
            FlowRunFilterDeploymentId,
            FlowRunFilterState,
            FlowRunFilterStateType,
        )

        text = "its process died: aaiti-serve stopped or was killed while it ran"
        with get_client(sync_client=True) as client:
            left = client.read_flow_runs(
                flow_run_filter=FlowRunFilter(
                    deployment_id=FlowRunFilterDeploymentId(any_=list(self.deployments)),
                    state=FlowRunFilterState(type=FlowRunFilterStateType(any_=_UNFINISHED)),
                )
            )
            return [self._crash(client, run, text) for run in left]

    def _alert_crash(self, name: str, text: str) -> None:
        """A crashed run runs no flow hook of its own: the runner raises its alert (a
        failure to alert is logged, never raised: the next run must still start)."""
        try:
            from aaiti.monitoring.alerts import notify

            notify(self.settings, source="flow", severity="critical",
                   dedup_key="flow:crashed", message=f"run {name} crashed: {text}")  # fmt: skip
        except Exception:
            self._log.exception("could not raise the crash alert for %s", name)


#: States a run whose process died can be left in (Pending: claimed, not yet started).
_UNFINISHED = ["RUNNING", "PENDING", "CANCELLING"]


def _crash_subflows(client: Any, parent_id: UUID, text: str) -> int:
    """Every unfinished subflow run under ``parent_id`` (nested ones too) marked Crashed:
    they ran in the same process. How many."""
    from prefect.client.schemas.filters import (
        FlowRunFilter,
        FlowRunFilterParentFlowRunId,
        FlowRunFilterState,
        FlowRunFilterStateType,
    )
    from prefect.states import Crashed

    children = client.read_flow_runs(
        flow_run_filter=FlowRunFilter(
            parent_flow_run_id=FlowRunFilterParentFlowRunId(any_=[parent_id]),
            state=FlowRunFilterState(type=FlowRunFilterStateType(any_=_UNFINISHED)),
        )
    )
    for child in children:
        client.set_flow_run_state(child.id, Crashed(message=text), force=True)
    return len(children) + sum(_crash_subflows(client, c.id, text) for c in children)


@contextmanager
def warm_runner_thread(runner: WarmRunner) -> Iterator[WarmRunner]:
    """Run ``runner`` in a background thread for the duration of the block."""
    thread = threading.Thread(target=runner.serve, name="aaiti-warm-runner", daemon=True)
    thread.start()
    try:
        yield runner
    finally:
        runner.stop()
        thread.join(timeout=30)
