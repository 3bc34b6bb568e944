"""The demo: every stage that exists so far, on the bundled sample (``make demo``).

History first (ingest → validate → transform → validate → train), then a few bars of the
market replay as they "close": each one flows through ingest → validate → transform →
predict → trade, so the champion writes real out-of-sample predictions and the paper
broker acts on them; risk is computed, and the champion is checked for drift, at the end.
"""

from __future__ import annotations

from prefect import flow

from aaiti.quality import FEATURES, RAW
from flows.common import alert_on_failure, subflows_without_heartbeats
from flows.ingest import ingest_flow
from flows.monitor import monitor_flow
from flows.predict import predict_flow
from flows.trade import backtest_flow, risk_flow, trade_flow
from flows.train import train_flow
from flows.transform import transform_flow
from flows.validate import validate_flow

REPLAY_BARS = 4


@flow(name="demo", log_prints=True, on_failure=[alert_on_failure])
def demo_flow(replay_bars: int = REPLAY_BARS) -> dict:
    with subflows_without_heartbeats():
        return _demo(replay_bars)


def _demo(replay_bars: int) -> dict:
    ingested = ingest_flow()
    raw_gate = validate_flow(checkpoint=RAW)
    transformed = transform_flow()
    feature_gate = validate_flow(checkpoint=FEATURES)
    trained = train_flow()
    predictions, trades = [], []
    for _ in range(replay_bars):
        ingest_flow()
        validate_flow(checkpoint=RAW, docs=False)
        transform_flow(docs=False)
        predictions.append(predict_flow())
        trades.append(trade_flow())
    risk = risk_flow()
    monitored = monitor_flow()
    backtest = backtest_flow()
    return {
        "ingested": ingested,
        "raw_gate": raw_gate,
        "transformed": transformed,
        "feature_gate": feature_gate,
        "trained": trained,
        "predictions": predictions,
        "trades": trades,
        "risk": risk,
        "monitor": monitored,
        "backtest": backtest,
    }


if __name__ == "__main__":
    demo_flow()
