INSERT OR REPLACE INTO trading.stale_releases
    (account, exchange, symbol, quantity, mark_price, actor, reason, released_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
