DELETE FROM raw.ohlcv AS o
WHERE EXISTS (
    SELECT 1 FROM gate_rejects AS r
    WHERE r.exchange = o.exchange AND r.symbol = o.symbol AND r.timeframe = o.timeframe
      AND r.ts = o.ts
)
