INSERT INTO trading.ledger BY NAME SELECT * FROM ledger_now
