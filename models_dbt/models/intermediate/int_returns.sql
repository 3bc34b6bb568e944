-- One-bar simple and log returns and the number of missing bars before each candle.
select
    *,
    close / lag(close) over w - 1                                       as ret_simple,
    ln(close / lag(close) over w)                                       as ret_log,
    cast((epoch(ts) - epoch(lag(ts) over w)) // timeframe_s - 1 as bigint) as gap_bars_before
from {{ ref('int_candles') }}
window w as (partition by exchange, symbol, timeframe order by ts)
