-- Ad hoc backtest results: one row per run, symbol and parameter set.
CREATE TABLE trading.backtests (
    backtest_id       VARCHAR     NOT NULL,
    created_at        TIMESTAMPTZ NOT NULL,
    strategy          VARCHAR     NOT NULL,
    symbol            VARCHAR     NOT NULL,
    timeframe         VARCHAR     NOT NULL,
    params            VARCHAR     NOT NULL,   -- JSON
    fee_bps           DOUBLE      NOT NULL,
    slippage_bps      DOUBLE      NOT NULL,
    total_return      DOUBLE,
    cagr              DOUBLE,
    sharpe            DOUBLE,
    sortino           DOUBLE,
    calmar            DOUBLE,
    max_drawdown      DOUBLE,
    trades            BIGINT,
    win_rate          DOUBLE,
    profit_factor     DOUBLE,
    exposure          DOUBLE,
    turnover          DOUBLE,
    mlflow_run_id     VARCHAR
);
