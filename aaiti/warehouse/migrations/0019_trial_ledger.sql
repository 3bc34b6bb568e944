-- The trial ledger: every recipe evaluated on a data set (timeframe, streams, first bar's
-- day), with its newest out-of-sample per-bar Sharpe. The deflated Sharpe ratio's N and the
-- variance of trial Sharpes come from here (plus the committed research log).
CREATE TABLE strategy.trials (
    dataset_key   VARCHAR     NOT NULL,
    dataset       VARCHAR     NOT NULL,   -- JSON: timeframe, streams, first_day
    recipe_key    VARCHAR     NOT NULL,
    recipe        VARCHAR     NOT NULL,   -- JSON: model config, training window, strategy rules
    source        VARCHAR     NOT NULL,   -- train | evaluate: the run that last evaluated it
    sharpe        DOUBLE,                 -- per bar, out of sample, net of costs (NULL: undefined)
    observations  BIGINT      NOT NULL,
    weight        INTEGER     NOT NULL,   -- model-parameter draws behind it (the search budget)
    first_seen    TIMESTAMPTZ NOT NULL,
    last_seen     TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (dataset_key, recipe_key)
);
