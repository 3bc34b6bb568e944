-- Candles as ingested, renamed, cast, deduplicated per key (newest ingest wins) and flagged.
{{ staged_ohlcv(source('raw', 'ohlcv')) }}
