-- A bar time stepped again (a stream whose bar came a cycle later than the others') is
-- written again: the later row has every fill up to that bar, the earlier one did not.
INSERT INTO trading.equity BY NAME SELECT * FROM equity_now
ON CONFLICT (account, ts) DO UPDATE SET
    cash = excluded.cash, position_value = excluded.position_value,
    equity = excluded.equity, drawdown = excluded.drawdown
