-- Tables dbt built (views have no stored rows), for the per-model report.
SELECT schema_name, table_name, estimated_size
FROM duckdb_tables()
WHERE schema_name IN ('staging', 'intermediate', 'marts')
