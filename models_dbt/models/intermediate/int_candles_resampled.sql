-- Base candles aggregated to each higher timeframe they divide: open = first, high = max,
-- low = min, close = last, volume = sum. A target timeframe ingested natively is not
-- resampled; otherwise the finest base timeframe is used. A bucket the base stream has not
-- reached the end of yet is open, and never complete.
with base as (
    select * from {{ ref('stg_ohlcv') }}
),

streams as (
    select exchange, symbol, timeframe as base_timeframe, any_value(timeframe_s) as base_s,
           max(ts) as base_last_ts
    from base
    group by exchange, symbol, timeframe
),

targets as (
    select unnest([
        {%- for tf in var('resample_timeframes') %}'{{ tf }}'{{ ', ' if not loop.last }}{% endfor -%}
    ]) as timeframe
),

pairs as (
    select s.*, t.timeframe, {{ timeframe_seconds('t.timeframe') }} as timeframe_s
    from streams as s
    cross join targets as t
    where {{ timeframe_seconds('t.timeframe') }} > s.base_s
      and {{ timeframe_seconds('t.timeframe') }} % s.base_s = 0
),

chosen as (
    select p.*
    from pairs as p
    where not exists (
        select 1 from streams as n
        where n.exchange = p.exchange and n.symbol = p.symbol and n.base_timeframe = p.timeframe
    )
    qualify row_number() over (
        partition by p.exchange, p.symbol, p.timeframe order by p.base_s
    ) = 1
),

bucketed as (
    select
        c.exchange, c.symbol, c.timeframe, c.timeframe_s, c.base_timeframe, c.base_s,
        c.base_last_ts,
        {{ bucket_start('b.ts', 'c.timeframe_s') }} as ts,
        b.ts as base_ts, b.open, b.high, b.low, b.close, b.volume, b.ingested_at
    from chosen as c
    join base as b
      on b.exchange = c.exchange and b.symbol = c.symbol and b.timeframe = c.base_timeframe
)

select
    exchange,
    symbol,
    timeframe,
    timeframe_s,
    ts,
    arg_min(open, base_ts)                              as open,
    max(high)                                           as high,
    min(low)                                            as low,
    arg_max(close, base_ts)                             as close,
    -- summed in time order: a parallel sum() is not bit-reproducible between runs
    list_sum(list(volume order by base_ts))             as volume,
    base_timeframe                                      as origin_timeframe,
    count(*)                                            as n_base_candles,
    timeframe_s // base_s                               as expected_base_candles,
    epoch(ts) + timeframe_s > epoch(base_last_ts) + base_s as is_open,
    max(ingested_at)                                    as loaded_at
from bucketed
group by exchange, symbol, timeframe, timeframe_s, ts, base_timeframe, base_s, base_last_ts
