INSERT INTO trading.backtests BY NAME SELECT * FROM backtests_now
