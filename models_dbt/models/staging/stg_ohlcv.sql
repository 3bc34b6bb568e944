-- Candles as ingested, renamed, cast, deduplicated per key (newest ingest wins) and flagged.
with source as (
    select * from {{ source('raw', 'ohlcv') }}
),

deduplicated as (
    select *
    from source
    qualify row_number() over (
        partition by exchange, symbol, timeframe, ts order by ingested_at desc
    ) = 1
)

select
    exchange,
    symbol,
    timeframe,
    {{ timeframe_seconds('timeframe') }}            as timeframe_s,
    ts,
    cast(open as double)                            as open,
    cast(high as double)                            as high,
    cast(low as double)                             as low,
    cast(close as double)                           as close,
    cast(volume as double)                          as volume,
    volume = 0                                      as is_zero_volume,
    open = high and high = low and low = close      as is_flat,
    ingest_batch_id,
    ingested_at
from deduplicated
