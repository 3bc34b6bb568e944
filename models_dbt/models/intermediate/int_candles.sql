-- Every timeframe in one relation: native candles and resampled buckets.
select
    exchange, symbol, timeframe, timeframe_s, ts, open, high, low, close, volume,
    timeframe                   as origin_timeframe,
    1                           as n_base_candles,
    1                           as expected_base_candles,
    false                       as is_open,
    true                        as is_complete,
    is_zero_volume,
    ingested_at                 as loaded_at
from {{ ref('stg_ohlcv') }}

union all

select
    exchange, symbol, timeframe, timeframe_s, ts, open, high, low, close, volume,
    origin_timeframe,
    n_base_candles,
    expected_base_candles,
    is_open,
    n_base_candles = expected_base_candles and not is_open as is_complete,
    volume = 0                  as is_zero_volume,
    loaded_at
from {{ ref('int_candles_resampled') }}
