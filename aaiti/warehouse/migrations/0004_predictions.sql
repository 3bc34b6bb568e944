-- Model predictions: one row per stream, candle and model version (idempotent per bar).
CREATE TABLE ml.predictions (
    exchange      VARCHAR     NOT NULL,
    symbol        VARCHAR     NOT NULL,
    timeframe     VARCHAR     NOT NULL,
    ts            TIMESTAMPTZ NOT NULL,   -- the feature row (candle open time) scored
    model_name    VARCHAR     NOT NULL,
    model_version INTEGER     NOT NULL,
    run_id        VARCHAR     NOT NULL,   -- the MLflow run behind the version
    probability   DOUBLE      NOT NULL,   -- P(next move up beyond the dead zone)
    signal        INTEGER     NOT NULL,   -- 1 long, 0 flat (probability > 0.5)
    predicted_at  TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (exchange, symbol, timeframe, ts, model_name, model_version)
);
