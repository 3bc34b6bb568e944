"""Prometheus metrics: the numbers the dashboards show, read at scrape time.

Nothing is counted in process: each scrape reads the serving snapshot (streams, gates,
quarantine, the strategy and its champion, drift and AUC, equity, risk, orders and
refusals, halts, alerts) and the Prefect API (each flow's newest finished run and its
duration), so the exporter reports the same numbers as the dashboards wherever the cycle
ran. A source that cannot be read says so (``aaiti_snapshot_up`` / ``aaiti_prefect_up``
= 0) instead of reporting stale or zero values.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from aaiti.auth import basic_auth_header, stack_credentials
from aaiti.config import Settings, prefect_api_url
from aaiti.warehouse import Warehouse
from aaiti.warehouse.sql import load_sql

log = logging.getLogger(__name__)
_SQL = "aaiti.monitoring"
STREAM = ("exchange", "symbol", "timeframe")


@dataclass(frozen=True)
class Family:
    """One gauge family from one column of a named query's rows."""

    name: str
    help: str
    query: str
    labels: tuple[str, ...]
    value: str
    where: Callable[[dict[str, Any]], bool] | None = None
    label_map: Callable[[dict[str, Any]], tuple[str, ...]] | None = None


FAMILIES: tuple[Family, ...] = (
    Family("aaiti_stream_candles", "Candles stored per stream.", "metrics_streams", STREAM, "candles"),
    Family("aaiti_stream_newest_bar_timestamp_seconds", "Open time of the newest stored bar.",
           "metrics_streams", STREAM, "newest"),
    Family("aaiti_stream_quarantined_rows", "Rows quarantined per stream.", "metrics_streams",
           STREAM, "quarantined"),
    Family("aaiti_gate_blocked", "1 while a stream's quality gate blocks it.", "metrics_gates",
           ("checkpoint", *STREAM), "blocked"),
    Family("aaiti_ingest_runs", "Ingest runs by kind and outcome.", "metrics_ingest_runs",
           ("kind", "status"), "runs"),
    Family("aaiti_ingest_inserted_candles", "Candles inserted by ingest runs.",
           "metrics_ingest_runs", ("kind", "status"), "inserted"),
    Family("aaiti_champion_version", "Model version behind the deployed strategy.",
           "metrics_strategy", ("strategy", "timeframe", "model_name"), "model_version"),
    Family("aaiti_strategy_qualified", "1 when the strategy may trade (qualified net of costs).",
           "metrics_strategy", ("strategy", "timeframe"), "qualified"),
    Family("aaiti_strategy_net_sharpe", "Out-of-sample Sharpe, net of fees and slippage.",
           "metrics_strategy", ("strategy", "timeframe"), "net_sharpe"),
    Family("aaiti_strategy_net_total_return", "Out-of-sample total return, net of costs.",
           "metrics_strategy", ("strategy", "timeframe"), "net_total_return"),
    Family("aaiti_strategy_net_max_drawdown", "Out-of-sample max drawdown, net of costs.",
           "metrics_strategy", ("strategy", "timeframe"), "net_max_drawdown"),
    Family("aaiti_strategy_buy_and_hold_sharpe", "Buy-and-hold Sharpe over the same window.",
           "metrics_strategy", ("strategy", "timeframe"), "bh_sharpe"),
    Family("aaiti_strategy_deflated_sharpe", "Deflated Sharpe ratio (probability).",
           "metrics_strategy", ("strategy", "timeframe"), "dsr"),
    Family("aaiti_strategy_benchmark_p_value", "Ledoit–Wolf p-value: Sharpe not above the benchmark's.",
           "metrics_strategy", ("strategy", "timeframe"), "benchmark_p_value"),
    Family("aaiti_strategy_spa_p_value", "Hansen's SPA p-value: no candidate beats the benchmark.",
           "metrics_strategy", ("strategy", "timeframe"), "spa_p_value"),
    Family("aaiti_strategy_trials", "Trials counted in the deflated Sharpe ratio.",
           "metrics_strategy", ("strategy", "timeframe"), "trials"),
    Family("aaiti_drift_share", "Share of the champion's features that drifted.",
           "metrics_drift", ("model_name", "model_version"), "drifted_share"),
    Family("aaiti_live_auc", "AUC of the champion's matured live predictions.",
           "metrics_drift", ("model_name", "model_version"), "current_auc"),
    Family("aaiti_oos_auc", "The champion's walk-forward out-of-sample AUC.",
           "metrics_drift", ("model_name", "model_version"), "reference_auc"),
    Family("aaiti_equity", "Account equity at the newest mark.", "metrics_equity",
           ("account",), "equity"),
    Family("aaiti_cash", "Account cash at the newest mark.", "metrics_equity", ("account",), "cash"),
    Family("aaiti_position_value", "Marked value of the positions.", "metrics_equity",
           ("account",), "position_value"),
    Family("aaiti_drawdown", "Drawdown from the equity peak at the newest mark.",
           "metrics_equity", ("account",), "drawdown"),
    Family("aaiti_risk", "Newest risk metrics (VaR, CVaR, exposure, volatility …).",
           "metrics_risk", ("account", "metric"), "value"),
    Family("aaiti_risk_judged", "1 when the risk metric could be computed, 0 when not.",
           "metrics_risk", ("account", "metric"), "judged"),
    Family("aaiti_orders", "Orders by status.", "metrics_orders", ("account", "status"), "n",
           where=lambda r: r["kind"] == "order", label_map=lambda r: (r["account"], r["label"])),
    Family("aaiti_risk_refusals", "Orders the risk gate refused, by rule.", "metrics_orders",
           ("account", "rule"), "n", where=lambda r: r["kind"] == "refusal",
           label_map=lambda r: (r["account"], r["label"])),
    Family("aaiti_halted", "1 while trading is halted (manual, kill switch or breaker).",
           "metrics_halt", ("account",), "halted"),
    Family("aaiti_alerts", "Alert deliveries by channel and outcome (and the pending outbox).",
           "metrics_alerts", ("channel", "status"), "n"),
)  # fmt: skip


