{# Use the folder's schema name as is (staging, intermediate, marts), not main_staging. #}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {{ (custom_schema_name or target.schema) | trim }}
{%- endmacro %}
