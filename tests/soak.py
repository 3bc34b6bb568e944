"""Soak and chaos: the served stack, replayed at its fastest schedule, with faults injected
at seeded points; afterwards, what was lost, doubled or left broken, as figures.

``make soak`` runs the long variant (``--bars 200``: every fault kind, several times);
``tests/test_soak.py`` a short one (a few bars, four faults) inside ``make test``.

The market is ``--market planted`` by default: candles with a planted, learnable edge
(``tests/support/planted.py``) on which the demo's champion and strategy qualify honestly —
the same gates as real data — so the soak places, fills and books real orders and the
ledger checks have something to check. ``--market sample`` replays the bundled real candles,
where the strategy stands aside (it has not shown it survives costs).

The run builds the demo's state in a fresh folder (``flows.demo``), starts the stack as
``make up`` does (Prefect server, MLflow, dashboard, ``aaiti-serve`` with its warm runner,
metrics and the supervisor) with the pipeline scheduled every ``--interval`` seconds
(each run releases the next bar of the market replay), and counts completed pipeline runs
as bars. At the bars the seed picks, it injects:

- ``executor``: SIGKILL of the warm runner's executor in the middle of a cycle;
- ``dbt``: SIGTERM of the executor while the cycle's transform (the dbt build) runs;
- ``prefect``, ``dashboard``, ``mlflow``: SIGKILL of the service (the supervisor restarts it);
- ``lock``: a stuck process holding the warehouse's writer lock past the writers' timeout;
- ``exchange``: an ingest of a ccxt stream (the ad-hoc ``ingest`` deployment) from a loopback
  exchange answering 5xx, 429 with Retry-After, a stalled request and truncated JSON;
- ``disk``: the data folder, on a tmpfs of its own, full for a cycle (where the machine
  lets the run mount one; otherwise the report says why it was not run).

Recovery is the time from the fault until the stack is whole again by itself: the service
answers its health check from a new process, or the next pipeline run completes. A reader
opens the serving snapshot in a loop throughout. After the stack is stopped the warehouse is
checked: every released bar exactly once, features equal to a clean full rebuild, no
duplicate predictions, orders or fills, the ledger identity at every bar, every alert
delivered. The report is JSON (stdout and ``<work>/soak.json``); the exit code is 1 when
anything was lost, doubled or not recovered.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
KINDS = ("executor", "dbt", "prefect", "dashboard", "mlflow", "lock", "exchange", "disk")
SHORT = ("executor", "dbt", "prefect", "lock")
LOCK_TIMEOUT_S = 8.0  # the writers' lock timeout during a soak (the stuck holder outlasts it)
RECOVERY_LIMIT_S = 240.0


# --- the plan ---------------------------------------------------------------------------------


def plan(*, bars: int, kinds: tuple[str, ...], seed: int, repeat: int = 1) -> list[tuple[int, str]]:
    """(bar, kind) pairs: each kind ``repeat`` times at seeded bars, none in the first bar
    (the stack settles) nor the last two (a fault needs bars after it to recover in)."""
    rng = random.Random(seed)
    slots = list(range(1, max(bars - 2, 2)))
    out = [(rng.choice(slots), kind) for kind in kinds for _ in range(repeat)]
    return sorted(out)


# --- helpers ----------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class _Receiver:
    """A loopback webhook: what the alert channel delivered."""

    posts: list[dict[str, Any]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def serve(self, port: int) -> ThreadingHTTPServer:
        state = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])) or b"{}")
                with state.lock:
                    state.posts.append(body)
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        server.daemon_threads = True
        threading.Thread(target=server.serve_forever, daemon=True).start()
        return server


@dataclass
class _Reader:
    """Opens the serving snapshot read-only in a loop, as a dashboard or an analyst does."""

    path: Path
    ok: int = 0
    failed: list[str] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)

    def loop(self) -> None:
        import duckdb

        while not self.stop.is_set():
            try:
                con = duckdb.connect(str(self.path), read_only=True)
                try:
                    con.sql("SELECT count(*) FROM marts.fct_features").fetchall()
                finally:
                    con.close()
                self.ok += 1
            except Exception as exc:  # every failed read is a finding
                self.failed.append(f"{type(exc).__name__}: {exc}"[:200])
            self.stop.wait(0.5)


class _Api:
    """The few Prefect API calls the soak needs (plain HTTP: the server restarts under it)."""

    def __init__(self, url: str) -> None:
        self.url = url

    def _post(self, path: str, body: dict[str, Any]) -> Any:
        import httpx

        return httpx.post(f"{self.url}{path}", json=body, timeout=10).json()

    def deployment_id(self, name: str) -> str:
        found = self._post("/deployments/filter", {"limit": 50})
        return str(next(d["id"] for d in found if d["name"] == name))

    def runs(self, deployment: str, states: list[str]) -> list[dict[str, Any]]:
        return list(
            self._post(
                "/flow_runs/filter",
                {
                    "deployments": {"id": {"any_": [deployment]}},
                    "flow_runs": {"state": {"type": {"any_": states}}},
                    "limit": 200,
                    "sort": "EXPECTED_START_TIME_DESC",
                },
            )
        )

    def running_subflow(self, name: str) -> list[dict[str, Any]]:
        return list(
            self._post(
                "/flow_runs/filter",
                {
                    "flows": {"name": {"any_": [name]}},
                    "flow_runs": {"state": {"type": {"any_": ["RUNNING"]}}},
                    "limit": 5,
                },
            )
        )

    def pause(self, deployment: str) -> None:
        import httpx

        httpx.post(f"{self.url}/deployments/{deployment}/pause_deployment", timeout=10)

    def create_run(self, deployment: str, parameters: dict[str, Any]) -> str:
        made = self._post(f"/deployments/{deployment}/create_flow_run", {"parameters": parameters})
        return str(made["id"])

    def state_of(self, run_id: str) -> str:
        import httpx

        run = httpx.get(f"{self.url}/flow_runs/{run_id}", timeout=10).json()
        return str(run["state"]["type"])


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _retrying(fn: Any, *args: Any, limit_s: float = 120.0) -> Any:
    """Call ``fn`` until it answers (the Prefect server may be restarting)."""
    deadline = time.monotonic() + limit_s
    while True:
        try:
            return fn(*args)
        except Exception:
            if time.monotonic() > deadline:
                raise
            time.sleep(1.0)


# --- the run ----------------------------------------------------------------------------------


@dataclass
class FaultResult:
    kind: str
    bar: int
    injected: bool
    recovered: bool
    recovery_s: float | None
    detail: str


class Soak:
    """One soak run against a stack started from ``settings`` (see the module doc)."""

    def __init__(self, settings: Any, *, exchange: Any, tmpfs: Path | None) -> None:
        from aaiti.stack import components

        self.settings = settings
        self.table = components(settings, repo=REPO)
        self.api = _Api(f"http://{settings.bind_host}:{settings.prefect_port}/api")
        self.exchange = exchange
        self.tmpfs = tmpfs
        self.pipeline = ""
        self.completed: set[str] = set()

    # the bars: completed pipeline runs
    def bars_done(self) -> int:
        runs = _retrying(self.api.runs, self.pipeline, ["COMPLETED"])
        self.completed |= {r["id"] for r in runs}
        return len(self.completed)

    def wait_bars(self, n: int, *, limit_s: float = RECOVERY_LIMIT_S) -> float | None:
        """Seconds until ``n`` pipeline runs have completed (None: not within the limit)."""
        t0 = time.monotonic()
        while time.monotonic() - t0 < limit_s:
            if self.bars_done() >= n:
                return time.monotonic() - t0
            time.sleep(0.5)
        return None

    def _running_pid(self, *, subflow: str | None, limit_s: float = 120.0) -> int | None:
        """The executor's pid while a pipeline run (or its ``subflow``) is running."""
        deadline = time.monotonic() + limit_s
        while time.monotonic() < deadline:
            try:
                running = self.api.runs(self.pipeline, ["RUNNING"])
                inner = self.api.running_subflow(subflow) if subflow else running
            except Exception:
                running, inner = [], []
            for run in running if inner else []:
                pid = int(str(run.get("infrastructure_pid") or ":0").rsplit(":", 1)[1])
                if pid and _alive(pid):  # a run the server still shows Running may be gone
                    return pid
            time.sleep(0.1)
        return None

    def stop_cleanly(self, *, limit_s: float = RECOVERY_LIMIT_S) -> None:
        """Pause the schedule and let a running cycle finish."""
        _retrying(self.api.pause, self.pipeline)
        deadline = time.monotonic() + limit_s
        while time.monotonic() < deadline:
            if not _retrying(self.api.runs, self.pipeline, ["RUNNING", "PENDING"]):
                return
            time.sleep(0.5)

    # the faults
    def inject(self, kind: str, bar: int, rng: random.Random) -> FaultResult:
        method = getattr(self, f"_fault_{kind}")
        try:
            return method(bar, rng)  # type: ignore[no-any-return]
        except Exception as exc:  # a harness failure is reported, never hidden
            return FaultResult(
                kind, bar, False, False, None, f"harness: {type(exc).__name__}: {exc}"
            )

    def _after_cycle(self, kind: str, bar: int, t0: float, detail: str) -> FaultResult:
        took = self.wait_bars(self.bars_done() + 1)
        recovered = took is not None
        return FaultResult(kind, bar, True, recovered, time.monotonic() - t0 if recovered else None,
                           detail)  # fmt: skip

    def _kill_executor(self, kind: str, bar: int, rng: random.Random, *, subflow: str | None,
                       sig: int) -> FaultResult:  # fmt: skip
        for _ in range(5):  # a cycle may end between seeing it and the signal: take the next
            pid = self._running_pid(subflow=subflow)
            if pid is None:
                return FaultResult(kind, bar, False, False, None, "no cycle was seen running")
            if subflow is None:
                time.sleep(rng.uniform(0.2, 2.0))  # somewhere in the middle of the cycle
            t0 = time.monotonic()
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                continue
            detail = f"{signal.Signals(sig).name} to executor {pid}"
            return self._after_cycle(kind, bar, t0, detail)
        return FaultResult(kind, bar, False, False, None, "the executor kept ending first")

    def _fault_executor(self, bar: int, rng: random.Random) -> FaultResult:
        return self._kill_executor("executor", bar, rng, subflow=None, sig=signal.SIGKILL)

    def _fault_dbt(self, bar: int, rng: random.Random) -> FaultResult:
        return self._kill_executor("dbt", bar, rng, subflow="transform", sig=signal.SIGTERM)

    def _kill_service(self, name: str, bar: int) -> FaultResult:
        from aaiti.stack import is_ours, record_of

        before = record_of(self.settings, name)
        if before is None:
            return FaultResult(name, bar, False, False, None, "not running")
        os.kill(before["pid"], signal.SIGKILL)
        t0 = time.monotonic()
        while time.monotonic() - t0 < RECOVERY_LIMIT_S:
            now = record_of(self.settings, name)
            if now and now["pid"] != before["pid"] and is_ours(now) and self.table[name].health():
                return FaultResult(name, bar, True, True, time.monotonic() - t0,
                                   f"SIGKILL {before['pid']} → {now['pid']}")  # fmt: skip
            time.sleep(0.2)
        return FaultResult(name, bar, True, False, None, f"SIGKILL {before['pid']}: not back")

    def _fault_prefect(self, bar: int, rng: random.Random) -> FaultResult:
        """The server dies while a cycle's dbt build holds the warehouse-writes slot: it must
        come back, and so must the slot (its lease expires), and the cycles go on."""
        self._running_pid(subflow="transform", limit_s=60.0)
        t0 = time.monotonic()
        killed = self._kill_service("prefect", bar)
        if not killed.recovered:
            return killed
        done = self._after_cycle("prefect", bar, t0, killed.detail + ", during a dbt build")
        return done

    def _fault_dashboard(self, bar: int, rng: random.Random) -> FaultResult:
        return self._kill_service("dashboard", bar)

    def _fault_mlflow(self, bar: int, rng: random.Random) -> FaultResult:
        return self._kill_service("mlflow", bar)

    def _fault_lock(self, bar: int, rng: random.Random) -> FaultResult:
        hold = LOCK_TIMEOUT_S * 2.5
        code = (
            "import sys, time; from aaiti.warehouse.lock import writer_lock; "
            f"cm = writer_lock(__import__('pathlib').Path(sys.argv[1]), timeout_s=60, "
            f"purpose='soak: a stuck writer'); cm.__enter__(); print('held', flush=True); "
            f"time.sleep({hold})"
        )
        lock = Path(str(self.settings.warehouse_path) + ".lock")
        stuck = subprocess.Popen([sys.executable, "-c", code, str(lock)], stdout=subprocess.PIPE,
                                 cwd=REPO)  # fmt: skip
        assert stuck.stdout is not None
        stuck.stdout.readline()  # it holds the lock now
        stuck.wait()
        t0 = time.monotonic()  # the stuck writer is gone: the stack must go on by itself
        return self._after_cycle("lock", bar, t0, f"writer lock held {hold:.0f} s "
                                 f"(writers time out after {LOCK_TIMEOUT_S:.0f} s)")  # fmt: skip

    def _fault_exchange(self, bar: int, rng: random.Random) -> FaultResult:
        from tests.support.fake_binance import Fault

        # a burst below the breaker's threshold: the ingest must come through it whole
        kinds = [Fault("500"), Fault("429", seconds=1), Fault("timeout", seconds=4),
                 Fault("malformed"), Fault("503"), Fault("duplicate")]  # fmt: skip
        burst = self.settings.breaker_failure_threshold - 1
        faults = rng.sample(kinds, k=min(burst, len(kinds)))
        self.exchange.inject(*faults)
        ingest = _retrying(self.api.deployment_id, "ingest")
        t0 = time.monotonic()
        run = _retrying(self.api.create_run, ingest,
                        {"source": "ccxt:binance", "exchange": "binance", "symbols": ["BTC/USDT"],
                         "timeframe": "1d", "since": "2020-01-01T00:00:00+00:00"})  # fmt: skip
        while time.monotonic() - t0 < RECOVERY_LIMIT_S:
            state = _retrying(self.api.state_of, run)
            if state in ("COMPLETED", "FAILED", "CRASHED", "CANCELLED"):
                ok = state == "COMPLETED"
                return FaultResult("exchange", bar, True, ok, time.monotonic() - t0 if ok else None,
                                   f"ccxt ingest through {len(faults)} exchange faults: {state}")  # fmt: skip
            time.sleep(0.5)
        return FaultResult("exchange", bar, True, False, None, "the ingest never finished")

    def _fault_disk(self, bar: int, rng: random.Random) -> FaultResult:
        if self.tmpfs is None:
            return FaultResult("disk", bar, False, False, None,
                               "not run: the data folder is not on a tmpfs this run could mount")  # fmt: skip
        used_kb = int(subprocess.run(["du", "-sk", str(self.tmpfs)], capture_output=True,
                                     text=True, check=True).stdout.split()[0])  # fmt: skip
        _remount(self.tmpfs, f"{used_kb + 256}k")
        t0 = time.monotonic()
        n = self.bars_done()
        time.sleep(self.settings.replay_interval_s * 1.5)  # a cycle meets the full disk
        _remount(self.tmpfs, "8g")
        full_for = time.monotonic() - t0
        took = self.wait_bars(max(n, self.bars_done()) + 1)
        ok = took is not None
        return FaultResult("disk", bar, True, ok, time.monotonic() - t0 if ok else None,
                           f"data folder full for {full_for:.0f} s")  # fmt: skip


