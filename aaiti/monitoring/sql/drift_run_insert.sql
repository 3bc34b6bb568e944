INSERT INTO monitoring.drift_runs (
    drift_run_id, computed_at, model_name, model_version, mlflow_run_id,
    reference_start, reference_end, current_start, current_end, reference_rows, current_rows,
    method, threshold, drifted_share, dataset_drift, prediction_score, prediction_drift,
    labelled_rows, current_auc, reference_auc, report_path
) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21)
