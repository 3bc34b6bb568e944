-- The newest drift run per model: drifted share, live and out-of-sample AUC.
SELECT model_name, model_version, drifted_share, current_auc, reference_auc
FROM monitoring.drift_runs
QUALIFY row_number() OVER (PARTITION BY model_name ORDER BY computed_at DESC) = 1
ORDER BY ALL
