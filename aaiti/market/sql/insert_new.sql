-- Insert the incoming candles whose key is not stored yet ($1 = batch id, $2 = ingest time).
INSERT INTO raw.ohlcv
SELECT i.exchange, i.symbol, i.timeframe, i.ts, i.open, i.high, i.low, i.close, i.volume,
       $1, $2
FROM incoming AS i
ANTI JOIN raw.ohlcv AS t
    ON  t.exchange = i.exchange AND t.symbol = i.symbol
    AND t.timeframe = i.timeframe AND t.ts = i.ts
