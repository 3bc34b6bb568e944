-- A rate between two currencies at a bar time: the close of the newest closed native bar of
-- the trading timeframe ($3) at or before that time ($4) of a stream pricing $1 in $2
-- (direct) or $2 in $1 (inverted by the caller). A bar whose time is at or before a book's
-- equity row closed no later than that row's own bar: no rate from after the equity it
-- converts. Blocked streams give none (a price the gates refused). The newest bar first,
-- then exchanges by name.
SELECT b.symbol = $1 || '/' || $2 AS direct, b.close, b.ts, b.exchange
FROM marts.fct_candles AS b
WHERE b.symbol IN ($1 || '/' || $2, $2 || '/' || $1) AND b.timeframe = $3 AND b.ts <= $4
  AND b.origin_timeframe = b.timeframe AND NOT b.is_open
  AND NOT ops.stream_blocked(b.exchange, b.symbol, b.timeframe)
ORDER BY b.ts DESC, b.exchange
LIMIT 1
