-- One row per alert and channel: 'sending' before the send, its outcome after.
INSERT INTO monitoring.alerts BY NAME SELECT * FROM alert_outcomes
ON CONFLICT (alert_id, channel) DO UPDATE SET
    status = excluded.status, attempts = excluded.attempts, error = excluded.error,
    handled_at = excluded.handled_at, resends = excluded.resends
