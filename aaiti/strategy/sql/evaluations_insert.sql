INSERT INTO strategy.evaluations BY NAME SELECT * FROM evaluations_now