def _remount(path: Path, size: str) -> None:
    subprocess.run(["mount", "-o", f"remount,size={size}", str(path)], check=True,
                   capture_output=True)  # fmt: skip


def _mount_tmpfs(path: Path) -> str | None:
    """Mount a tmpfs at ``path``; None, or why it could not be."""
    path.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8g", "tmpfs", str(path)],
                          capture_output=True, text=True)  # fmt: skip
    return None if done.returncode == 0 else (done.stderr.strip() or "mount failed")[:200]


# --- the checks, on the stopped stack's warehouse ----------------------------------------------

_DUPLICATES = """
SELECT 'candles', count(*) - count(DISTINCT (exchange, symbol, timeframe, ts)) FROM raw.ohlcv
UNION ALL SELECT 'predictions', count(*) - count(DISTINCT (exchange, symbol, timeframe, ts,
    model_name, model_version)) FROM ml.predictions
UNION ALL SELECT 'orders', count(*) - count(DISTINCT client_order_id) FROM trading.orders
UNION ALL SELECT 'fills', count(*) - count(DISTINCT (client_order_id, bar_ts)) FROM trading.fills
"""

# The ledger identity at every marked bar: the cash chain adds up, cash is the chain's balance
# at that bar, positions are the fills' signed quantities at that bar's close, and
# equity = cash + positions (so equity − initial = trading P&L − fees).
LEDGER_BREAKS = """
WITH chain AS (
    SELECT account, at_bar, kind, amount, balance, rowid AS n,
           lag(balance) OVER (PARTITION BY account ORDER BY rowid) AS previous
    FROM trading.ledger
), cash_at AS (
    SELECT e.account, e.ts, e.cash,
           (SELECT c.balance FROM chain c WHERE c.account = e.account
              AND (c.at_bar <= e.ts OR c.kind = 'deposit')  -- a deposit is stamped when made
            ORDER BY c.n DESC LIMIT 1) AS ledger_cash
    FROM trading.equity e
), held AS (
    SELECT e.account, e.ts, f.exchange, f.symbol,
           sum(CASE WHEN f.side = 'buy' THEN f.quantity ELSE -f.quantity END) AS qty
    FROM trading.equity e
    JOIN trading.orders o ON o.account = e.account
    JOIN trading.fills f ON f.client_order_id = o.client_order_id AND f.bar_ts <= e.ts
    GROUP BY ALL
), marked AS (
    SELECT h.account, h.ts, sum(h.qty * c.close) AS value
    FROM held h JOIN raw.ohlcv c
      ON c.exchange = h.exchange AND c.symbol = h.symbol AND c.ts = h.ts
     AND c.timeframe = (SELECT any_value(timeframe) FROM trading.orders o
                        WHERE o.account = h.account AND o.symbol = h.symbol)
    GROUP BY ALL
)
SELECT 'chain', count(*) FROM chain
WHERE previous IS NOT NULL AND abs(previous + amount - balance) > 1e-6 * greatest(1, abs(balance))
UNION ALL
SELECT 'cash', count(*) FROM cash_at
WHERE ledger_cash IS NULL OR abs(cash - ledger_cash) > 1e-6 * greatest(1, abs(cash))
UNION ALL
SELECT 'equity', count(*) FROM trading.equity
WHERE abs(cash + position_value - equity) > 1e-6 * greatest(1, abs(equity))
UNION ALL
SELECT 'positions', count(*) FROM trading.equity e LEFT JOIN marked m USING (account, ts)
WHERE abs(e.position_value - coalesce(m.value, 0)) > 1e-6 * greatest(1, abs(e.equity))
UNION ALL
SELECT 'bars', count(*) FROM trading.equity
"""

