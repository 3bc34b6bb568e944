"""Labels: the direction of the forward return over h bars, with a dead zone.

``label_t = 1`` if ln(close_{t+h} / close_t) > dead_zone, ``0`` if < -dead_zone, and
undefined (excluded from training and evaluation) inside the dead zone, where a direction
is noise. A label needs h *consecutive* bars ahead: across a hole it is undefined too.
``label_end_ts`` is the time the label is known (the open of bar t+h), which the splits use
to purge training rows whose label would reach into the test window.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from aaiti.errors import InputError


def forward_labels(
    frame: pd.DataFrame,
    *,
    horizon: int,
    dead_zone: float,
    timeframe_s: int,
    cost: float | None = None,
) -> pd.DataFrame:
    """``frame`` (one stream, sorted by ts, with ``ts`` and ``close``) → label columns.

    With ``cost`` (the round-trip log cost), the label is cost-aware: 1 when the horizon's
    log return beats the cost, 0 otherwise — every row with a known future is labelled,
    and a 1 is a trade that would have paid for itself."""
    if horizon < 1:
        raise InputError(f"horizon must be at least 1 bar, got {horizon}")
    if dead_zone < 0:
        raise InputError(f"dead_zone must be >= 0, got {dead_zone}")
    close = frame["close"].to_numpy(float)
    ts = frame["ts"]
    epoch = ((ts - pd.Timestamp(0, tz="UTC")) // pd.Timedelta(seconds=1)).to_numpy(np.int64)
    n = len(frame)
    fwd = np.full(n, np.nan)
    end = np.full(n, np.nan)
    if n > horizon:
        consecutive = (epoch[horizon:] - epoch[:-horizon]) == horizon * timeframe_s
        ret = np.log(close[horizon:] / close[:-horizon])
        fwd[:-horizon] = np.where(consecutive, ret, np.nan)
        end[:-horizon] = np.where(consecutive, epoch[horizon:], np.nan)
    if cost is not None:
        label = np.where(fwd > cost, 1.0, 0.0)
    else:
        label = np.where(fwd > dead_zone, 1.0, np.where(fwd < -dead_zone, 0.0, np.nan))
    label[np.isnan(fwd)] = np.nan
    return pd.DataFrame(
        {
            "forward_log_return": fwd,
            "label": label,
            "label_end_ts": pd.to_datetime(end, unit="s", utc=True),
        },
        index=frame.index,
    )
