"""What one subflow costs in Prefect on this machine, in the three ways the pipeline can run it.

An empty subflow running one task, 10 times in a row inside a parent flow, on Prefect's
temporary server: with the default flow heartbeat, without it (how the pipeline and demo
run their subflows), and without it but taking one slot of a global concurrency limit in
the task (what the dbt build does). These are the figures behind those two choices.
"""

from __future__ import annotations

import time

from benchmarks.common import write_result

RUNS = 10
LIMIT = "bench-slot"


def main() -> None:
    from prefect import flow, task
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import GlobalConcurrencyLimitCreate
    from prefect.concurrency.sync import concurrency

    from flows.common import subflows_without_heartbeats

    @task
    def plain_task() -> int:
        return 1

    @task
    def slot_task() -> int:
        with concurrency(LIMIT, occupy=1, strict=True):
            return 1

    @flow
    def plain() -> int:
        return plain_task()

    @flow
    def slotted() -> int:
        return slot_task()

    def per_run(child) -> float:
        t0 = time.perf_counter()
        for _ in range(RUNS):
            child()
        return (time.perf_counter() - t0) / RUNS

    @flow
    def parent() -> dict[str, float]:
        with get_client(sync_client=True) as client:
            client.create_global_concurrency_limit(
                GlobalConcurrencyLimitCreate(name=LIMIT, limit=1)
            )
        out = {"subflow_with_heartbeat_s": per_run(plain)}
        with subflows_without_heartbeats():
            out["subflow_without_heartbeat_s"] = per_run(plain)
            out["subflow_without_heartbeat_with_slot_s"] = per_run(slotted)
        return out

    @flow
    def warm() -> None:
        pass

    warm()
    result = parent()
    path = write_result("prefect", {"runs_each": RUNS, **result})
    print(path.read_text())


if __name__ == "__main__":
    main()
