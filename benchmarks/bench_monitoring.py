"""Drift on 100k × 20 through aaiti.monitoring.drift against Evidently alone, same data.

Target: our overhead ≤ 1.2× Evidently's own Report with the same test, threshold and BLAS
limit. Evidently with its default threads is measured too, to show what the limit buys on
this machine. The data: the 17 model features plus 3 return horizons of 200k synthetic 1m
candles; reference the first 100k rows, current the next 100k.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from benchmarks.common import timed, write_result

ROWS, COLUMNS = 100_000, 20


def frames() -> tuple[pd.DataFrame, pd.DataFrame]:
    """The feature table of 200k synthetic 1m candles (GARCH-t with parameters close to the
    sample's fit, as in the ingest benchmark), plus three more return horizons: 20 columns."""
    from aaiti.features import FEATURE_COLUMNS, compute_features
    from aaiti.market.synthetic import generate
    from benchmarks.bench_ingest import START, _params

    candles = generate(_params(), symbols=["BTC/USD"], start=START, bars=2 * ROWS + 300, seed=7)
    f = compute_features(candles.to_pandas()).iloc[300:].reset_index(drop=True)
    data = f[list(FEATURE_COLUMNS)].astype(float)
    close = np.log(candles.column("close").to_numpy()[300:])
    for k in (8, 48, 96):
        data[f"ret_{k}"] = pd.Series(close).diff(k).to_numpy()
    data = data.fillna(0.0)
    assert data.shape[1] == COLUMNS
    return data.iloc[:ROWS].reset_index(drop=True), data.iloc[ROWS:].reset_index(drop=True)


def main() -> None:
    from evidently import Report
    from evidently.presets import DataDriftPreset
    from threadpoolctl import threadpool_limits

    from aaiti.config import Settings
    from aaiti.monitoring.drift import data_drift

    d = Settings()
    reference, current = frames()
    columns = list(reference.columns)
    kw = {"num_method": d.monitor_drift_method, "num_threshold": d.monitor_drift_threshold}

    def ours():
        return data_drift(
            reference,
            current,
            columns=columns,
            method=d.monitor_drift_method,
            threshold=d.monitor_drift_threshold,
            drift_share=d.monitor_drift_share,
        )

    def evidently_limited():
        with threadpool_limits(limits=1):
            return Report([DataDriftPreset(columns=columns, **kw)]).run(current, reference)

    def evidently_default_threads():
        return Report([DataDriftPreset(columns=columns, **kw)]).run(current, reference)

    ours()  # warm imports
    t_ours = timed(ours, repeat=3)
    t_ev = timed(evidently_limited, repeat=3)
    t_ev_default = timed(evidently_default_threads, repeat=3)
    share = ours().drifted_share
    path = write_result(
        "monitoring",
        {
            "data": f"{ROWS:,} × {COLUMNS} reference and current (real 1m BTC returns)",
            "method": d.monitor_drift_method,
            "threshold": d.monitor_drift_threshold,
            "drifted_share": share,
            "aaiti_drift": t_ours,
            "evidently_alone_same_blas_limit": t_ev,
            "evidently_alone_default_threads": t_ev_default,
            "overhead_ratio": t_ours["median_s"] / t_ev["median_s"],
            "target_overhead_ratio": 1.2,
            "ratio_vs_default_threads": t_ours["median_s"] / t_ev_default["median_s"],
        },
    )
    print(path.read_text())


if __name__ == "__main__":
    main()
