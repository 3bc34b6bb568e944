-- The verdict against what the user could hold instead: the benchmark and the two tests'
-- p-values (Ledoit–Wolf Sharpe difference; Hansen's SPA over every candidate tried).
ALTER TABLE strategy.evaluations ADD COLUMN benchmark VARCHAR;
ALTER TABLE strategy.evaluations ADD COLUMN benchmark_p_value DOUBLE;
ALTER TABLE strategy.evaluations ADD COLUMN spa_p_value DOUBLE;
ALTER TABLE strategy.evaluations ADD COLUMN candidates INTEGER;
