-- One row per exchange and symbol: what is stored, at which timeframes, over which span.
select
    exchange,
    symbol,
    split_part(symbol, '/', 1)                                          as base,
    split_part(symbol, '/', 2)                                          as quote,
    string_agg(distinct timeframe, ',' order by timeframe)              as timeframes,
    string_agg(distinct timeframe, ',' order by timeframe)
        filter (where origin_timeframe = timeframe)                     as native_timeframes,
    min(ts)                                                             as first_ts,
    max(ts)                                                             as last_ts,
    count(*) filter (where origin_timeframe = timeframe)                as native_candles
from {{ ref('fct_candles') }}
group by exchange, symbol
