"""The gated feature rows the models train, predict and are monitored on."""

from __future__ import annotations

import pandas as pd

from aaiti.warehouse import Warehouse
from aaiti.warehouse.sql import load_sql


def load_features(warehouse: Warehouse, *, timeframe: str, symbols: list[str]) -> pd.DataFrame:
    """Gated feature rows of ``symbols``, from the serving snapshot (read-only)."""
    con = warehouse.read()
    try:
        return (
            con.sql(load_sql("aaiti.ml", "training_features"), params=[timeframe, symbols])
            .to_arrow_table()
            .to_pandas()
        )
    finally:
        con.close()
