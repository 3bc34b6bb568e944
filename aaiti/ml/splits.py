"""Purged walk-forward splits: train only on the past, never on a label that peeks ahead.

Time is cut into ``n_folds`` consecutive test blocks after an initial training span. Fold k
trains on everything before its test block (expanding window) minus:

* **purge**: training rows whose label is only known at or after the test block starts
  (``label_end_ts >= test_start``) — their label overlaps the test period;
* **embargo**: training rows in the ``embargo`` bars before the test block.

The last ``validation_fraction`` of each fold's (purged) training rows, again purged against
its own boundary, is held out for early stopping, so the test block never steers training.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class Fold:
    number: int
    train: np.ndarray  # row positions
    validation: np.ndarray
    test: np.ndarray
    test_start: pd.Timestamp
    test_end: pd.Timestamp


def walk_forward(
    ts: pd.Series,
    label_end_ts: pd.Series,
    *,
    labelled: np.ndarray | None = None,
    n_folds: int,
    bar: pd.Timedelta,
    embargo_bars: int,
    min_train_fraction: float = 0.5,
    validation_fraction: float = 0.2,
) -> list[Fold]:
    """Folds over rows (possibly several streams) ordered in time by ``ts``.

    Block boundaries are quantiles of *all* row times, labelled or not: which rows carry a
    label depends on future prices (the dead zone), and boundaries that moved with them
    would let the future reshape the past folds. Only ``labelled`` rows are trained,
    validated or tested on.
    """
    if n_folds < 1:
        raise ValueError("n_folds must be at least 1")
    if not 0 < min_train_fraction < 1:
        raise ValueError("min_train_fraction must be in (0, 1)")
    times = pd.DatetimeIndex(ts)
    ends = pd.DatetimeIndex(label_end_ts)
    use = np.ones(len(times), dtype=bool) if labelled is None else np.asarray(labelled, dtype=bool)
    unique = np.sort(times.unique())
    if len(unique) < n_folds + 2:
        raise ValueError(f"{len(unique)} distinct times cannot make {n_folds} folds")
    first_test = int(len(unique) * min_train_fraction)
    bounds = np.linspace(first_test, len(unique), n_folds + 1).astype(int)
    folds = []
    embargo = bar * embargo_bars
    for k in range(n_folds):
        start, stop = unique[bounds[k]], unique[min(bounds[k + 1], len(unique)) - 1]
        test = np.flatnonzero((times >= start) & (times <= stop) & use)
        eligible = np.flatnonzero((times < start - embargo) & (ends < start) & use)
        if len(eligible) == 0:
            raise ValueError(f"fold {k}: nothing left to train on after purging")
        cut_time = np.sort(times[eligible])[int(len(eligible) * (1 - validation_fraction))]
        validation = eligible[times[eligible] >= cut_time]
        train = eligible[(times[eligible] < cut_time - embargo) & (ends[eligible] < cut_time)]
        folds.append(Fold(k, train, validation, test, pd.Timestamp(start), pd.Timestamp(stop)))
    return folds
