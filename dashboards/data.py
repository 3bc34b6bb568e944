"""Cached, read-only loaders over the serving snapshot — the dashboards' only data access.

Every query opens the snapshot read-only, runs one named ``.sql`` file and closes, so a
writer publishing a new snapshot is never blocked (it swaps the file by rename; an open
reader keeps the old one). Results are cached for ``TTL_S`` seconds. With no snapshot yet,
loaders raise :class:`NoSnapshotError` and pages show how to produce one.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pandas as pd
import streamlit as st

from aaiti.auth import User
from aaiti.config import Settings, load_settings

TTL_S = 30
SQL_DIR = Path(__file__).resolve().parent / "sql"


class NoSnapshotError(RuntimeError):
    """The pipeline has not published a serving snapshot yet."""


@st.cache_resource
def settings() -> Settings:
    """Read once for the app's life (the edge)."""
    return load_settings()


def _connect(path: Path) -> duckdb.DuckDBPyConnection:
    if not path.exists():
        raise NoSnapshotError(f"no serving snapshot at {path}")
    con = duckdb.connect(str(path), read_only=True)
    con.execute("SET TimeZone = 'UTC'")
    return con


@st.cache_data(ttl=TTL_S, show_spinner=False)
def query(name: str, params: tuple = ()) -> pd.DataFrame:
    """The result of ``sql/<name>.sql`` on the snapshot (positional ``$n`` parameters)."""
    sql = (SQL_DIR / f"{name}.sql").read_text()
    con = _connect(settings().serving_path)
    try:
        return con.sql(sql, params=list(params)).to_arrow_table().to_pandas()
    finally:
        con.close()


@st.cache_data(ttl=TTL_S, show_spinner=False)
def account_total() -> str | None:
    """The account's books totalled in AAITI_TRADING_REPORT_CURRENCY, as one line (None:
    no report currency set, or the books do not resolve)."""
    from aaiti.books import BookSettingsError
    from aaiti.trading.accounts import account_total as total_of
    from aaiti.trading.accounts import said_total

    cfg = settings().trading
    if not cfg.report_currency:
        return None
    con = _connect(settings().serving_path)
    try:
        return said_total(total_of(con, cfg, currency=cfg.report_currency))
    except BookSettingsError as err:
        return f"no total: {err}"
    finally:
        con.close()


def snapshot_ready() -> bool:
    return settings().serving_path.exists()


def current_user() -> User | None:
    """The logged-in user; None when no users are configured (the stack then binds
    loopback only). Without a login, the login form and nothing else."""
    from aaiti.auth import dashboard_users, login

    s = settings()
    if not dashboard_users(s):
        return None
    user = st.session_state.get("user")
    if user is not None:
        st.sidebar.caption(f"Logged in as **{user.name}** ({user.role})")
        if st.sidebar.button("Log out"):
            del st.session_state["user"]
            st.rerun()
        return user
    st.title("AAITI — log in")
    with st.form("login"):  # one submit carries both fields, however the user left them
        name = st.text_input("User")
        password = st.text_input("Password", type="password")
        submitted = st.form_submit_button("Log in", type="primary")
    if submitted:
        found = login(s, name, password)
        if found is None:
            st.error("Unknown user or wrong password.")
        else:
            st.session_state["user"] = found
            st.rerun()
    st.stop()
    return None


def page(title: str) -> User | None:
    """A page's title after the login; with no snapshot yet, the empty state and nothing
    else. Returns the logged-in user (None when the dashboard has no users)."""
    user = current_user()
    st.title(title)
    if not snapshot_ready():
        empty_state()
        st.stop()
    return user


def empty_state() -> None:
    st.info(
        "The pipeline has not run yet, so there is nothing to show. Run `make demo` "
        "(or `make up` and wait for the first `pipeline` run); this page fills in by itself."
    )


@dataclass(frozen=True)
class AnalystResult:
    frame: pd.DataFrame
    truncated: bool


class QueryTimeoutError(RuntimeError):
    pass


class QueryLimitError(RuntimeError):
    """The query needed more memory or spill space than an analyst's caps allow."""


