-- One-bar simple and log returns and the number of missing bars before each candle.
{{ candles_with_returns(ref('int_candles')) }}
