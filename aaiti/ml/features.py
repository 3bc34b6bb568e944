"""The gated feature rows the models train, predict and are monitored on."""

from __future__ import annotations

import pandas as pd

from aaiti.warehouse import Warehouse
from aaiti.warehouse.sql import load_sql


def load_features(
    warehouse: Warehouse, *, timeframe: str, symbols: list[str], last_bars: int | None = None
) -> pd.DataFrame:
    """Gated feature rows of ``symbols``, from the serving snapshot (read-only); with
    ``last_bars``, each stream's newest that many (training's window on a long history)."""
    con = warehouse.read()
    try:
        return (
            con.sql(
                load_sql("aaiti.ml", "training_features"), params=[timeframe, symbols, last_bars]
            )
            .to_arrow_table()
            .to_pandas()
        )
    finally:
        con.close()
