-- Insert every incoming candle: used when none of their keys is stored yet.
INSERT INTO raw.ohlcv
SELECT exchange, symbol, timeframe, ts, open, high, low, close, volume, $1, $2
FROM incoming
