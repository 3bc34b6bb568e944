INSERT INTO trading.cursor AS c (account, exchange, symbol, timeframe, last_bar_ts)
VALUES ($1, $2, $3, $4, $5)
ON CONFLICT (account, exchange, symbol, timeframe) DO UPDATE
SET last_bar_ts = greatest(c.last_bar_ts, excluded.last_bar_ts)