#: Families outside FAMILIES: the sources' health and Prefect's flow runs.
OTHER_METRICS = (
    "aaiti_snapshot_up",
    "aaiti_snapshot_age_seconds",
    "aaiti_prefect_up",
    "aaiti_flow_last_run_duration_seconds",
    "aaiti_flow_last_run_end_timestamp_seconds",
    "aaiti_flow_runs",
    "aaiti_flow_runs_running",
    "aaiti_flow_oldest_running_seconds",
)


class SnapshotCollector:
    """Every family from one read-only connection to the serving snapshot per scrape."""

    def __init__(self, warehouse: Warehouse) -> None:
        self.warehouse = warehouse

    def describe(self) -> list:
        return []  # families depend on what the snapshot holds: no eager collect

    def collect(self) -> Iterator[Any]:
        from prometheus_client.core import GaugeMetricFamily

        up = GaugeMetricFamily("aaiti_snapshot_up", "1 when the serving snapshot could be read.")
        try:
            rows = self._rows()
        except Exception as err:  # missing, mid-swap or older than a migration: say so
            log.warning("metrics: the snapshot cannot be read: %s", err)
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        age = GaugeMetricFamily("aaiti_snapshot_age_seconds", "Seconds since it was published.")
        age.add_metric([], time.time() - self.warehouse.serving_path.stat().st_mtime)
        yield age
        for family in FAMILIES:
            gauge = GaugeMetricFamily(family.name, family.help, labels=list(family.labels))
            for row in rows[family.query]:
                if family.where and not family.where(row):
                    continue
                value = row[family.value]  # a column a family names must exist
                if value is None:
                    continue  # not judged: absent, never a neutral number
                labels = (
                    family.label_map(row)
                    if family.label_map
                    else tuple(str(row[k]) for k in family.labels)
                )
                gauge.add_metric([str(x) for x in labels], float(value))
            yield gauge

    def _rows(self) -> dict[str, list[dict[str, Any]]]:
        con = self.warehouse.read()
        try:
            out = {}
            for query in sorted({f.query for f in FAMILIES}):
                result = con.execute(load_sql(_SQL, query))
                names = [d[0] for d in result.description]
                out[query] = [dict(zip(names, r, strict=True)) for r in result.fetchall()]
            for row in out["metrics_risk"]:
                row["judged"] = int(row["status"] == "ok")
            return out
        finally:
            con.close()


