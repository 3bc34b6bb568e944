-- What earlier, interrupted deliveries of the claimed alerts got to, per channel.
SELECT alert_id, channel, status, attempts FROM monitoring.alerts
WHERE list_contains($1::UUID[], alert_id)
