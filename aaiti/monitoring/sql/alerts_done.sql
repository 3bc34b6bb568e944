-- Alerts whose every channel has a final outcome.
UPDATE ops.alerts SET delivered_at = $1 WHERE list_contains($2::UUID[], alert_id)
