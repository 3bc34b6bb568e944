"""Where a result came from: the strategy beside buy-and-hold per calendar year and per
market regime, per stream and for the portfolio. Pure: equity curves in, figures out.

The regime of a bar is buy-and-hold's state at the close before it: **drawdown** when the
benchmark stood more than ``DRAWDOWN`` below its running peak, **rising** otherwise. It
uses nothing after the bar it labels, so the split is one a trader could have known.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from aaiti.risk import metrics as m

#: buy-and-hold this far below its peak is a drawdown regime (a bear market's usual cut)
DRAWDOWN = 0.20


def _figures(r: np.ndarray, *, per_year: float) -> dict[str, Any]:
    sharpe = m.annualised_sharpe(r, periods_per_year=per_year) if len(r) > 1 else float("nan")
    return {
        "total_return": float(np.prod(1 + r) - 1) if len(r) else 0.0,
        "sharpe": None if np.isnan(sharpe) else float(sharpe),  # undefined, never 0
    }


def _segments(
    strategy: np.ndarray, bench: np.ndarray, labels: np.ndarray, *, per_year: float
) -> dict[str, Any]:
    out = {}
    for key in pd.unique(labels):
        mask = labels == key
        out[str(key)] = {
            "bars": int(mask.sum()),
            "strategy": _figures(strategy[mask], per_year=per_year),
            "buy_and_hold": _figures(bench[mask], per_year=per_year),
        }
    return out


def regimes(bench: np.ndarray) -> np.ndarray:
    """Each return's regime from the benchmark's equity at the close before it."""
    e = np.concatenate([[1.0], np.cumprod(1 + np.asarray(bench, float))])
    depth = 1 - e / np.maximum.accumulate(e)
    return np.where(depth[:-1] > DRAWDOWN, "drawdown", "rising")


def breakdown(strategy: pd.Series, bench: pd.Series, *, per_year: float) -> dict[str, Any]:
    """Per-bar returns of the strategy and of the benchmark on the same bars (by time)."""
    s, b = strategy.to_numpy(float), bench.to_numpy(float)
    years = pd.DatetimeIndex(strategy.index).year.to_numpy()
    return {
        "by_year": _segments(s, b, years, per_year=per_year),
        "by_regime": _segments(s, b, regimes(b), per_year=per_year),
    }
