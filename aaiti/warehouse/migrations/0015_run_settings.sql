-- The settings each run used: a hash of them, and the values that changed since the
-- previous run recorded (secrets only as set/unset), so that an operator can tell what a
-- run was configured with and when a setting moved.
CREATE TABLE audit.run_settings (
    recorded_at   TIMESTAMPTZ NOT NULL,
    run           VARCHAR     NOT NULL,   -- a flow's name and run id, or a CLI command
    settings_hash VARCHAR     NOT NULL,
    changed       JSON        NOT NULL,   -- {setting: [before, after]}; every value on the first run
    settings      JSON        NOT NULL    -- the values, secrets as "set"/"unset"
);
