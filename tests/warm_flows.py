"""A flow for the warm runner's tests: it says which process ran it and what was imported."""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

from prefect import flow

#: What the warm-up imports; the first run sees them already loaded.
TOOLS = ("great_expectations", "dbt.cli.main", "mlflow", "xgboost")


@flow
def where_am_i(path: str, sleep_s: float = 0.0, exit_code: int | None = None) -> int:
    record = {"pid": os.getpid(), "tools": [m for m in TOOLS if m in sys.modules]}
    with Path(path).open("a") as f:
        f.write(json.dumps(record) + "\n")
    if exit_code is not None:
        os._exit(exit_code)  # a hard crash: no exception, no state reported by the engine
    time.sleep(sleep_s)
    return os.getpid()
