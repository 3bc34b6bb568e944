-- Base candles aggregated to each higher timeframe they divide: open = first, high = max,
-- low = min, close = last, volume = sum. A target timeframe ingested natively is not
-- resampled; otherwise the finest base timeframe is used. A bucket the base stream has not
-- reached the end of yet is open, and never complete.
{{ resampled_candles(ref('stg_ohlcv')) }}
