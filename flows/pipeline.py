"""The per-bar pipeline: ingest → validate raw → transform → validate features → predict →
trade → risk, as subflows, each with its own state in the Prefect UI.

Ingest runs one subflow per stream, so an exchange failing for one stream is that stream's
failure only. A blocked quality gate keeps its stream's bad rows out of every table after
it, and the gated SQL keeps the stream out of prediction. The others go on. The serving
snapshot is published at the end of every cycle, and a markdown artifact tells what the
cycle did. A cycle in which a subflow crashed finishes the other streams first and then
ends Failed, so the failure is visible and alerted.
"""

from __future__ import annotations

from prefect import flow, get_run_logger
from prefect.artifacts import create_markdown_artifact

from aaiti.config import Settings
from aaiti.quality import FEATURES, RAW
from aaiti.universe import universe_groups
from aaiti.warehouse import Warehouse
from flows.common import (
    alert_on_failure,
    flow_settings,
    subflows_without_heartbeats,
    task_runner_from,
)
from flows.ingest import ingest_flow
from flows.predict import predict_flow
from flows.trade import risk_flow, trade_flow
from flows.transform import transform_flow
from flows.validate import build_docs, validate_flow


class PipelineStageError(RuntimeError):
    """One or more stages crashed; the rest of the cycle still ran."""


def _run(name: str, subflow, failures: list[str], **kwargs):
    state = subflow(return_state=True, **kwargs)
    if state.is_completed():
        return state.result()
    failures.append(f"{name}: {state.message}")
    get_run_logger().error("%s ended %s: %s", name, state.name, state.message)
    return None


def cycle_markdown(
    *,
    ingested: list[dict],
    raw_gate: dict | None,
    feature_gate: dict | None,
    predicted: dict | None,
    traded: dict | None,
    risk: dict | None,
    failures: list[str],
) -> str:
    lines = ["# Pipeline cycle", ""]
    if failures:
        lines += ["**Failed stages:** " + "; ".join(failures), ""]
    lines += ["| stream | bars in | raw gate | feature gates |", "|---|---:|---|---|"]
    for row in ingested:
        stream = row["stream"]
        feats = ", ".join(
            f"{k.rsplit(':', 1)[1]} {v}"
            for k, v in (feature_gate or {}).items()
            if ":" in k and k.rsplit(":", 1)[0] == stream.rsplit(":", 1)[0]
        )
        lines.append(
            f"| {stream} | {row['inserted']} | {(raw_gate or {}).get(stream, '–')} | {feats} |"
        )
    lines += [
        "",
        f"**Predictions:** {predicted['message'] if predicted else '–'}",
        "**Blocked (no orders, positions stale):** "
        + (", ".join(traded["blocked"]) or "none" if traded else "–"),
        "**Strategy:** "
        + (
            f"{traded['strategy']} "
            + ("qualified" if traded["qualified"] else "STANDING ASIDE")
            + f" — {traded['strategy_reason']}"
            if traded
            else "–"
        ),
        "**Orders:** "
        + (
            f"{traded['orders']} ({traded['rejected']} refused by risk), "
            f"{traded['fills']} fill(s), equity {traded['equity']}, halted {traded['halted']}"
            if traded
            else "–"
        ),
        "**Risk:** "
        + (
            ", ".join(
                f"{k} {v:.4g}"
                for k, v in risk.items()
                if v is not None and k in ("var_95_historical", "cvar_95_historical", "sharpe")
            )
            or "insufficient history"
            if risk
            else "–"
        ),
    ]
    return "\n".join(lines)


@flow(
    name="pipeline", log_prints=True, on_failure=[alert_on_failure], on_crashed=[alert_on_failure]
)
def pipeline_flow() -> dict:
    """One cycle for every default stream (each scheduled run = one new bar under replay)."""
    settings = flow_settings()
    with subflows_without_heartbeats():
        return _cycle(settings)


def _cycle(settings: Settings) -> dict:
    failures: list[str] = []
    ingest = ingest_flow.with_options(task_runner=task_runner_from(settings))
    ingested = []
    for (source, exchange, timeframe), streams in universe_groups(settings).items():
        # one subflow per source, exchange and timeframe: a failing one stops none of the others
        rows = _run(
            f"ingest {source} {exchange} {timeframe}", ingest, failures, source=source,
            exchange=exchange, symbols=[s.symbol for s in streams], timeframe=timeframe,
            publish_snapshot=False,
        )  # fmt: skip
        ingested += rows or [{"stream": str(s), "inserted": "failed"} for s in streams]
    # every stage reads and writes the warehouse; the readers' snapshot is published once,
    # at the end of the cycle, not after each stage
    once = {"publish": False}
    raw_gate = _run("validate raw", validate_flow, failures, checkpoint=RAW, docs=False, **once)
    transformed = _run("transform", transform_flow, failures, docs=False, publish_snapshot=False)
    feature_gate = (
        _run("validate features", validate_flow, failures, checkpoint=FEATURES, docs=False, **once)
        if transformed is not None
        else None
    )
    predicted = _run("predict", predict_flow, failures, **once)
    traded = _run("trade", trade_flow, failures, **once)
    risk = _run("risk", risk_flow, failures, **once)
    # GX's data docs (both gates' results) are a report, not a step anything waits on: built
    # once, after risk is written (~1.2 s that used to sit between the gate and predict)
    docs = build_docs(settings, return_state=True)
    if not docs.is_completed():
        failures.append(f"data docs: {docs.message}")
    snapshot = Warehouse.from_settings(settings).publish_snapshot()
    markdown = cycle_markdown(
        ingested=ingested,
        raw_gate=raw_gate,
        feature_gate=feature_gate,
        predicted=predicted,
        traded=traded,
        risk=risk,
        failures=failures,
    )
    create_markdown_artifact(key="pipeline-cycle", markdown=markdown, description="one cycle")
    if failures:
        raise PipelineStageError("; ".join(failures))
    return {
        "ingested": ingested,
        "raw_gate": raw_gate,
        "feature_gate": feature_gate,
        "predicted": predicted,
        "traded": traded,
        "risk": risk,
        "snapshot": str(snapshot),
    }


if __name__ == "__main__":
    pipeline_flow()
