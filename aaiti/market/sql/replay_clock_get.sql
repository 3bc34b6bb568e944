SELECT start_ts, bars_per_run, released_until
FROM ops.replay_clock
WHERE exchange = $1 AND symbol = $2 AND timeframe = $3
