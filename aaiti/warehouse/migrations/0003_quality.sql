-- Quality gates: results per expectation, the gate state of each stream, alerts, and the
-- rows a gate quarantined (kept out of raw.ohlcv and out of later re-ingests).
ALTER TABLE raw.ohlcv_quarantine ADD COLUMN stage VARCHAR DEFAULT 'ingest';
UPDATE raw.ohlcv_quarantine SET stage = 'ingest' WHERE stage IS NULL;

CREATE TABLE ops.quality_results (
    run_id           VARCHAR     NOT NULL,
    checkpoint       VARCHAR     NOT NULL,   -- raw | features
    exchange         VARCHAR     NOT NULL,
    symbol           VARCHAR     NOT NULL,
    timeframe        VARCHAR     NOT NULL,
    attempt          INTEGER     NOT NULL,   -- 1; 2 = re-validation after quarantine
    expectation      VARCHAR     NOT NULL,   -- e.g. expect_column_values_to_be_between
    column_name      VARCHAR,
    description      VARCHAR     NOT NULL,   -- what it checks, in words
    severity         VARCHAR     NOT NULL,   -- critical | warning
    success          BOOLEAN     NOT NULL,
    rows_validated   BIGINT      NOT NULL,
    unexpected_count BIGINT,
    unexpected_ts    VARCHAR,                -- JSON list of the first offending candle times
    observed         VARCHAR,
    validated_at     TIMESTAMPTZ NOT NULL
);

CREATE TABLE ops.stream_gates (
    exchange    VARCHAR     NOT NULL,
    symbol      VARCHAR     NOT NULL,
    timeframe   VARCHAR     NOT NULL,
    checkpoint  VARCHAR     NOT NULL,    -- raw | features
    status      VARCHAR     NOT NULL,    -- passed | blocked
    run_id      VARCHAR     NOT NULL,
    reason      VARCHAR,
    quarantined BIGINT      NOT NULL DEFAULT 0,
    warnings    BIGINT      NOT NULL DEFAULT 0,
    updated_at  TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (exchange, symbol, timeframe, checkpoint)
);

-- Alerts raised by the pipeline (monitoring will deliver them to channels).
CREATE TABLE ops.alerts (
    raised_at   TIMESTAMPTZ NOT NULL,
    source      VARCHAR     NOT NULL,    -- quality | risk | ingest | ...
    severity    VARCHAR     NOT NULL,    -- critical | warning | info
    dedup_key   VARCHAR     NOT NULL,
    message     VARCHAR     NOT NULL
);

-- Requests to rebuild derived tables in full (e.g. after a gate removed candles).
CREATE TABLE ops.transform_requests (
    requested_at TIMESTAMPTZ NOT NULL,
    reason       VARCHAR     NOT NULL,
    done_at      TIMESTAMPTZ
);

-- What an ingest run noticed without rejecting (out-of-order arrivals, duplicates dropped).
ALTER TABLE ops.ingest_runs ADD COLUMN notes VARCHAR;
