-- Paper trading: the broker's state between bars, with lineage to the prediction behind
-- each order; the risk gate's state, its refusals and the risk metrics.
CREATE TABLE trading.account (
    account       VARCHAR     PRIMARY KEY,
    initial_cash  DOUBLE      NOT NULL,
    cash          DOUBLE      NOT NULL,
    updated_at    TIMESTAMPTZ NOT NULL
);

CREATE TABLE trading.orders (
    client_order_id VARCHAR     PRIMARY KEY,   -- strategy:exchange:symbol:timeframe:bar:leg
    account         VARCHAR     NOT NULL,
    exchange        VARCHAR     NOT NULL,
    symbol          VARCHAR     NOT NULL,
    timeframe       VARCHAR     NOT NULL,
    side            VARCHAR     NOT NULL,
    order_type      VARCHAR     NOT NULL,
    quantity        DOUBLE,
    notional        DOUBLE,
    limit_price     DOUBLE,
    stop_price      DOUBLE,
    time_in_force   VARCHAR     NOT NULL,
    status          VARCHAR     NOT NULL,
    filled_quantity DOUBLE      NOT NULL,
    average_price   DOUBLE      NOT NULL,
    reason          VARCHAR,
    decided_at_bar  TIMESTAMPTZ NOT NULL,      -- the close that decided it (fills at the next open)
    prediction_ts   TIMESTAMPTZ,               -- ml.predictions row behind it
    model_name      VARCHAR,
    model_version   INTEGER,
    run_id          VARCHAR,
    created_at      TIMESTAMPTZ NOT NULL,
    updated_at      TIMESTAMPTZ NOT NULL
);

CREATE TABLE trading.fills (
    client_order_id VARCHAR     NOT NULL,
    exchange        VARCHAR     NOT NULL,
    symbol          VARCHAR     NOT NULL,
    bar_ts          TIMESTAMPTZ NOT NULL,
    side            VARCHAR     NOT NULL,
    quantity        DOUBLE      NOT NULL,
    price           DOUBLE      NOT NULL,
    fee             DOUBLE      NOT NULL,
    recorded_at     TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (client_order_id, bar_ts)
);

CREATE TABLE trading.positions (
    account        VARCHAR     NOT NULL,
    exchange       VARCHAR     NOT NULL,
    symbol         VARCHAR     NOT NULL,
    quantity       DOUBLE      NOT NULL,
    average_price  DOUBLE      NOT NULL,
    realized_pnl   DOUBLE      NOT NULL,
    mark_price     DOUBLE,
    updated_at     TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (account, exchange, symbol)
);

CREATE TABLE trading.ledger (
    account         VARCHAR     NOT NULL,
    at_bar          TIMESTAMPTZ NOT NULL,
    kind            VARCHAR     NOT NULL,    -- deposit | fill | fee
    client_order_id VARCHAR,
    amount          DOUBLE      NOT NULL,
    balance         DOUBLE      NOT NULL,
    recorded_at     TIMESTAMPTZ NOT NULL
);

CREATE TABLE trading.equity (
    account         VARCHAR     NOT NULL,
    ts              TIMESTAMPTZ NOT NULL,    -- bar open time whose close marks it
    cash            DOUBLE      NOT NULL,
    position_value  DOUBLE      NOT NULL,
    equity          DOUBLE      NOT NULL,
    drawdown        DOUBLE      NOT NULL,
    PRIMARY KEY (account, ts)
);

-- Bars each stream's trading has processed (a rerun of a bar trades nothing).
CREATE TABLE trading.cursor (
    account     VARCHAR     NOT NULL,
    exchange    VARCHAR     NOT NULL,
    symbol      VARCHAR     NOT NULL,
    timeframe   VARCHAR     NOT NULL,
    last_bar_ts TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (account, exchange, symbol, timeframe)
);

CREATE TABLE risk.state (
    account    VARCHAR     PRIMARY KEY,
    state      VARCHAR     NOT NULL,   -- JSON of aaiti.risk.gate.RiskState
    updated_at TIMESTAMPTZ NOT NULL
);

CREATE TABLE risk.breaches (
    breached_at      TIMESTAMPTZ NOT NULL,
    account          VARCHAR     NOT NULL,
    rule             VARCHAR     NOT NULL,
    symbol           VARCHAR,
    side             VARCHAR,
    notional         DOUBLE,
    client_order_id  VARCHAR,
    reason           VARCHAR     NOT NULL
);

CREATE TABLE risk.metrics (
    computed_at  TIMESTAMPTZ NOT NULL,
    account      VARCHAR     NOT NULL,
    metric       VARCHAR     NOT NULL,   -- var_95_historical, cvar_99_parametric, sharpe, ...
    value        DOUBLE,                 -- NULL when it could not be judged (see status)
    status       VARCHAR     NOT NULL,   -- ok | insufficient_history
    observations BIGINT      NOT NULL,
    detail       VARCHAR
);
