"""The local stack: Prefect server, MLflow UI, the dashboard and the served deployments.

``up`` starts each in its own process group, writes a pid file (pid, command and start
time, so a recycled pid is never mistaken for ours), waits until each answers its health check and
prints the URLs. ``down`` stops exactly the processes named by those pid files — never by
name — first with SIGTERM, then SIGKILL after a grace period. Everything binds to
``settings.bind_host`` (127.0.0.1 by default).
"""

from __future__ import annotations

import json
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aaiti.auth import AuthConfigError, basic_auth_header, exposure_problems, stack_credentials
from aaiti.config import Settings, child_environment

log = logging.getLogger(__name__)

#: Started in this order, stopped in the reverse: the supervisor starts last, stops first.
COMPONENTS: tuple[str, ...] = ("prefect", "mlflow", "dashboard", "serve", "metrics", "supervisor")
#: glibc's malloc arenas per service (its default, 8 per core, lets a threaded server's
#: freed memory stay resident in arenas of their own); an environment value wins.
ARENAS = "2"
#: What ``aaiti-serve`` registers (flows/deployments.py); serve is up when all are there.
SERVED_DEPLOYMENTS = frozenset(
    {"pipeline", "risk", "monitor", "train", "backtest", "ingest", "evaluate"}
)


#: Prefect's lease storage on disk (the server's and, for reading, the served runs' setting).
LEASES_ON_DISK = "prefect.server.concurrency.lease_storage.filesystem"


class StackError(RuntimeError):
    """A component could not start or answer its health check."""


@dataclass(frozen=True)
class Component:
    name: str
    command: list[str]
    url: str  # what a person opens
    health: Callable[[], bool]
    env: dict[str, str]
    port: int | None


def run_dir(settings: Settings) -> Path:
    return settings.data_dir / "run"


def _secret_key(settings: Settings) -> str:
    """The MLflow UI's CSRF key: random once, kept owner-only so restarts keep sessions."""
    import secrets

    path = run_dir(settings) / "mlflow_secret_key"
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        path.touch(mode=0o600)
        path.write_text(secrets.token_hex(32))
    return path.read_text().strip()


def _mlflow_auth_ini(settings: Settings, creds: tuple[str, str]) -> Path:
    """MLflow's basic-auth app configuration: its admin is the stack's user; its user
    store beside the tracking database. Written owner-only: it holds the password."""
    path = run_dir(settings) / "mlflow_auth.ini"
    path.parent.mkdir(parents=True, exist_ok=True)
    store = (settings.data_dir / "mlflow" / "basic_auth.db").resolve()
    path.touch(mode=0o600, exist_ok=True)
    path.write_text(
        "[mlflow]\ndefault_permission = READ\n"
        f"database_uri = sqlite:///{store}\n"
        f"admin_username = {creds[0]}\nadmin_password = {creds[1]}\n"
        "authorization_function = mlflow.server.auth:authenticate_request_basic_auth\n"
    )
    return path


def _http_ok(
    url: str, *, method: str = "GET", body: dict | None = None, headers: dict | None = None
) -> bool:
    import httpx

    try:
        r = httpx.request(method, url, json=body, headers=headers, timeout=2.0)
    except httpx.HTTPError:
        return False
    return r.status_code < 300


def _served(api: str, headers: dict | None = None) -> bool:
    """The serve process is up when its deployments are registered and it is polling."""
    import httpx

    try:
        r = httpx.post(
            f"{api}/deployments/filter", json={"limit": 50}, headers=headers, timeout=2.0
        )
    except httpx.HTTPError:
        return False
    return r.status_code == 200 and {d["name"] for d in r.json()} >= SERVED_DEPLOYMENTS


@dataclass(frozen=True)
class _Wiring:
    """What the services share: where they listen, the API, auth and environments."""

    settings: Settings
    repo: Path
    host: str
    bin_dir: Path
    api: str
    auth: dict[str, str] | None
    base_env: dict[str, str]  # every client of the Prefect API
    server_env: dict[str, str]  # the Prefect server (and what its runs read of it)
    mlflow_env: dict[str, str]
    mlflow_app: list[str]

    def url(self, port: int, path: str = "") -> str:
        return f"http://{self.host}:{port}{path}"


