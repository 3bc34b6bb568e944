-- Alerts of the last 24 hours (of the newest alert), newest first, one row per alert.
SELECT a.raised_at, a.severity, a.source, a.message,
       coalesce(string_agg(DISTINCT m.channel || ':' || m.status, ', '), 'not delivered yet')
           AS delivery
FROM ops.alerts AS a
LEFT JOIN monitoring.alerts AS m USING (alert_id)
WHERE a.raised_at >= (SELECT max(raised_at) FROM ops.alerts) - INTERVAL 1 DAY
GROUP BY ALL ORDER BY a.raised_at DESC LIMIT 50
