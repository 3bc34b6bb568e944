-- Ingest runs by kind and outcome, and candles they inserted.
SELECT kind, status, count(*) AS runs, sum(inserted) AS inserted
FROM ops.ingest_runs GROUP BY ALL ORDER BY ALL
