-- The bar a stream's raw gate blocks on for a level shift or an unconfirmed jump (newest run).
SELECT r.unexpected_ts, r.description
FROM ops.quality_results AS r
WHERE r.checkpoint = 'raw' AND r.exchange = $1 AND r.symbol = $2 AND r.timeframe = $3
  AND r.column_name IN ('level_shift', 'unconfirmed_jump', 'volume_shift', 'volume_unconfirmed', 'wick_unconfirmed') AND NOT r.success
ORDER BY r.validated_at DESC, r.attempt DESC
LIMIT 1