# What the soak traded, beside the account's result: orders and fills placed during it.
_TRADES = """
SELECT 'orders', count(*) FROM trading.orders
UNION ALL SELECT 'fills', count(*) FROM trading.fills
UNION ALL SELECT 'rejected', count(*) FROM trading.orders WHERE status = 'rejected'
"""


def _replayed_exactly_once(con: Any, sample_dir: Path) -> dict[str, Any]:
    """Each replayed stream: raw rows (plus those a gate quarantined) against the sample's
    candles released so far — nothing missing, nothing extra, nothing twice."""
    from aaiti.market.candles import Stream
    from aaiti.market.sample import SampleSource

    out: dict[str, Any] = {"streams": 0, "bars": 0, "missing": 0, "extra": 0}
    clock = con.sql(
        "SELECT exchange, symbol, timeframe, released_until FROM ops.replay_clock"
    ).fetchall()
    for exchange, symbol, timeframe, until in clock:
        expected = SampleSource(sample_dir, exchange=exchange).candles(
            Stream(exchange, symbol, timeframe)
        )
        expected = {t.to_pydatetime() for t in expected["ts"] if t < until}
        kept = con.execute(
            "SELECT ts FROM raw.ohlcv WHERE exchange = ? AND symbol = ? AND timeframe = ? "
            "UNION ALL SELECT ts FROM raw.ohlcv_quarantine WHERE exchange = ? AND symbol = ? "
            "AND timeframe = ?",
            [exchange, symbol, timeframe] * 2,
        ).fetchall()
        got = {r[0] for r in kept}
        if got:  # the window the system covers: from its first bar (backfills start later)
            expected = {t for t in expected if t >= min(got)}
        out["streams"] += 1
        out["bars"] += len(expected)
        out["missing"] += len(expected - got)
        out["extra"] += len(got - expected)
    return out


