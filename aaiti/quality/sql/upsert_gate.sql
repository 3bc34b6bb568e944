INSERT INTO ops.stream_gates AS g
    (exchange, symbol, timeframe, checkpoint, status, run_id, reason, quarantined, warnings,
     updated_at, validated_through, ingest_mark, rows_through, params_hash, mode, rows_judged)
SELECT exchange, symbol, timeframe, checkpoint, status, run_id, reason, quarantined, warnings,
       updated_at, validated_through, ingest_mark, rows_through, params_hash, mode, rows_judged
FROM gate_verdicts
ON CONFLICT (exchange, symbol, timeframe, checkpoint) DO UPDATE
SET status = excluded.status, run_id = excluded.run_id, reason = excluded.reason,
    quarantined = excluded.quarantined, warnings = excluded.warnings,
    updated_at = excluded.updated_at, validated_through = excluded.validated_through,
    ingest_mark = excluded.ingest_mark, rows_through = excluded.rows_through,
    params_hash = excluded.params_hash, mode = excluded.mode, rows_judged = excluded.rows_judged
