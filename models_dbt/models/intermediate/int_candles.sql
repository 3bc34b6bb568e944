-- Every timeframe in one relation: native candles and resampled buckets.
{{ unioned_candles(ref('stg_ohlcv'), ref('int_candles_resampled')) }}
