"""Technical features per stream, computed by aaiti.features (numpy).

Incremental: each run computes only the rows after a stream's newest feature row,
continuing the recursive indicators from their stored state and reading just the window
lookback it needs. A stream whose past candles changed is recomputed in full. A full
refresh and any sequence of incremental runs give identical rows.
"""


def model(dbt, session):
    dbt.config(
        materialized="incremental",
        incremental_strategy="delete+insert",
        unique_key=["exchange", "symbol", "timeframe", "ts"],
    )
    from aaiti.features.dbt_model import build_features

    candles = dbt.ref("fct_candles")
    previous = str(dbt.this) if dbt.is_incremental else None
    address = dbt.config.get("dask_address") or None
    return build_features(session, candles=candles, previous=previous, dask_address=address)
