-- The strategy: what trades (state), how each evaluation judged it, and its equity curves.
CREATE SCHEMA IF NOT EXISTS strategy;

-- One row per strategy name: the pinned model version it trades and whether it may trade.
CREATE TABLE strategy.state (
    strategy          VARCHAR     PRIMARY KEY,
    timeframe         VARCHAR     NOT NULL,
    model_name        VARCHAR     NOT NULL,
    model_version     INTEGER     NOT NULL,
    strategy_version  VARCHAR     NOT NULL,
    spec              VARCHAR     NOT NULL,   -- JSON of aaiti.strategy.spec.StrategySpec
    qualified         BOOLEAN     NOT NULL,
    reason            VARCHAR     NOT NULL,
    decided_at        TIMESTAMPTZ NOT NULL
);

-- Walk-forward evaluations, net of costs, beside buy-and-hold (analysts: one row each).
CREATE TABLE strategy.evaluations (
    evaluation_id     VARCHAR     NOT NULL,
    evaluated_at      TIMESTAMPTZ NOT NULL,
    role              VARCHAR     NOT NULL,   -- challenger | champion (same folds) | evaluate
    strategy          VARCHAR     NOT NULL,
    strategy_version  VARCHAR     NOT NULL,
    model_name        VARCHAR,
    model_version     INTEGER,
    timeframe         VARCHAR     NOT NULL,
    oos_start         TIMESTAMPTZ,
    oos_end           TIMESTAMPTZ,
    net_total_return  DOUBLE,
    net_cagr          DOUBLE,
    net_sharpe        DOUBLE,
    net_sortino       DOUBLE,
    net_max_drawdown  DOUBLE,
    trades            BIGINT,
    exposure          DOUBLE,
    turnover          DOUBLE,
    bh_total_return   DOUBLE,
    bh_sharpe         DOUBLE,
    bh_max_drawdown   DOUBLE,
    dsr               DOUBLE,
    pbo               DOUBLE,
    trials            INTEGER     NOT NULL,
    qualified         BOOLEAN     NOT NULL,
    reason            VARCHAR     NOT NULL,
    summary           VARCHAR     NOT NULL,   -- JSON: per stream, conventions, spec
    PRIMARY KEY (evaluation_id, role)
);

-- Equity curves of each evaluation (net of costs) beside buy-and-hold, per stream and portfolio.
CREATE TABLE strategy.curves (
    evaluation_id     VARCHAR     NOT NULL,
    role              VARCHAR     NOT NULL,
    series            VARCHAR     NOT NULL,
    ts                TIMESTAMPTZ NOT NULL,
    strategy          DOUBLE      NOT NULL,
    buy_and_hold      DOUBLE      NOT NULL
);

-- The decision core's carried state per traded stream (held bars, ATR stop and target).
CREATE TABLE trading.strategy_streams (
    account           VARCHAR     NOT NULL,
    exchange          VARCHAR     NOT NULL,
    symbol            VARCHAR     NOT NULL,
    position          INTEGER     NOT NULL,
    held              INTEGER     NOT NULL,
    stop              DOUBLE,
    target            DOUBLE,
    updated_at        TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (account, exchange, symbol)
);