def _exchange_exactly_once(con: Any, frame: Any, since: datetime) -> dict[str, int]:
    served = {t.to_pydatetime() for t in frame["ts"] if t >= since}
    rows = con.sql(
        "SELECT ts FROM raw.ohlcv WHERE exchange = 'binance' AND symbol = 'BTC/USDT' "
        "AND timeframe = '1d'"
    ).fetchall()
    got = [r[0] for r in rows]
    return {"served": len(served), "stored": len(got), "missing": len(served - set(got)),
            "extra": len(set(got) - served), "twice": len(got) - len(set(got))}  # fmt: skip


def _features_equal_rebuild(settings: Any, scratch: Path) -> dict[str, Any]:
    """marts.fct_features as the soak left it against a full rebuild of the same raw data."""
    import duckdb

    from aaiti.config import load_settings
    from aaiti.transform import build

    full = load_settings(data_dir=scratch, sample_dir=settings.sample_dir)
    scratch.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(settings.warehouse_path, full.warehouse_path)
    built = build(full, full_refresh=True)
    query = ("SELECT * EXCLUDE (computed_at) FROM marts.fct_features "
             "ORDER BY exchange, symbol, timeframe, ts")  # fmt: skip
    frames = []
    for path in (settings.warehouse_path, full.warehouse_path):
        con = duckdb.connect(str(path), read_only=True)
        try:
            frames.append(con.sql(query).to_arrow_table().to_pandas())
        finally:
            con.close()
    a, b = frames
    same = bool(built.success) and a.shape == b.shape and a.equals(b)
    return {"rows": len(a), "rebuilt_rows": len(b), "equal": same}


