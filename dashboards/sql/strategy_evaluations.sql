-- The latest evaluation's rows (challenger, the champion on the same folds, or `aaiti evaluate`).
SELECT evaluation_id, evaluated_at, role, strategy, strategy_version, model_version, oos_start,
       oos_end, net_total_return, net_sharpe, net_sortino, net_max_drawdown, trades, exposure,
       bh_total_return, bh_sharpe, bh_max_drawdown, dsr, pbo, trials, benchmark, benchmark_p_value, spa_p_value,
       candidates, qualified, reason, summary
FROM strategy.evaluations
WHERE evaluated_at = (SELECT max(evaluated_at) FROM strategy.evaluations)
ORDER BY role
