-- Monitoring: drift runs and their per-column scores, retrain decisions, and alert delivery.
-- ops.alerts stays the outbox every stage writes to inside its own transaction; delivery
-- claims rows from it and records one monitoring.alerts row per alert and channel.
ALTER TABLE ops.alerts ADD COLUMN alert_id UUID DEFAULT gen_random_uuid();
ALTER TABLE ops.alerts ADD COLUMN claimed_at TIMESTAMPTZ;

CREATE TABLE monitoring.alerts (
    alert_id     UUID        NOT NULL,
    raised_at    TIMESTAMPTZ NOT NULL,
    source       VARCHAR     NOT NULL,
    severity     VARCHAR     NOT NULL,
    dedup_key    VARCHAR     NOT NULL,
    message      VARCHAR     NOT NULL,
    channel      VARCHAR     NOT NULL,   -- log | webhook | slack | discord | email
    status       VARCHAR     NOT NULL,   -- sent | failed | duplicate | rate_limited
    attempts     INTEGER     NOT NULL,
    error        VARCHAR,
    handled_at   TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (alert_id, channel)
);

CREATE TABLE monitoring.drift_runs (
    drift_run_id      VARCHAR     PRIMARY KEY,
    computed_at       TIMESTAMPTZ NOT NULL,
    model_name        VARCHAR     NOT NULL,
    model_version     INTEGER     NOT NULL,
    mlflow_run_id     VARCHAR     NOT NULL,
    reference_start   TIMESTAMPTZ NOT NULL,  -- the champion's training window
    reference_end     TIMESTAMPTZ NOT NULL,
    current_start     TIMESTAMPTZ NOT NULL,
    current_end       TIMESTAMPTZ NOT NULL,
    reference_rows    INTEGER     NOT NULL,
    current_rows      INTEGER     NOT NULL,
    method            VARCHAR     NOT NULL,
    threshold         DOUBLE      NOT NULL,
    drifted_share     DOUBLE      NOT NULL,  -- of the model's features
    dataset_drift     BOOLEAN     NOT NULL,
    prediction_score  DOUBLE,                -- drift of the predicted probabilities
    prediction_drift  BOOLEAN,
    labelled_rows     INTEGER     NOT NULL,  -- current predictions whose label has matured
    current_auc       DOUBLE,
    reference_auc     DOUBLE,                -- the champion's walk-forward OOS AUC
    report_path       VARCHAR     NOT NULL
);

CREATE TABLE monitoring.drift_metrics (
    drift_run_id  VARCHAR NOT NULL,
    kind          VARCHAR NOT NULL,   -- feature | prediction
    column_name   VARCHAR NOT NULL,
    method        VARCHAR NOT NULL,
    score         DOUBLE  NOT NULL,
    threshold     DOUBLE  NOT NULL,
    drifted       BOOLEAN NOT NULL,
    PRIMARY KEY (drift_run_id, kind, column_name)
);

CREATE TABLE monitoring.retrain_decisions (
    decided_at    TIMESTAMPTZ NOT NULL,
    model_name    VARCHAR     NOT NULL,
    drift_run_id  VARCHAR,
    retrain       BOOLEAN     NOT NULL,
    reason        VARCHAR     NOT NULL,
    started_via   VARCHAR              -- deployment | subflow | null when not retraining
);
