INSERT INTO strategy.curves BY NAME SELECT * FROM curves_now