def check(settings: Any, *, scratch: Path, exchange_frame: Any | None) -> dict[str, Any]:
    import duckdb

    con = duckdb.connect(str(settings.warehouse_path), read_only=True)
    try:
        out: dict[str, Any] = {
            "replayed": _replayed_exactly_once(con, Path(settings.sample_dir)),
            "duplicates": dict(con.sql(_DUPLICATES).fetchall()),
            "ledger": dict(con.sql(LEDGER_BREAKS).fetchall()),
            "trades": dict(con.sql(_TRADES).fetchall()),
            "alerts": _alerts(con),
        }
        if exchange_frame is not None:
            out["exchange_stream"] = _exchange_exactly_once(
                con, exchange_frame, datetime(2020, 1, 1, tzinfo=UTC)
            )
    finally:
        con.close()
    out["features"] = _features_equal_rebuild(settings, scratch)
    return out


def _alerts(con: Any) -> dict[str, Any]:
    raised, undelivered = con.sql(
        "SELECT count(*), count(*) FILTER (WHERE delivered_at IS NULL) FROM ops.alerts"
    ).fetchall()[0]
    outcomes = dict(
        con.sql(
            "SELECT status, count(*) FROM monitoring.alerts WHERE channel <> 'log' GROUP BY ALL"
        ).fetchall()
    )
    resends = con.sql("SELECT coalesce(sum(resends), 0) FROM monitoring.alerts").fetchall()[0][0]
    return {"raised": raised, "undelivered": undelivered, "outcomes": outcomes,
            "resends": int(resends)}  # fmt: skip


