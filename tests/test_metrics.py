"""The exporter's contract without a pipeline: a source it cannot read is said, and the
Grafana dashboard in the repository only plots metrics the exporter serves."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd

from aaiti.monitoring.metrics import FAMILIES, OTHER_METRICS, registry_for

DASHBOARD = Path(__file__).resolve().parents[1] / "docs" / "grafana" / "aaiti.json"


def test_without_a_snapshot_or_prefect_the_exporter_says_so_and_invents_nothing(settings):
    from prometheus_client import generate_latest

    text = generate_latest(registry_for(settings, api_url="http://127.0.0.1:9/api")).decode()
    samples = [x for x in text.splitlines() if x and not x.startswith("#")]
    assert sorted(samples) == ["aaiti_prefect_up 0.0", "aaiti_snapshot_up 0.0"]


def test_the_grafana_dashboard_plots_only_metrics_the_exporter_serves():
    dashboard = json.loads(DASHBOARD.read_text())
    exprs = " ".join(t["expr"] for p in dashboard["panels"] for t in p["targets"])
    used = set(re.findall(r"\baaiti_[a-z0-9_]+", exprs))
    served = {f.name for f in FAMILIES} | set(OTHER_METRICS)
    assert used and used <= served, used - served
    # the figures an operator asks for first are on it
    assert {"aaiti_equity", "aaiti_drawdown", "aaiti_halted", "aaiti_gate_blocked",
            "aaiti_flow_last_run_duration_seconds", "aaiti_alerts"} <= used  # fmt: skip


def test_running_runs_are_counted_and_the_oldest_one_s_age_grows():
    """A run nobody marked after its process died shows as an age that only grows."""
    import time as clock

    from aaiti.monitoring.metrics import PrefectCollector

    started = clock.time() - 3600
    iso = pd.Timestamp(started, unit="s", tz="UTC").isoformat()
    count, oldest = PrefectCollector._running(
        [{"flow_id": "f1", "start_time": iso}, {"flow_id": "f1", "start_time": None}],
        {"f1": "pipeline"},
    )
    assert [(s.labels, s.value) for s in count.samples] == [({"flow": "pipeline"}, 2)]
    (age,) = oldest.samples
    assert age.labels == {"flow": "pipeline"} and 3590 < age.value < 3700
