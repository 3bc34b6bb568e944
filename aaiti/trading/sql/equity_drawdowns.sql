-- Drawdowns of the equity rows from a time on, from the running peak of the account's
-- equity (after late marks restated some of them: equity_restate.sql).
UPDATE trading.equity AS e
SET drawdown = r.drawdown
FROM (
    SELECT ts, 1 - equity / max(equity) OVER (ORDER BY ts ROWS UNBOUNDED PRECEDING) AS drawdown
    FROM trading.equity WHERE account = $1
) AS r
WHERE e.account = $1 AND e.ts = r.ts AND e.ts >= $2
