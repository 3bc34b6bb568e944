"""Candles with a planted, learnable edge, laid out as a sample folder the real pipeline reads.

Log returns follow an AR(1), r_t = φ·r_{t−1} + σ·ε_t: yesterday's move predicts a share φ of
today's, well beyond the round-trip cost. A model that learns it and a strategy that
trades it qualify honestly — the same gate as for real data, nothing weakened. Tests that
need trades use this; tests of real data use data/sample/.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd

from aaiti.market import ReplayConfig, ingest_stream
from aaiti.market.sample import SampleSource
from aaiti.quality import RAW, run_gate, validator_for
from aaiti.transform import build
from aaiti.warehouse import Warehouse

PLANTED_START = datetime(2021, 1, 1, tzinfo=UTC)  # replay starts here; history before it


def write_planted_sample(
    folder: Path,
    *,
    symbols: tuple[str, ...] = ("BTC/USD", "ETH/USD"),
    first: str = "2019-01-01",
    last: str = "2021-06-01",
    phi: float = 0.45,
    sigma: float = 0.015,
    seed: int = 11,
) -> Path:
    ts = pd.date_range(first, last, freq="4h", tz="UTC", inclusive="left")
    rows = []
    for k, symbol in enumerate(symbols):
        rng = np.random.default_rng([seed, k])
        eps = rng.standard_normal(len(ts)) * sigma
        r = np.empty(len(ts))
        r[0] = eps[0]
        for i in range(1, len(ts)):
            r[i] = phi * r[i - 1] + eps[i]
        close = (100.0 * (k + 1)) * np.exp(np.cumsum(r))
        open_ = np.concatenate([[close[0] / np.exp(r[0])], close[:-1]])
        wick = np.abs(rng.standard_normal((2, len(ts)))) * sigma * 0.3
        frame = pd.DataFrame(
            {
                "exchange": "coinbase",
                "symbol": symbol,
                "timeframe": "4h",
                "ts": ts.astype("datetime64[ms, UTC]"),
                "open": open_,
                "high": np.maximum(open_, close) * np.exp(wick[0]),
                "low": np.minimum(open_, close) * np.exp(-wick[1]),
                "close": close,
                "volume": rng.lognormal(3.0, 0.3, len(ts)),
            }
        )
        path = folder / "coinbase" / symbol.replace("/", "-") / "4h.parquet"
        path.parent.mkdir(parents=True, exist_ok=True)
        frame.to_parquet(path, index=False)
        rows.append(
            {"file": str(path.relative_to(folder)), "exchange": "coinbase", "symbol": symbol,
             "timeframe": "4h"}
        )  # fmt: skip
    pd.DataFrame(rows).to_csv(folder / "manifest.csv", index=False)
    return folder


def replay_cycle(settings, *, start: datetime, bars: int = 1) -> None:
    """Ingest the sample folder's 4h streams (history before ``start``, then ``bars`` more
    each call), gate them, transform and publish: one bar of the pipeline."""
    wh = Warehouse.from_settings(settings)
    src = SampleSource(settings.sample_dir, exchange="coinbase")
    validator = validator_for(settings, docs=False)
    for symbol in settings.symbols:
        stream = src.validate_stream(symbol, "4h")
        ingest_stream(wh, src, stream, replay=ReplayConfig(start, bars))
        run_gate(wh, settings.quality, stream, checkpoint=RAW, validator=validator)
    assert build(settings).success
    wh.publish_snapshot()


def planted_cycle(settings, bars: int = 1) -> None:
    replay_cycle(settings, start=PLANTED_START, bars=bars)