def _wiring(settings: Settings, repo: Path) -> _Wiring:
    host = settings.bind_host
    api = f"http://{host}:{settings.prefect_port}/api"
    base_env = {"PREFECT_API_URL": api, "AAITI_DATA_DIR": str(settings.data_dir.resolve())}
    creds = stack_credentials(settings)
    server_env = {
        "PREFECT_HOME": str(settings.prefect_home.resolve()),
        # Concurrency leases on disk, not in the server's memory: a server killed while a
        # slot was held would otherwise come back with the slot taken and no lease to
        # expire it, and every later dbt build would wait for it forever (found by the soak).
        "PREFECT_SERVER_CONCURRENCY_LEASE_STORAGE": LEASES_ON_DISK,
    }
    mlflow_app: list[str] = []
    # MLflow's job runner (seven huey consumers, ~1.7 GB) serves GenAI features AAITI
    # does not use: one operator's stack runs without it.
    mlflow_env: dict[str, str] = {"MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
    if creds:  # the same basic auth on every machine-facing service
        server_env["PREFECT_SERVER_API_AUTH_STRING"] = ":".join(creds)
        base_env["PREFECT_API_AUTH_STRING"] = ":".join(creds)
        mlflow_app = ["--app-name", "basic-auth"]
        mlflow_env |= {
            "MLFLOW_AUTH_CONFIG_PATH": str(_mlflow_auth_ini(settings, creds)),
            "MLFLOW_FLASK_SERVER_SECRET_KEY": _secret_key(settings),
        }
    auth = basic_auth_header(creds) if creds else None
    return _Wiring(settings, repo, host, Path(sys.executable).parent, api, auth, base_env,
                   server_env, mlflow_env, mlflow_app)  # fmt: skip


def _prefect(w: _Wiring) -> Component:
    port = w.settings.prefect_port
    return Component(
        "prefect",
        [str(w.bin_dir / "prefect"), "server", "start", "--host", w.host, "--port", str(port)],
        w.url(port),
        lambda: _http_ok(f"{w.api}/health", headers=w.auth),
        w.server_env,
        port,
    )


def _mlflow(w: _Wiring) -> Component:
    s, port = w.settings, w.settings.mlflow_port
    return Component(
        "mlflow",
        # `mlflow ui` with its server exec'd in place of the launcher (~270 MB less)
        # (runpy warns that aaiti.ml imported the module it then runs: harmless here)
        [str(w.bin_dir / "python"), "-W", "ignore::RuntimeWarning:runpy", "-m",
         "aaiti.ml.tracking", "--backend-store-uri", s.mlflow_tracking_uri,
         "--default-artifact-root", str(s.mlflow_artifact_root.resolve()),
         "--host", w.host, "--port", str(port),
         "--workers", "1", *w.mlflow_app],  # one operator: one web worker, not four
        w.url(port),
        lambda: _http_ok(w.url(port, "/health"), headers=w.auth),
        w.mlflow_env,
        port,
    )  # fmt: skip


def _dashboard(w: _Wiring) -> Component:
    port = w.settings.dashboard_port
    return Component(
        "dashboard",
        [str(w.bin_dir / "streamlit"), "run", str(w.repo / "dashboards" / "app.py"),
         "--server.headless", "true", "--server.address", w.host, "--server.port", str(port),
         "--browser.gatherUsageStats", "false", "--client.toolbarMode", "minimal"],
        w.url(port),
        lambda: _http_ok(w.url(port, "/_stcore/health")),
        w.base_env,
        port,
    )  # fmt: skip


def _serve(w: _Wiring) -> Component:
    # the runs read the server's leases where it keeps them (an orphaned slot's check)
    leases = ("PREFECT_HOME", "PREFECT_SERVER_CONCURRENCY_LEASE_STORAGE")
    return Component(
        "serve",
        [str(w.bin_dir / "aaiti-serve")],
        w.url(w.settings.prefect_port, "/deployments"),
        lambda: _served(w.api, w.auth),
        w.base_env | {k: w.server_env[k] for k in leases},
        None,
    )


def _metrics(w: _Wiring) -> Component:
    port = w.settings.metrics_port
    return Component(
        "metrics",
        [str(w.bin_dir / "aaiti"), "metrics", "--host", w.host, "--port", str(port)],
        w.url(port, "/metrics"),
        lambda: _http_ok(w.url(port, "/metrics"), headers=w.auth),
        w.base_env,
        port,
    )


def _supervisor(w: _Wiring) -> Component:
    return Component(
        "supervisor",
        [str(w.bin_dir / "aaiti"), "stack", "supervise"],
        str(run_dir(w.settings) / "supervisor.log"),
        lambda: beating(w.settings),
        {"AAITI_DATA_DIR": w.base_env["AAITI_DATA_DIR"]},
        None,
    )


#: The stack's services in start order (the supervisor last: it watches the others).
_SERVICES: tuple[Callable[[_Wiring], Component], ...] = (
    _prefect, _mlflow, _dashboard, _serve, _metrics, _supervisor,
)  # fmt: skip


def components(settings: Settings, *, repo: Path) -> dict[str, Component]:
    """The stack's services, each with its command, health check and environment."""
    wiring = _wiring(settings, repo)
    return {c.name: c for c in (build(wiring) for build in _SERVICES)}


def pid_file(settings: Settings, name: str) -> Path:
    return run_dir(settings) / f"{name}.pid"


def _cmdline(pid: int) -> list[str] | None:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return None
    return [p.decode(errors="replace") for p in raw.split(b"\0") if p]


def is_ours(record: dict) -> bool:
    """Alive, and still the very process we started (a recycled pid is someone else's):
    the same start time since boot, which an exec keeps (MLflow's launcher becomes its
    server). A record without one (older pid files) is matched by its command line; a
    console script shows up with its interpreter first, so both forms are accepted."""
    if "started" in record:
        return (
            _state(record["pid"]) not in (None, "Z")
            and _started(record["pid"]) == record["started"]
        )
    cmd = _cmdline(record["pid"])
    for _ in range(20):  # a process in the middle of exec shows an empty command line
        if cmd != [] or _state(record["pid"]) in (None, "Z"):
            break
        time.sleep(0.05)
        cmd = _cmdline(record["pid"])
    return bool(cmd) and (cmd == record["command"] or cmd[1:] == record["command"])


def _stat(pid: int) -> list[str]:
    """``/proc/<pid>/stat`` from its third field on (the name may hold spaces); [] if gone."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return []


def _state(pid: int) -> str | None:
    """The kernel's one-letter state of a process (Z: a zombie), None when it is gone."""
    fields = _stat(pid)
    return fields[0] if fields else None


def _started(pid: int) -> int | None:
    """When the process started, in clock ticks since boot (``stat`` field 22)."""
    fields = _stat(pid)
    return int(fields[19]) if len(fields) > 19 else None


def record_of(settings: Settings, name: str) -> dict | None:
    path = pid_file(settings, name)
    if not path.exists():
        return None
    return json.loads(path.read_text())


def _port_free(host: str, port: int) -> bool:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


def up(
    settings: Settings,
    *,
    repo: Path,
    only: list[str] | None = None,
    timeout_s: float = 120.0,
    echo: Callable[[str], None] = print,
) -> dict[str, str]:
    """Start the missing components in order, wait for each to be healthy; URLs by name.
    Off loopback, refuses (before starting anything) unless authentication is set."""
    problems = exposure_problems(settings, list(only or COMPONENTS))
    if problems:
        raise AuthConfigError(
            f"refusing to bind {settings.bind_host} (not loopback) without authentication: "
            + "; ".join(problems)
        )
    run_dir(settings).mkdir(parents=True, exist_ok=True)
    settings.prefect_home.mkdir(parents=True, exist_ok=True)
    table = components(settings, repo=repo)
    urls = {}
    for name in only or COMPONENTS:
        c = table[name]
        record = record_of(settings, name)
        if record and is_ours(record):
            echo(f"{name}: already running (pid {record['pid']})")
        else:
            if c.port is not None and not _port_free(settings.bind_host, c.port):
                raise StackError(
                    f"{name}: port {c.port} on {settings.bind_host} is taken by another process; "
                    f"stop it or set AAITI_{name.upper()}_PORT"
                )
            pid = start(settings, c, repo=repo)
            echo(f"{name}: started (pid {pid}), waiting for its health check…")
        deadline = time.monotonic() + timeout_s
        while not c.health():
            record = record_of(settings, name)
            if not (record and is_ours(record)):
                raise StackError(
                    f"{name} exited during start-up; see {run_dir(settings) / (name + '.log')}"
                )
            if time.monotonic() > deadline:
                raise StackError(f"{name} did not answer its health check in {timeout_s:.0f} s")
            time.sleep(0.5)
        urls[name] = c.url
        echo(f"{name}: healthy at {c.url}")
    return urls


def start(settings: Settings, c: Component, *, repo: Path) -> int:
    """Start one component in its own process group (``down`` stops all its children),
    logging to ``run/<name>.log``; its pid file names the pid and the exact command."""
    with (run_dir(settings) / f"{c.name}.log").open("ab") as log:
        proc = subprocess.Popen(
            c.command,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env={"MALLOC_ARENA_MAX": ARENAS, **child_environment(c.env)},
            cwd=repo,
            start_new_session=True,
        )
    record = {"pid": proc.pid, "command": c.command, "started": _started(proc.pid)}
    pid_file(settings, c.name).write_text(json.dumps(record))
    # collected the moment it ends, in a caller that outlives it: a dead server left a
    # zombie, which `kill(pid, 0)` reports alive, so Prefect's file lock on its lease
    # index, held at a SIGKILL, was never taken as stale; every later slot waited on it
    # (found by the soak: the dbt build freed and re-took the warehouse slot for 13 min)
    threading.Thread(
        target=_collect, args=(c.name, proc), name=f"reap-{c.name}", daemon=True
    ).start()
    return proc.pid


def _collect(name: str, proc: subprocess.Popen[bytes]) -> None:
    """Wait on one started component and log how it ended (the supervisor's restart line
    says what it did next; this one says why it had to)."""
    code = proc.wait()
    how = f"signal {-code}" if code < 0 else f"exit code {code}"
    level = logging.INFO if code in (0, -signal.SIGTERM) else logging.WARNING
    log.log(level, "%s: pid %d ended (%s)", name, proc.pid, how)


def status(settings: Settings, *, repo: Path) -> dict[str, str]:
    """Each component's state, health, URL and resident memory, and the stack's total."""
    table = components(settings, repo=repo)
    out = {}
    total = 0
    restarts = read_state(settings).get("services", {})
    for name in COMPONENTS:
        record = record_of(settings, name)
        if record is None:
            out[name] = "not started"
        elif not is_ours(record):
            out[name] = f"stopped (stale pid file, pid {record['pid']})"
        else:
            health = "healthy" if table[name].health() else "not answering"
            rss = tree_rss(record["pid"])
            total += rss
            out[name] = (
                f"running, pid {record['pid']}, {health}, rss {rss / 2**20:,.0f} MB, "
                f"{table[name].url}"
            )
        restarted = restarts.get(name)
        if restarted:
            out[name] += (
                f"; restarted {restarted['restarts']}× by the supervisor, last at "
                f"{restarted['last_restart']} UTC"
            )
    out["total"] = f"rss {total / 2**20:,.0f} MB resident across the running components"
    return out


def tree_rss(pid: int) -> int:
    """Resident bytes of a process and its children in its process group (a server's
    workers count; services the supervisor restarted, in groups of their own, do not)."""
    import psutil

    try:
        root = psutil.Process(pid)
        group = os.getpgid(pid)
        procs = [root, *root.children(recursive=True)]
    except (psutil.Error, ProcessLookupError):
        return 0
    procs = [p for p in procs if _pgid(p.pid) == group]
    rss = 0
    for p in procs:
        try:
            rss += p.memory_info().rss
        except psutil.Error:
            continue
    return rss


def _pgid(pid: int) -> int | None:
    try:
        return os.getpgid(pid)
    except ProcessLookupError:
        return None


def down(settings: Settings, *, grace_s: float = 20.0) -> dict[str, str]:
    """Stop what ``up`` started, newest first, by pid file only."""
    out = {}
    for name in reversed(COMPONENTS):
        record = record_of(settings, name)
        if record is None:
            continue
        pid = record["pid"]
        if not is_ours(record):
            orphans = group_members(pid)
            out[name] = f"was not running (pid {pid})"
            if orphans:  # its leader died (SIGKILL, OOM) and left workers holding a port
                reap_group(pid)
                out[name] += f"; stopped {len(orphans)} orphaned process(es) of its group"
        else:
            os.killpg(pid, signal.SIGTERM)
            deadline = time.monotonic() + grace_s
            while is_ours(record) and time.monotonic() < deadline:
                time.sleep(0.2)
            if is_ours(record):
                os.killpg(pid, signal.SIGKILL)
                out[name] = f"killed (pid {pid}) after {grace_s:.0f} s"
            else:
                out[name] = f"stopped (pid {pid})"
            reap_group(pid)
        pid_file(settings, name).unlink(missing_ok=True)
    return out


def reap_group(pgid: int, *, wait_s: float = 10.0) -> None:
    """Children that outlived their leader (its process group) get the same treatment, and
    ``down`` returns only when the whole group is gone."""
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        return
    deadline = time.monotonic() + wait_s
    while _group_alive(pgid) and time.monotonic() < deadline:
        time.sleep(0.1)


def _group_alive(pgid: int) -> bool:
    return bool(group_members(pgid))


def group_members(pgid: int) -> list[int]:
    """Running members of the session and process group ``start`` made for a component
    (zombies awaiting their parent do not count: they hold no resources and no port).

    Safe to signal after the leader is gone: Linux does not hand a pid out again while a
    process group or session still carries it, so members of session and group ``pgid``
    descend from the process we started.
    """
    members = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid and int(fields[3]) == pgid and fields[0] != "Z":
            members.append(int(stat.parent.name))
    return members


def state_path(settings: Settings) -> Path:
    return run_dir(settings) / "supervisor.json"


def read_state(settings: Settings) -> dict[str, Any]:
    """The supervisor's record: its last heartbeat and, per service, the restarts."""
    path = state_path(settings)
    try:
        state = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return state if isinstance(state, dict) else {}


def beating(settings: Settings) -> bool:
    """The supervisor's health: a heartbeat newer than a few of its intervals, written by
    the process its pid file names (not one a stopped supervisor left behind)."""
    state, record = read_state(settings), record_of(settings, "supervisor")
    beat = state.get("beat")
    if not beat or record is None or state.get("pid") != record["pid"]:
        return False
    age = (datetime.now(UTC) - datetime.fromisoformat(beat)).total_seconds()
    return age < 3 * settings.supervisor.interval_s + 5
