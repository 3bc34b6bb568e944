"""Out-of-sample evaluation: classification quality, calibration, and a simple equity.

The equity here is deliberately simple and named so: **long/flat, close to close, no costs**
— long for the next bar when the probability is above 0.5, flat otherwise. The trading
engine's backtester (fills at the next open, fees, slippage) replaces it when it exists.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

from aaiti.market.timeframes import bars_per_year
from aaiti.risk.metrics import annualised_sharpe


@dataclass(frozen=True)
class ClassificationMetrics:
    n: int
    positive_rate: float
    auc: float
    log_loss: float
    brier: float
    accuracy: float
    precision: float
    recall: float

    def as_dict(self) -> dict[str, float]:
        return asdict(self)


@dataclass(frozen=True)
class EquityMetrics:
    """Long/flat close-to-close, no costs (see module doc)."""

    total_return: float
    sharpe: float
    max_drawdown: float
    exposure: float
    buy_and_hold_return: float
    switches_per_year: float
    total_return_after_10bps_per_switch: float


def classification_metrics(y: np.ndarray, p: np.ndarray) -> ClassificationMetrics:
    """Metrics of probabilities ``p`` for binary labels ``y``; raises on one-class input."""
    from sklearn import metrics

    y = np.asarray(y, dtype=int)
    p = np.clip(np.asarray(p, dtype=float), 1e-9, 1 - 1e-9)
    if len(np.unique(y)) < 2:
        raise ValueError("cannot judge probabilities on labels of a single class")
    pred = (p > 0.5).astype(int)
    return ClassificationMetrics(
        n=len(y),
        positive_rate=float(y.mean()),
        auc=float(metrics.roc_auc_score(y, p)),
        log_loss=float(metrics.log_loss(y, p, labels=[0, 1])),
        brier=float(metrics.brier_score_loss(y, p)),
        accuracy=float(metrics.accuracy_score(y, pred)),
        precision=float(metrics.precision_score(y, pred, zero_division=0)),
        recall=float(metrics.recall_score(y, pred, zero_division=0)),
    )


def calibration_table(y: np.ndarray, p: np.ndarray, *, bins: int = 10) -> pd.DataFrame:
    """Per probability bin: rows, mean predicted probability, observed frequency of 1."""
    edges = np.linspace(0, 1, bins + 1)
    idx = np.clip(np.digitize(p, edges[1:-1]), 0, bins - 1)
    frame = pd.DataFrame({"bin": idx, "p": p, "y": y})
    table = frame.groupby("bin").agg(
        rows=("y", "size"), mean_predicted=("p", "mean"), observed=("y", "mean")
    )
    table.insert(0, "upper", edges[table.index + 1])
    table.insert(0, "lower", edges[table.index])
    return table.reset_index(drop=True)


def long_flat_equity(
    proba: np.ndarray, next_log_return: np.ndarray, *, timeframe: str
) -> EquityMetrics:
    """Long/flat close-to-close equity of one stream's OOS signals (rows in time order)."""
    r = np.nan_to_num(np.asarray(next_log_return, dtype=float))
    position = (np.asarray(proba) > 0.5).astype(float)
    strat = position * r
    equity = np.exp(np.cumsum(strat))
    peak = np.maximum.accumulate(np.concatenate([[1.0], equity]))[1:]
    per_year = bars_per_year(timeframe)
    switches = np.abs(np.diff(np.concatenate([[0.0], position])))
    after_costs = np.exp(np.sum(strat) + np.sum(np.log1p(-0.001 * switches))) - 1
    years = len(position) / per_year if len(position) else 0.0
    return EquityMetrics(
        total_return=float(equity[-1] - 1) if len(equity) else 0.0,
        # of simple returns like every Sharpe here (the equity is the same); NaN, not 0,
        # when the signal never varies: no position, no Sharpe
        sharpe=annualised_sharpe(np.expm1(strat), periods_per_year=per_year),
        max_drawdown=float((equity / peak - 1).min()) if len(equity) else 0.0,
        exposure=float(position.mean()) if len(position) else 0.0,
        buy_and_hold_return=float(np.exp(r.sum()) - 1),
        switches_per_year=float(switches.sum() / years) if years else 0.0,
        total_return_after_10bps_per_switch=float(after_costs),
    )
