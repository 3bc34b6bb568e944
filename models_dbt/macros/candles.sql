{# The candle logic, written once and used twice: by the views over the whole history
   (stg_ohlcv, int_candles_resampled, int_candles, int_returns) and by fct_candles'
   incremental branch over just the slice of raw candles a new bar affects. #}

{% macro staged_ohlcv(relation) -%}
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
    from {{ relation }}
    -- newest ingest wins per key (raw.ohlcv's primary key already makes this a no-op)
    qualify row_number() over (
        partition by exchange, symbol, timeframe, ts order by ingested_at desc
    ) = 1
{%- endmacro %}

{% macro resample_targets() -%}
    select unnest([
        {%- for tf in var('resample_timeframes') %}'{{ tf }}'{{ ', ' if not loop.last }}{% endfor -%}
    ]) as timeframe
{%- endmacro %}

{% macro max_resample_seconds() -%}
    {%- set ns = {'m': 60, 'h': 3600, 'd': 86400, 'w': 604800} -%}
    {%- set ns2 = namespace(best=1) -%}
    {%- for tf in var('resample_timeframes') -%}
        {%- set s = (tf[:-1] | int) * ns[tf[-1]] -%}
        {%- if s > ns2.best %}{% set ns2.best = s %}{% endif -%}
    {%- endfor -%}
    {{ ns2.best }}
{%- endmacro %}

{# `natives` lists every ingested stream (exchange, symbol, timeframe) so that a slice of
   the history chooses the same base timeframe as the whole history would. #}
{% macro resampled_candles(base, natives=none) -%}
    with streams as (
        select exchange, symbol, timeframe as base_timeframe, any_value(timeframe_s) as base_s,
               max(ts) as base_last_ts
        from {{ base }}
        group by exchange, symbol, timeframe
    ),
    native as (
        {% if natives %}
        select distinct exchange, symbol, timeframe as base_timeframe,
               {{ timeframe_seconds('timeframe') }} as base_s
        from {{ natives }}
        {% else %}
        select exchange, symbol, base_timeframe, base_s from streams
        {% endif %}
    ),
    targets as ({{ resample_targets() }}),
    pairs as (
        select n.*, t.timeframe, {{ timeframe_seconds('t.timeframe') }} as timeframe_s
        from native as n
        cross join targets as t
        where {{ timeframe_seconds('t.timeframe') }} > n.base_s
          and {{ timeframe_seconds('t.timeframe') }} % n.base_s = 0
    ),
    best as (
        select p.*
        from pairs as p
        where not exists (
            select 1 from native as n
            where n.exchange = p.exchange and n.symbol = p.symbol and n.base_timeframe = p.timeframe
        )
        qualify row_number() over (
            partition by p.exchange, p.symbol, p.timeframe order by p.base_s
        ) = 1
    ),
    chosen as (
        select b.*, s.base_last_ts
        from best as b
        join streams as s
          on s.exchange = b.exchange and s.symbol = b.symbol and s.base_timeframe = b.base_timeframe
    ),
    bucketed as (
        select
            c.exchange, c.symbol, c.timeframe, c.timeframe_s, c.base_timeframe, c.base_s,
            c.base_last_ts,
            {{ bucket_start('b.ts', 'c.timeframe_s') }} as ts,
            b.ts as base_ts, b.open, b.high, b.low, b.close, b.volume, b.ingested_at
        from chosen as c
        join {{ base }} as b
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
{%- endmacro %}

{% macro unioned_candles(staged, resampled) -%}
    select
        exchange, symbol, timeframe, timeframe_s, ts, open, high, low, close, volume,
        timeframe                   as origin_timeframe,
        1                           as n_base_candles,
        1                           as expected_base_candles,
        false                       as is_open,
        true                        as is_complete,
        is_zero_volume,
        ingested_at                 as loaded_at
    from {{ staged }}
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
    from {{ resampled }}
{%- endmacro %}

{# One-bar returns and missing bars before each row. With `anchors` (the last already-built
   row of each stream before the slice: exchange, symbol, timeframe, ts, close), the first
   row of the slice gets its return from it; anchors themselves are not returned. #}
{% macro candles_with_returns(candles, anchors=none) -%}
    with rows as (
        select *, false as _is_anchor from {{ candles }}
        {% if anchors %}
        union all by name
        select exchange, symbol, timeframe, ts, close, true as _is_anchor from {{ anchors }}
        {% endif %}
    ),
    with_lag as (
        select
            *,
            lag(close) over w   as _prev_close,
            lag(ts) over w      as _prev_ts
        from rows
        window w as (partition by exchange, symbol, timeframe order by ts)
    )
    select
        * exclude (_is_anchor, _prev_close, _prev_ts),
        close / _prev_close - 1                                                as ret_simple,
        ln(close / _prev_close)                                                as ret_log,
        cast((epoch(ts) - epoch(_prev_ts)) // timeframe_s - 1 as bigint)       as gap_bars_before
    from with_lag
    where not _is_anchor
{%- endmacro %}
