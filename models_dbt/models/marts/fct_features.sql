{{ config(
    materialized='incremental',
    incremental_strategy='delete+insert',
    unique_key=['exchange', 'symbol', 'timeframe', 'ts'],
    on_schema_change='fail',
) }}
-- The published feature table (one row per closed candle of every stream and timeframe).
-- Each value at ts uses only candles up to ts; warm-up values are null, never filled.
select
    exchange, symbol, timeframe, ts, close,
    ret_1, ret_4, ret_24, log_ret_1, realized_vol_20, rsi_14,
    macd, macd_signal, macd_hist, bb_pct_b, bb_bandwidth, atr_14, volume_z_20,
    dist_sma_50, dist_sma_200, hour_of_day, day_of_week,
    is_complete, gap_bars_before, computed_at
from {{ ref('int_features') }}
{% if is_incremental() %}
where computed_at > (select coalesce(max(computed_at), '-infinity'::timestamptz) from {{ this }})
{% endif %}
