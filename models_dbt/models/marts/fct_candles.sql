-- depends_on: {{ ref('stg_ohlcv') }}
{{ config(
    materialized='incremental',
    incremental_strategy='delete+insert',
    unique_key=['exchange', 'symbol', 'timeframe', 'ts'],
    on_schema_change='fail',
) }}
-- Clean candles at every timeframe. Incremental: only rows from the first candle loaded
-- since the last build onward are rewritten (per symbol, from the bucket of the target
-- timeframe that contains it), so a new bar touches a handful of rows.
{% if is_incremental() %}
with watermark as (
    select coalesce(max(loaded_at), '-infinity'::timestamptz) as wm from {{ this }}
),

changed as (
    select s.exchange, s.symbol, min(s.ts) as from_ts
    from {{ ref('stg_ohlcv') }} as s, watermark
    where s.ingested_at > watermark.wm
    group by s.exchange, s.symbol
)
{% endif %}

select
    r.exchange,
    r.symbol,
    r.timeframe,
    r.ts,
    r.open,
    r.high,
    r.low,
    r.close,
    r.volume,
    cast(r.timeframe_s as integer)              as timeframe_s,
    r.origin_timeframe,
    cast(r.n_base_candles as integer)           as n_base_candles,
    cast(r.expected_base_candles as integer)    as expected_base_candles,
    r.is_complete,
    r.is_open,
    r.is_zero_volume,
    r.ret_simple,
    r.ret_log,
    r.gap_bars_before,
    r.loaded_at
from {{ ref('int_returns') }} as r
{% if is_incremental() %}
join changed as c
  on c.exchange = r.exchange and c.symbol = r.symbol
 and r.ts >= {{ bucket_start('c.from_ts', 'r.timeframe_s') }}
{% endif %}
