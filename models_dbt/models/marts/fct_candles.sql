-- depends_on: {{ ref('int_returns') }}
{{ config(
    materialized='incremental',
    incremental_strategy='delete+insert',
    unique_key=['exchange', 'symbol', 'timeframe', 'ts'],
    on_schema_change='fail',
) }}
-- Clean candles at every timeframe. A full build reads int_returns. An incremental build
-- re-derives only the rows a new load touches: for each symbol with candles loaded since
-- the last build, from the start of the largest resample bucket containing the first of
-- them, with the same macros the views use, anchored on the rows already built before.
{% if is_incremental() %}
with watermark as (
    select coalesce(max(loaded_at), '-infinity'::timestamptz) as wm from {{ this }}
),
changed as (
    select r.exchange, r.symbol, min(r.ts) as from_ts
    from {{ source('raw', 'ohlcv') }} as r, watermark
    where r.ingested_at > watermark.wm
    group by r.exchange, r.symbol
),
bounds as (
    select exchange, symbol, {{ bucket_start('from_ts', max_resample_seconds()) }} as lo
    from changed
),
raw_slice as (
    select r.* from {{ source('raw', 'ohlcv') }} as r
    join bounds as b on b.exchange = r.exchange and b.symbol = r.symbol and r.ts >= b.lo
),
natives as (
    select distinct r.exchange, r.symbol, r.timeframe
    from {{ source('raw', 'ohlcv') }} as r
    join changed as c on c.exchange = r.exchange and c.symbol = r.symbol
),
staged as ({{ staged_ohlcv('raw_slice') }}),
resampled as ({{ resampled_candles('staged', 'natives') }}),
unioned as ({{ unioned_candles('staged', 'resampled') }}),
anchors as (
    select t.exchange, t.symbol, t.timeframe, max(t.ts) as ts, arg_max(t.close, t.ts) as close
    from {{ this }} as t
    join bounds as b on b.exchange = t.exchange and b.symbol = t.symbol and t.ts < b.lo
    group by t.exchange, t.symbol, t.timeframe
),
returns as ({{ candles_with_returns('unioned', 'anchors') }})
{% endif %}

select
    exchange,
    symbol,
    timeframe,
    ts,
    open,
    high,
    low,
    close,
    volume,
    cast(timeframe_s as integer)                as timeframe_s,
    origin_timeframe,
    cast(n_base_candles as integer)             as n_base_candles,
    cast(expected_base_candles as integer)      as expected_base_candles,
    is_complete,
    is_open,
    is_zero_volume,
    ret_simple,
    ret_log,
    gap_bars_before,
    loaded_at
{% if is_incremental() %}
from returns
{% else %}
from {{ ref('int_returns') }}
{% endif %}