def analyst_query(sql: str, *, row_limit: int, timeout_s: float) -> AnalystResult:
    """An analyst's query, unable to write by construction and unable to take the machine.

    The snapshot is opened read-only (DuckDB refuses every write to it); external access is
    switched off (no ATTACH of another file, no COPY TO, no reading files) and the
    configuration is locked so the query cannot switch it back on. It runs under its own
    memory, spill-space and thread caps from settings, so the pipeline sharing the machine
    keeps its share. Rows beyond the limit are not fetched; a query still running at the
    timeout is interrupted.
    """
    s = settings()
    con = _connect(s.serving_path)
    spill = s.data_dir / "tmp" / "analyst"
    spill.mkdir(parents=True, exist_ok=True)
    con.execute(f"SET memory_limit = '{s.analyst_memory_limit}'")  # patterns checked them
    con.execute(f"SET max_temp_directory_size = '{s.analyst_temp_limit}'")
    con.execute("SET temp_directory = ?", [str(spill)])
    con.execute(f"SET threads = {int(s.analyst_threads)}")
    con.execute("SET enable_external_access = false")
    con.execute("SET lock_configuration = true")
    timer = threading.Timer(timeout_s, con.interrupt)
    timer.start()
    try:
        rel = con.sql(sql)
        if rel is None:
            return AnalystResult(pd.DataFrame(), False)
        table = rel.limit(row_limit + 1).to_arrow_table()
    except duckdb.InterruptException:
        raise QueryTimeoutError(
            f"the query ran longer than {timeout_s:g} s and was stopped"
        ) from None
    except duckdb.OutOfMemoryException:
        raise QueryLimitError(
            f"the query needs more than an analyst's {s.analyst_memory_limit} of memory and "
            f"{s.analyst_temp_limit} of spill space (AAITI_ANALYST_MEMORY_LIMIT, "
            "AAITI_ANALYST_TEMP_LIMIT) and was stopped; narrow it, or raise the caps"
        ) from None
    finally:
        timer.cancel()
        con.close()
    frame = table.to_pandas()
    return AnalystResult(frame.head(row_limit), len(frame) > row_limit)


def prefect_api(settings_: Settings) -> str:
    return f"http://{settings_.bind_host}:{settings_.prefect_port}/api"


@st.cache_data(ttl=10, show_spinner=False)
def prefect_runs(limit: int = 20) -> pd.DataFrame | None:
    """The newest runs that ran or are running (not the future scheduled ones), newest
    first, with human durations; None when the Prefect API does not answer."""
    import httpx

    from aaiti.auth import basic_auth_header, stack_credentials

    api = prefect_api(settings())
    creds = stack_credentials(settings())
    headers = basic_auth_header(creds) if creds else None
    states = ["RUNNING", "COMPLETED", "FAILED", "CRASHED", "CANCELLED"]
    body = {"sort": "START_TIME_DESC", "limit": limit,
            "flow_runs": {"state": {"type": {"any_": states}}}}  # fmt: skip
    try:
        runs = httpx.post(f"{api}/flow_runs/filter", json=body, headers=headers, timeout=1.5)
        flows = httpx.post(f"{api}/flows/filter", json={}, headers=headers, timeout=1.5).json()
        runs = runs.json()
    except (httpx.HTTPError, ValueError):
        return None
    if not isinstance(runs, list):
        return None
    names = {f["id"]: f["name"] for f in flows} if isinstance(flows, list) else {}
    now = pd.Timestamp.now(tz="UTC")
    rows = []
    for r in runs:
        start = pd.Timestamp(r["start_time"]) if r.get("start_time") else None
        end = pd.Timestamp(r["end_time"]) if r.get("end_time") else now
        rows.append(
            {
                "flow": names.get(r["flow_id"], r["flow_id"]),
                "run": r["name"],
                "state": (r.get("state") or {}).get("name"),
                "started (UTC)": start.strftime("%Y-%m-%d %H:%M:%S") if start else "–",
                "took": human_age(end - start) if start is not None else "–",
                "_seconds": (end - start).total_seconds() if start is not None else None,
            }
        )
    columns = ["flow", "run", "state", "started (UTC)", "took", "_seconds"]
    return pd.DataFrame(rows, columns=columns)  # "_" columns: for health, not shown


