{# Seconds in a timeframe name such as 1m, 4h, 1d (the names aaiti.market accepts). #}
{% macro timeframe_seconds(col) -%}
    (cast(regexp_extract({{ col }}, '^([0-9]+)', 1) as bigint) *
     case right({{ col }}, 1) when 'm' then 60 when 'h' then 3600 when 'd' then 86400
                              when 'w' then 604800 end)
{%- endmacro %}

{# Open time of the bucket of `seconds` containing ts, computed on epoch seconds so the
   session time zone can never shift it (buckets are UTC-aligned). #}
{% macro bucket_start(ts, seconds) -%}
    to_timestamp((epoch({{ ts }})::bigint // {{ seconds }}) * {{ seconds }})
{%- endmacro %}
