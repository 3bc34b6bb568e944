-- Positions an operator released while their stream is blocked: the position stays,
-- marked at its last accepted close and counted in exposure, but is no longer alerted as
-- stale. A release lasts while the stream stays blocked; the cycle drops it once it passes.
CREATE TABLE trading.stale_releases (
    account     VARCHAR     NOT NULL,
    exchange    VARCHAR     NOT NULL,
    symbol      VARCHAR     NOT NULL,
    quantity    DOUBLE      NOT NULL,
    mark_price  DOUBLE,
    actor       VARCHAR     NOT NULL,
    reason      VARCHAR     NOT NULL,
    released_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (account, exchange, symbol)
);
