-- Alert deliveries by channel and outcome; alerts raised and not yet delivered.
SELECT channel, status, count(*) AS n FROM monitoring.alerts GROUP BY ALL
UNION ALL
SELECT '(outbox)', 'pending', count(*) FROM ops.alerts WHERE delivered_at IS NULL
ORDER BY ALL
