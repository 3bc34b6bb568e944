-- Each stream's mark at a checkpoint (NULLs for a stream never validated).
SELECT s.exchange, s.symbol, s.timeframe, g.status, g.validated_through, g.ingest_mark,
       g.rows_through, g.params_hash
FROM gate_streams AS s
LEFT JOIN ops.stream_gates AS g
  ON g.exchange = s.exchange AND g.symbol = s.symbol AND g.timeframe = s.timeframe
 AND g.checkpoint = $1
