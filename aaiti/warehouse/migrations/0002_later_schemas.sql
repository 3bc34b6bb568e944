-- Schemas owned by later stages, created up front so readers can rely on them.
CREATE SCHEMA IF NOT EXISTS ml;
CREATE SCHEMA IF NOT EXISTS trading;
CREATE SCHEMA IF NOT EXISTS risk;
CREATE SCHEMA IF NOT EXISTS monitoring;
CREATE SCHEMA IF NOT EXISTS audit;

CREATE TABLE audit.log (
    logged_at TIMESTAMPTZ NOT NULL,
    actor    VARCHAR     NOT NULL,
    action   VARCHAR     NOT NULL,
    detail   VARCHAR
);
