"""Purged walk-forward splits: train only on the past, never on a label that peeks ahead.

Test blocks are anchored to the calendar from a fixed origin: calendar months, quarters,
half-years or years (UTC), or a fixed duration counted from the Unix epoch. The first test
block is the first one that begins ``min_train`` after the data's first bar; every later
block follows. New bars only extend the newest block or open the next one, so an earlier
block's training rows — and with them its out-of-sample predictions — never change.
Fold k trains on everything before its test block (expanding window) minus:

* **purge**: training rows whose label is only known at or after the test block starts
  (``label_end_ts >= test_start``) — their label overlaps the test period;
* **embargo**: training rows in the ``embargo`` bars before the test block.

The last ``validation_fraction`` of each fold's (purged) training rows, again purged against
its own boundary, is held out for early stopping, so the test block never steers training.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
import pandas as pd

from aaiti.errors import InputError, StateError


@dataclass(frozen=True)
class Fold:
    number: int
    train: np.ndarray  # row positions
    validation: np.ndarray
    test: np.ndarray
    test_start: pd.Timestamp
    test_end: pd.Timestamp


#: calendar periods, in months
CALENDAR_MONTHS = {"month": 1, "quarter": 3, "half": 6, "year": 12}


def period_of(text: str) -> str:
    """A period that names a calendar one (``quarter``) or a fixed duration (``7d``)."""
    if text in CALENDAR_MONTHS:
        return text
    try:
        step = pd.Timedelta(text)
    except ValueError:
        step = None
    if step is None or step <= pd.Timedelta(0):
        raise InputError(
            f"fold period {text!r}: use {', '.join(CALENDAR_MONTHS)} or a duration such as 7d or 12h"
        )
    return text


def block_starts(first: pd.Timestamp, last: pd.Timestamp, *, period: str) -> pd.DatetimeIndex:
    """The period grid's starts from the first one at or after ``first`` through ``last``."""
    first, last = pd.Timestamp(first), pd.Timestamp(last)
    if period in CALENDAR_MONTHS:
        months = CALENDAR_MONTHS[period]
        index = first.year * 12 + first.month - 1
        index += -index % months
        if pd.Timestamp(year=index // 12, month=index % 12 + 1, day=1, tz="UTC") < first:
            index += months
        grid = pd.date_range(
            pd.Timestamp(year=index // 12, month=index % 12 + 1, day=1, tz="UTC"),
            last,
            freq=f"{months}MS",
        )
    else:
        step = pd.Timedelta(period)
        epoch = pd.Timestamp(0, tz="UTC")
        k = -((epoch - first) // step)  # ceil((first − epoch) / step)
        grid = pd.date_range(epoch + k * step, last, freq=step)
    return pd.DatetimeIndex(grid)


def walk_forward(
    ts: pd.Series,
    label_end_ts: pd.Series,
    *,
    labelled: np.ndarray | None = None,
    period: str,
    min_train: pd.Timedelta,
    bar: pd.Timedelta,
    embargo_bars: int,
    validation_fraction: float = 0.2,
) -> list[Fold]:
    """Folds over rows (possibly several streams) ordered in time by ``ts``.

    Blocks are fixed by the calendar and by the first bar, never by the last: which rows
    exist later (or carry a label, which depends on future prices) cannot move a past
    fold. Only ``labelled`` rows are trained, validated or tested on."""
    times = pd.DatetimeIndex(ts)
    if times.tz is None:
        times = times.tz_localize("UTC")
    ends = pd.DatetimeIndex(label_end_ts)
    if ends.tz is None:
        ends = ends.tz_localize("UTC")
    use = np.ones(len(times), dtype=bool) if labelled is None else np.asarray(labelled, dtype=bool)
    if len(times) == 0:
        raise StateError("no rows to make folds of")
    first, last = times.min(), times.max()
    starts = block_starts(first + min_train, last, period=period_of(period))
    if len(starts) == 0:
        raise StateError(
            f"{last - first} of history ({first:%Y-%m-%d} → {last:%Y-%m-%d}) leaves no {period} "
            f"test block after the first {min_train} of training"
        )
    bounds = [*starts, last + bar]
    folds: list[Fold] = []
    embargo = bar * embargo_bars
    for start, stop in itertools.pairwise(bounds):
        test = np.flatnonzero((times >= start) & (times < stop) & use)
        if len(test) == 0:
            continue  # a block the data does not reach (a hole): nothing to test
        eligible = np.flatnonzero((times < start - embargo) & (ends < start) & use)
        if len(eligible) == 0:
            raise ValueError(f"block {start:%Y-%m-%d}: nothing left to train on after purging")
        cut_time = np.sort(times[eligible])[int(len(eligible) * (1 - validation_fraction))]
        validation = eligible[times[eligible] >= cut_time]
        train = eligible[(times[eligible] < cut_time - embargo) & (ends[eligible] < cut_time)]
        test_end = times[test].max()
        folds.append(Fold(len(folds), train, validation, test, pd.Timestamp(start), test_end))
    return folds
