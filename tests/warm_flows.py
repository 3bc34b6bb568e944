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
def where_am_i(
    path: str, sleep_s: float = 0.0, exit_code: int | None = None, in_subflow: bool = False
) -> int:
    record = {"pid": os.getpid(), "tools": [m for m in TOOLS if m in sys.modules]}
    with Path(path).open("a") as f:
        f.write(json.dumps(record) + "\n")
    if in_subflow:  # as the pipeline's transform: the work in a subflow run of its own
        return inner(sleep_s=sleep_s, exit_code=exit_code)
    return _work(sleep_s, exit_code)


@flow
def inner(sleep_s: float = 0.0, exit_code: int | None = None) -> int:
    return _work(sleep_s, exit_code)


def _work(sleep_s: float, exit_code: int | None) -> int:
    if exit_code is not None:
        os._exit(exit_code)  # a hard crash: no exception, no state reported by the engine
    time.sleep(sleep_s)
    return os.getpid()