def mlflow_url() -> str:
    s = settings()
    return f"http://{s.bind_host}:{s.mlflow_port}"


@st.cache_data(ttl=60, show_spinner=False)
def registry() -> dict[str, list[dict]]:
    """Registered models with their versions, metrics, folds and importance image (MLflow)."""
    import json
    import tempfile

    s = settings()
    if not (s.data_dir / "mlflow" / "mlflow.db").exists():
        return {}
    from aaiti.ml.tracking import tracker_for

    tracker = tracker_for(s)
    client = tracker.client
    out: dict[str, list[dict]] = {}
    for model in client.search_registered_models():
        versions = []
        for v in reversed(tracker.versions(model.name)):
            run = client.get_run(v.run_id)
            folds, image = [], None
            with tempfile.TemporaryDirectory() as tmp:
                for path in ("folds.json", "feature_importance.png"):
                    try:
                        local = client.download_artifacts(v.run_id, path, tmp)
                    except Exception:  # an artifact missing from an old run: shown as missing
                        continue
                    if path.endswith(".json"):
                        folds = json.loads(Path(local).read_text())
                    else:
                        image = Path(local).read_bytes()
            versions.append(
                {
                    "version": v.version,
                    "aliases": v.aliases,
                    "metrics": v.metrics,
                    "params": v.params,
                    "run_id": v.run_id,
                    "experiment_id": run.info.experiment_id,
                    "folds": folds,
                    "importance": image,
                }
            )
        out[model.name] = versions
    return out


def halt_trading(*, actor: str, reason: str) -> str:
    """The CLI's halt (audited), then a fresh snapshot so every page shows it."""
    from aaiti.trading.halt import halt
    from aaiti.warehouse import Warehouse

    s = settings()
    message = halt(s, actor=f"dashboard:{actor}", reason=reason)
    Warehouse.from_settings(s).publish_snapshot()
    st.cache_data.clear()
    return message


def resume_trading(*, actor: str) -> tuple[bool, str]:
    """The CLI's resume: refused (and audited) until the drawdown has recovered."""
    from aaiti.trading.halt import resume
    from aaiti.warehouse import Warehouse

    s = settings()
    try:
        message = resume(s, actor=f"dashboard:{actor}")
    except PermissionError as err:
        ok, message = False, str(err)
    else:
        ok = True
    Warehouse.from_settings(s).publish_snapshot()
    st.cache_data.clear()
    return ok, message


def blocked_banner() -> None:
    """Streams a quality gate blocks: no orders there; a position held is stale."""
    import streamlit as st

    for r in query("blocked_streams").itertuples(index=False):
        held = r.quantity is not None and r.quantity == r.quantity and abs(r.quantity) > 1e-12
        st.warning(
            f"BLOCKED {r.exchange}:{r.symbol} {r.timeframe} by its {r.checkpoint} gate since "
            f"{r.updated_at:%Y-%m-%d %H:%M} UTC — {r.reason}. No orders on this stream"
            + (
                f"; the position of {r.quantity:.8g} is stale, marked at its last accepted "
                f"close {r.mark_price:.8g}."
                if held
                else "."
            )
        )


def human_age(delta: pd.Timedelta) -> str:
    """'699 d 7 h', '3 h 12 min', '45 s': how long ago, at the precision a person reads."""
    if pd.isna(delta):
        return "–"
    seconds = int(delta.total_seconds())
    days, rest = divmod(seconds, 86_400)
    hours, rest = divmod(rest, 3_600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days} d {hours} h"
    if hours:
        return f"{hours} h {minutes} min"
    return f"{minutes} min {secs} s" if minutes else f"{secs} s"


def money(value: float | None) -> str:
    """An amount in the account's currency, with thousands separators and cents."""
    return "–" if value is None or pd.isna(value) else f"{value:,.2f}"
