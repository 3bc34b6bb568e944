-- Holes inside each stream: the bars missing between two stored candles.
select
    exchange,
    symbol,
    timeframe,
    to_timestamp(epoch(ts) - (gap_bars_before) * timeframe_s) as first_missing_ts,
    to_timestamp(epoch(ts) - timeframe_s)                    as last_missing_ts,
    gap_bars_before                                           as missing_bars
from {{ ref('int_returns') }}
where gap_bars_before > 0
