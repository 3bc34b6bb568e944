-- Holes already re-fetched that the source could not fill: not worth asking again.
SELECT gap_start, gap_end FROM ops.gap_checks
WHERE exchange = $1 AND symbol = $2 AND timeframe = $3 AND filled = 0
