INSERT INTO ops.replay_clock AS c
    (exchange, symbol, timeframe, start_ts, bars_per_run, released_until, updated_at)
VALUES ($1, $2, $3, $4, $5, $6, $7)
ON CONFLICT (exchange, symbol, timeframe) DO UPDATE
SET bars_per_run = excluded.bars_per_run,
    released_until = excluded.released_until,
    updated_at = excluded.updated_at