class PrefectCollector:
    """Each flow's newest finished run (state, duration) and run counts from the API."""

    def __init__(
        self,
        api_url: str,
        *,
        headers: dict[str, str] | None = None,
        recent: int = 200,
        timeout_s: float = 3.0,
    ) -> None:
        self.api_url = api_url.rstrip("/")
        self.headers = headers or {}
        self.recent = recent
        self.timeout_s = timeout_s

    def describe(self) -> list:
        return []

    def collect(self) -> Iterator[Any]:
        from prometheus_client.core import GaugeMetricFamily

        up = GaugeMetricFamily("aaiti_prefect_up", "1 when the Prefect API answered.")
        try:
            runs, running, flows = self._runs()
        except Exception as err:
            log.warning("metrics: the Prefect API cannot be read: %s", err)
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        duration = GaugeMetricFamily(
            "aaiti_flow_last_run_duration_seconds",
            "Duration of each flow's newest finished run.",
            labels=["flow", "state"],
        )
        finished = GaugeMetricFamily(
            "aaiti_flow_last_run_end_timestamp_seconds",
            "When each flow's newest finished run ended.",
            labels=["flow", "state"],
        )
        counts = GaugeMetricFamily(
            "aaiti_flow_runs", f"Flow runs by final state among the newest {self.recent}.",
            labels=["flow", "state"],
        )  # fmt: skip
        seen: set[str] = set()
        tally: dict[tuple[str, str], int] = {}
        for run in runs:  # newest first
            flow, state = flows.get(run["flow_id"], run["flow_id"]), run["state_type"]
            tally[(flow, state)] = tally.get((flow, state), 0) + 1
            if flow not in seen and run.get("end_time") and run.get("start_time"):
                seen.add(flow)
                end = _epoch(run["end_time"])
                duration.add_metric([flow, state], end - _epoch(run["start_time"]))
                finished.add_metric([flow, state], end)
        for (flow, state), n in sorted(tally.items()):
            counts.add_metric([flow, state], n)
        yield from (duration, finished, counts, *self._running(running, flows))

    @staticmethod
    def _running(running: list[dict], flows: dict[str, str]) -> tuple[Any, Any]:
        """Runs Running now by flow, and how long the oldest of each has run: a run whose
        process died and nobody marked shows here as an age that only grows."""
        from prometheus_client.core import GaugeMetricFamily

        count = GaugeMetricFamily("aaiti_flow_runs_running", "Flow runs Running now.",
                                  labels=["flow"])  # fmt: skip
        oldest = GaugeMetricFamily(
            "aaiti_flow_oldest_running_seconds",
            "How long each flow's oldest Running run has run (stuck: it only grows).",
            labels=["flow"],
        )
        now = time.time()
        by_flow: dict[str, list[float]] = {}
        for run in running:
            started = _epoch(run["start_time"]) if run.get("start_time") else now
            by_flow.setdefault(flows.get(run["flow_id"], run["flow_id"]), []).append(started)
        for flow, starts in sorted(by_flow.items()):
            count.add_metric([flow], len(starts))
            oldest.add_metric([flow], now - min(starts))
        return count, oldest

    def _runs(self) -> tuple[list[dict], list[dict], dict[str, str]]:
        import httpx

        final = ["COMPLETED", "FAILED", "CRASHED", "CANCELLED"]
        body = {"sort": "END_TIME_DESC", "limit": self.recent,
                "flow_runs": {"state": {"type": {"any_": final}}}}  # fmt: skip
        now = {"limit": self.recent, "flow_runs": {"state": {"type": {"any_": ["RUNNING"]}}}}
        with httpx.Client(timeout=self.timeout_s, headers=self.headers) as client:
            r = client.post(f"{self.api_url}/flow_runs/filter", json=body)
            r.raise_for_status()
            runs = r.json()
            g = client.post(f"{self.api_url}/flow_runs/filter", json=now)
            g.raise_for_status()
            running = g.json()
            ids = sorted({x["flow_id"] for x in runs + running})
            f = client.post(f"{self.api_url}/flows/filter", json={"flows": {"id": {"any_": ids}}})
            f.raise_for_status()
        return runs, running, {x["id"]: x["name"] for x in f.json()}


def _epoch(text: str) -> float:
    from datetime import datetime

    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def registry_for(settings: Settings, *, api_url: str | None = None) -> Any:
    from prometheus_client import CollectorRegistry

    creds = stack_credentials(settings)
    registry = CollectorRegistry(auto_describe=False)
    registry.register(SnapshotCollector(Warehouse.from_settings(settings)))
    registry.register(
        PrefectCollector(
            api_url or prefect_api_url(settings),  # the settings' edge reads the environment
            headers=basic_auth_header(creds) if creds else None,
        )
    )
    return registry


def serve_metrics(
    settings: Settings, *, host: str, port: int, api_url: str | None = None
) -> tuple[Any, Any]:
    """Start the exporter's HTTP server in a thread; returns (server, thread). With
    ``AAITI_STACK_AUTH`` every request must carry its basic auth (else 401)."""
    import threading
    from wsgiref.simple_server import WSGIRequestHandler, make_server

    from prometheus_client import make_wsgi_app
    from prometheus_client.exposition import ThreadingWSGIServer

    app = make_wsgi_app(registry_for(settings, api_url=api_url))
    creds = stack_credentials(settings)
    if creds:
        app = _basic_auth(app, creds)

    class Quiet(WSGIRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = make_server(host, port, app, ThreadingWSGIServer, handler_class=Quiet)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    return server, thread


def _basic_auth(app: Any, creds: tuple[str, str]) -> Any:
    import hmac

    expected = basic_auth_header(creds)["Authorization"]

    def guarded(environ: dict, start_response: Any) -> Any:
        if hmac.compare_digest(environ.get("HTTP_AUTHORIZATION", ""), expected):
            return app(environ, start_response)
        start_response("401 Unauthorized", [("WWW-Authenticate", 'Basic realm="aaiti"')])
        return [b"authentication required\n"]

    return guarded
