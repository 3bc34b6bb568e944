"""Shared fixtures. Tool state goes to a temp dir before anything imports Prefect or MLflow."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np
import pytest

from aaiti.config import OFFLINE_ENV

REPO = Path(__file__).resolve().parents[1]
SAMPLE_DIR = REPO / "data" / "sample"

_TOOL_HOME = Path(tempfile.mkdtemp(prefix="aaiti-tests-"))
for _key, _value in OFFLINE_ENV.items():
    os.environ.setdefault(_key, _value)
os.environ["PREFECT_HOME"] = str(_TOOL_HOME / "prefect")
os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{_TOOL_HOME / 'mlflow.db'}"
# Never let a developer's own settings leak into a test.
for _key in [k for k in os.environ if k.startswith("AAITI_")]:
    del os.environ[_key]


@pytest.fixture(autouse=True)
def _strict_floats():
    """Floating-point errors are bugs in tests, not warnings."""
    old = np.seterr(all="raise")
    yield
    np.seterr(**old)


@pytest.fixture
def settings(tmp_path, monkeypatch):
    from aaiti.config import load_settings

    monkeypatch.chdir(tmp_path)  # no stray .env from the developer's folder
    return load_settings(
        data_dir=tmp_path / "data", sample_dir=SAMPLE_DIR, writer_lock_timeout_s=10.0
    )


@pytest.fixture
def warehouse(settings):
    from aaiti.warehouse import Warehouse

    return Warehouse.from_settings(settings)


def sample_frame(exchange: str, pair: str, timeframe: str):
    import pandas as pd

    return pd.read_parquet(SAMPLE_DIR / exchange / pair / f"{timeframe}.parquet")


#: The slowest modules, slowest first (seconds measured by `pytest --durations`): run on two
#: workers (`make test`: pytest-xdist, a module per worker at a time), the long ones start
#: first so that the short ones fill in beside them, not after them.
SLOW_FIRST = ["test_soak", "test_trading_flow", "test_orchestration", "test_flow_transform",
              "test_dashboards", "test_quality_incremental", "test_monitoring",
              "test_ml_registry", "test_transform", "test_exchange", "test_quality_gate",
              "test_auth", "test_drift_detection"]  # fmt: skip


def pytest_collection_modifyitems(config, items):
    """Longest modules first, the order within a module kept."""
    rank = {name: i for i, name in enumerate(SLOW_FIRST)}
    items.sort(key=lambda item: rank.get(item.module.__name__.rpartition(".")[2], len(rank)))


def drain_prefect_workers() -> None:
    """Flush this process's Prefect log and event workers while their server still runs,
    as prefect_test_harness does: a worker left holding events for a stopped server made a
    later harness's drain wait forever (seen when modules ran in another order)."""
    import inspect

    from prefect.events.worker import EventsWorker
    from prefect.logging.handlers import APILogWorker
    from prefect.utilities.asyncutils import run_coro_as_sync

    async def drain() -> None:
        try:
            result = APILogWorker.instance().drain()
            if inspect.isawaitable(result):
                await result
        except RuntimeError:  # never started
            pass
        result = EventsWorker.drain_all()
        if inspect.isawaitable(result):
            await result

    run_coro_as_sync(drain())
