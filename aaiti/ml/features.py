"""The gated feature rows the models train, predict and are monitored on."""

from __future__ import annotations

import pandas as pd

from aaiti.config import Settings
from aaiti.warehouse import Warehouse
from aaiti.warehouse.sql import load_sql


def load_features(settings: Settings, timeframe: str) -> pd.DataFrame:
    """Gated feature rows of the default streams, from the serving snapshot (read-only)."""
    con = Warehouse.from_settings(settings).read()
    try:
        return (
            con.sql(load_sql("aaiti.ml", "training_features"), params=[timeframe, settings.symbols])
            .to_arrow_table()
            .to_pandas()
        )
    finally:
        con.close()
