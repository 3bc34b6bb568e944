{# A candle's open time cannot be after now; with `plus_timeframe` its close neither. #}
{% test not_in_future(model, column_name) %}
select * from {{ model }} where {{ column_name }} > now()
{% endtest %}
