{# Each stream's newest candle must be at most `max_lag_bars` bars old. "Now" is the market
   replay clock for replayed streams, the wall clock otherwise, so freshness follows each
   stream's own timeframe. #}
{% test fresh_per_stream(model, max_lag_bars=3) %}
with latest as (
    select exchange, symbol, timeframe, max(ts) as newest,
           {{ timeframe_seconds('timeframe') }} as tf_s
    from {{ model }}
    group by exchange, symbol, timeframe
), clock as (
    select exchange, symbol, timeframe, released_until from {{ source('ops', 'replay_clock') }}
)
select l.*, coalesce(c.released_until, now()) as reference_now
from latest l
left join clock c using (exchange, symbol, timeframe)
where epoch(coalesce(c.released_until, now())) - epoch(l.newest) - l.tf_s > {{ max_lag_bars }} * l.tf_s
{% endtest %}
