-- One stream's newest closed candles ($4 of them) with the indicators the page can overlay.
SELECT * FROM (
    SELECT c.ts, c.open, c.high, c.low, c.close, c.volume, f.rsi_14, f.macd, f.macd_signal,
           f.macd_hist, f.bb_pct_b, f.bb_bandwidth, f.atr_14, f.realized_vol_20
    FROM marts.fct_candles AS c
    LEFT JOIN marts.fct_features AS f USING (exchange, symbol, timeframe, ts)
    WHERE c.exchange = $1 AND c.symbol = $2 AND c.timeframe = $3 AND NOT c.is_open
    ORDER BY c.ts DESC
    LIMIT $4
) ORDER BY ts