# --- the driver -------------------------------------------------------------------------------


MARKETS = ("planted", "sample")


def _market(work: Path, market: str) -> dict[str, str]:
    """The replayed market's settings: the bundled real candles, or a planted edge that a
    model learns and a strategy trades after costs (the soak then books real fills)."""
    if market == "sample":
        return {"AAITI_SAMPLE_DIR": str(REPO / "data" / "sample")}
    from tests.support.planted import PLANTED_START, write_planted_sample

    folder = write_planted_sample(work / "planted")
    return {
        "AAITI_SAMPLE_DIR": str(folder),
        "AAITI_REPLAY_START": PLANTED_START.isoformat(),
        "AAITI_MODEL_FOLD_PERIOD": "half",
        "AAITI_TRADING_ALLOW_SHORT": "true",
    }


def _environment(data: Path, *, interval: int, market: dict[str, str]) -> dict[str, str]:
    """The soak's settings (the stack's processes inherit them)."""
    ports = {f"AAITI_{n}_PORT": str(_free_port()) for n in ("PREFECT", "MLFLOW", "DASHBOARD",
                                                             "METRICS")}  # fmt: skip
    return {
        "AAITI_DATA_DIR": str(data),
        **market,
        "PREFECT_HOME": str(data / "prefect"),
        "AAITI_REPLAY_INTERVAL_S": str(interval),
        "AAITI_SUPERVISOR_INTERVAL_S": "1",
        "AAITI_SUPERVISOR_BACKOFF_S": "1",
        "AAITI_WRITER_LOCK_TIMEOUT_S": str(LOCK_TIMEOUT_S),
        "AAITI_CCXT_TIMEOUT_MS": "2000",
        "AAITI_CCXT_BACKOFF_BASE_S": "0.2",
        "AAITI_CCXT_MAX_RETRY_AFTER_S": "5",
        **ports,
    }


def _demo(env: dict[str, str], log: Path) -> None:
    """The demo's state: history, a champion, a few replayed bars traded."""
    from aaiti.config import OFFLINE_ENV

    child = {k: v for k, v in os.environ.items() if not k.startswith("AAITI_")}
    child.pop("PREFECT_API_URL", None)  # the demo runs on an ephemeral server of its own
    child |= OFFLINE_ENV | env | {"PYTHONPATH": str(REPO)}
    with log.open("wb") as out:
        subprocess.run([sys.executable, "-m", "flows.demo"], env=child, cwd=REPO, check=True,
                       stdout=out, stderr=subprocess.STDOUT)  # fmt: skip


def _percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    if len(values) == 1:
        return values[0]
    return float(statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1])


