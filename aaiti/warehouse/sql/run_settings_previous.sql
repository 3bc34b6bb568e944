-- The settings the most recent recorded run used.
SELECT settings FROM audit.run_settings ORDER BY recorded_at DESC LIMIT 1
