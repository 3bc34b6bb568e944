-- The deployed strategy per timeframe: its champion model version, whether it may trade,
-- and the newest out-of-sample evaluation's net and buy-and-hold figures, the tests against
-- the benchmark and the trials counted.
SELECT s.strategy, s.timeframe, s.model_name, s.model_version, s.qualified::INTEGER AS qualified,
       e.net_sharpe, e.net_total_return, e.net_max_drawdown, e.bh_sharpe, e.bh_total_return,
       e.dsr, e.benchmark_p_value, e.spa_p_value, e.trials
FROM strategy.state AS s
LEFT JOIN (
    SELECT * FROM strategy.evaluations
    QUALIFY row_number() OVER (PARTITION BY strategy, timeframe ORDER BY evaluated_at DESC) = 1
) AS e USING (strategy, timeframe)
ORDER BY ALL