def run(*, work: Path, bars: int, kinds: tuple[str, ...], seed: int, repeat: int,
        interval: int, market: str = "planted") -> dict[str, Any]:  # fmt: skip
    import pandas as pd

    data = work / "data"
    tmpfs_why = _mount_tmpfs(data) if "disk" in kinds else "not asked for"
    tmpfs = data if tmpfs_why is None else None
    (data / "prefect").mkdir(parents=True, exist_ok=True)
    env = _environment(data, interval=interval, market=_market(work, market))
    t_demo = time.monotonic()
    _demo(env, work / "demo.log")
    demo_s = time.monotonic() - t_demo

    receiver, alert_port = _Receiver(), _free_port()
    http = receiver.serve(alert_port)
    frame = pd.read_parquet(REPO / "data" / "sample" / "binance" / "BTC-USDT" / "1d.parquet")
    from tests.support.fake_binance import FakeBinance

    exchange = FakeBinance({"BTCUSDT": frame}, "1d", max_limit=100).__enter__()
    for k in [k for k in os.environ if k.startswith("AAITI_")]:
        del os.environ[k]
    os.environ.pop("PREFECT_API_URL", None)
    from aaiti.config import OFFLINE_ENV

    os.environ.update(OFFLINE_ENV | env)
    os.environ["AAITI_ALERT_URLS"] = f"json://127.0.0.1:{alert_port}/soak"
    os.environ["AAITI_CCXT_API_BASE_URL"] = exchange.url

    from aaiti.config import load_settings
    from aaiti.stack import COMPONENTS, down, up

    settings = load_settings()
    rng = random.Random(seed)
    schedule = plan(bars=bars, kinds=kinds, seed=seed, repeat=repeat)
    reader = _Reader(Path(settings.serving_path))
    faults: list[FaultResult] = []
    runs: dict[str, int] = {}
    healthy: dict[str, bool] = {}
    t0 = time.monotonic()
    up(settings, repo=REPO, timeout_s=300, echo=lambda line: print(line, file=sys.stderr))
    soak = Soak(settings, exchange=exchange, tmpfs=tmpfs)
    try:
        soak.pipeline = _retrying(soak.api.deployment_id, "pipeline")
        threading.Thread(target=reader.loop, daemon=True).start()
        for bar, kind in schedule:
            soak.wait_bars(bar, limit_s=RECOVERY_LIMIT_S + bar * interval * 3)
            print(f"bar {soak.bars_done()}: {kind}", file=sys.stderr)
            faults.append(soak.inject(kind, soak.bars_done(), rng))
            print(f"  {faults[-1]}", file=sys.stderr)
        soak.wait_bars(bars, limit_s=RECOVERY_LIMIT_S + bars * interval * 3)
        _wait_delivered(settings, limit_s=interval * 3)
        soak.stop_cleanly()  # an operator's stop: no cycle cut in half by the harness itself
        healthy = {n: soak.table[n].health() for n in COMPONENTS}
        for state in ("COMPLETED", "FAILED", "CRASHED", "CANCELLED"):
            runs[state.lower()] = len(_retrying(soak.api.runs, soak.pipeline, [state]))
    finally:
        reader.stop.set()
        down(settings)
        exchange.__exit__(None, None, None)
        http.shutdown()
    wall = time.monotonic() - t0
    lost_alerts = sum(
        log.read_text(errors="replace").count("could not raise the")
        for log in (data / "run").glob("*.log")
    )
    checks = check(settings, scratch=work / "rebuild",
                   exchange_frame=frame if "exchange" in kinds else None)  # fmt: skip
    if tmpfs is not None:
        subprocess.run(["umount", "-l", str(tmpfs)], check=False, capture_output=True)
    return _report(
        bars=bars,
        seed=seed,
        interval=interval,
        demo_s=demo_s,
        wall_s=wall,
        faults=faults,
        runs=runs,
        healthy=healthy,
        reader=reader,
        checks=checks,
        receiver=receiver,
        disk=tmpfs_why,
        lost_alerts=lost_alerts,
        market=market,
    )


def _wait_delivered(settings: Any, *, limit_s: float) -> None:
    """Alerts raised by the last cycles are delivered by the next ones: wait for that."""
    import duckdb

    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        try:
            con = duckdb.connect(str(settings.serving_path), read_only=True)
            try:
                left = con.sql(
                    "SELECT count(*) FROM ops.alerts WHERE delivered_at IS NULL"
                ).fetchall()[0]
            finally:
                con.close()
            if left and left[0] == 0:
                return
        except Exception:
            pass
        time.sleep(1.0)


