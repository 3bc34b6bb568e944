SELECT * FROM raw.ohlcv_quarantine ORDER BY quarantined_at DESC LIMIT 500
