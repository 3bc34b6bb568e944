INSERT INTO trading.reconciliations BY NAME SELECT * FROM reconciliation_rows