def _report(*, bars: int, seed: int, interval: int, demo_s: float, wall_s: float,
            faults: list[FaultResult], runs: dict[str, int], healthy: dict[str, bool],
            reader: _Reader, checks: dict[str, Any], receiver: _Receiver,
            disk: str | None, lost_alerts: int, market: str) -> dict[str, Any]:  # fmt: skip
    times = [f.recovery_s for f in faults if f.recovery_s is not None]
    by_kind: dict[str, list[float]] = {}
    for f in faults:
        if f.recovery_s is not None:
            by_kind.setdefault(f.kind, []).append(f.recovery_s)
    skipped = [f for f in faults if not f.injected]
    replayed, dup, ledger = checks["replayed"], checks["duplicates"], checks["ledger"]
    alerts = checks["alerts"]
    lost = replayed["missing"] + checks.get("exchange_stream", {}).get("missing", 0)
    doubled = (
        sum(dup.values()) + replayed["extra"] + checks.get("exchange_stream", {}).get("twice", 0)
    )
    problems = {
        "lost": lost,
        "doubled": doubled,
        "features_differ": not checks["features"]["equal"],
        "ledger_breaks": sum(v for k, v in ledger.items() if k != "bars"),
        # an alert a stage could not even raise (it says so in its log) is lost too
        "undelivered_alerts": alerts["undelivered"]
        + alerts["outcomes"].get("failed", 0)
        + lost_alerts,
        "not_recovered": sum(f.injected and not f.recovered for f in faults),
        "not_injected": sum(not f.injected and not (f.kind == "disk" and disk) for f in faults),
        "reader_failures": len(reader.failed),
        "unhealthy_at_end": sorted(n for n, ok in healthy.items() if not ok),
        "pipeline_bars": runs.get("completed", 0) < bars,
        # on the planted edge the qualified strategy must trade, or the ledger went unchecked
        "no_fills": market == "planted" and checks["trades"].get("fills", 0) == 0,
    }
    return {
        "ok": not any(problems.values()),
        "problems": problems,
        "bars": runs.get("completed", 0),
        "asked_bars": bars,
        "seed": seed,
        "market": market,
        "interval_s": interval,
        "demo_s": round(demo_s, 1),
        "wall_s": round(wall_s, 1),
        "pipeline_runs": runs,
        "faults": [asdict(f) for f in faults],
        "faults_not_run": [f"{f.kind}: {f.detail}" for f in skipped],
        "recovery_s": {
            "p50": _percentile(times, 50),
            "p95": _percentile(times, 95),
            "by_kind": {
                k: {"n": len(v), "p50": _percentile(v, 50), "max": max(v)}
                for k, v in sorted(by_kind.items())
            },
        },
        "reader": {"reads": reader.ok, "failed": len(reader.failed), "errors": reader.failed[:5]},
        "alerts": alerts | {"received": len(receiver.posts), "could_not_raise": lost_alerts},
        "checks": checks,
        "disk": disk or "run on a tmpfs",
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tests.soak", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--bars", type=int, default=200)
    parser.add_argument("--faults", default=",".join(KINDS),
                        help=f"comma-separated, of: {', '.join(KINDS)}")  # fmt: skip
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--repeat",
        type=int,
        default=0,
        help="times each fault is injected (0: one per 40 bars, at least 1)",
    )
    parser.add_argument("--interval", type=int, default=10, help="seconds between bars (≥ 10)")
    parser.add_argument("--work", type=Path, default=None, help="a new folder for the run")
    parser.add_argument("--market", default="planted", choices=MARKETS,
                        help="planted: a learnable edge the strategy trades; sample: real candles")  # fmt: skip
    args = parser.parse_args(argv)
    kinds = tuple(k.strip() for k in args.faults.split(",") if k.strip())
    unknown = sorted(set(kinds) - set(KINDS))
    if unknown or args.bars < 4 or args.interval < 10:
        print(f"soak: bad arguments ({', '.join(unknown) or 'bars ≥ 4 and interval ≥ 10'}); "
              f"faults are {', '.join(KINDS)}", file=sys.stderr)  # fmt: skip
        return 2
    work = args.work or Path(tempfile.mkdtemp(prefix="aaiti-soak-"))
    work.mkdir(parents=True, exist_ok=True)
    repeat = args.repeat or max(1, args.bars // 40)
    report = run(work=work, bars=args.bars, kinds=kinds, seed=args.seed, repeat=repeat,
                 interval=args.interval, market=args.market)  # fmt: skip
    text = json.dumps(report, indent=1, default=str)
    (work / "soak.json").write_text(text)
    print(text)
    return 0 if report["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
