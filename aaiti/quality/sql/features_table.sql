SELECT count(*) FROM duckdb_tables() WHERE schema_name = 'marts' AND table_name = 'fct_features'
