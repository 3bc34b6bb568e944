INSERT INTO trading.strategy_streams BY NAME SELECT * FROM streams_now
ON CONFLICT (account, exchange, symbol) DO UPDATE SET
    position = excluded.position, held = excluded.held, stop = excluded.stop,
    target = excluded.target, updated_at = excluded.updated_at
