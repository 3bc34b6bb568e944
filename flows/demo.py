"""The demo: every stage that exists so far, once, on the bundled sample (``make demo``)."""

from __future__ import annotations

from prefect import flow

from aaiti.quality import FEATURES, RAW
from flows.ingest import ingest_flow
from flows.transform import transform_flow
from flows.validate import validate_flow


@flow(name="demo", log_prints=True)
def demo_flow() -> dict:
    """Ingest → validate raw → transform → validate features."""
    ingested = ingest_flow()
    raw_gate = validate_flow(checkpoint=RAW)
    transformed = transform_flow()
    feature_gate = validate_flow(checkpoint=FEATURES)
    return {
        "ingested": ingested,
        "raw_gate": raw_gate,
        "transformed": transformed,
        "feature_gate": feature_gate,
    }


if __name__ == "__main__":
    demo_flow()
