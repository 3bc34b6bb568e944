"""The demo: every stage that exists so far, once, on the bundled sample (``make demo``)."""

from __future__ import annotations

from prefect import flow

from flows.ingest import ingest_flow
from flows.transform import transform_flow


@flow(name="demo", log_prints=True)
def demo_flow() -> dict:
    """Ingest the default streams, then transform them into candles and features."""
    ingested = ingest_flow()
    transformed = transform_flow()
    return {"ingested": ingested, "transformed": transformed}


if __name__ == "__main__":
    demo_flow()
