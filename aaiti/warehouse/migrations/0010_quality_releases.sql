-- Bars an operator confirmed as a real new level (a redenomination, a changed quote
-- currency): the raw gate accepts the jump at that bar instead of blocking the stream.
CREATE TABLE ops.quality_releases (
    exchange     VARCHAR     NOT NULL,
    symbol       VARCHAR     NOT NULL,
    timeframe    VARCHAR     NOT NULL,
    ts           TIMESTAMPTZ NOT NULL,
    actor        VARCHAR     NOT NULL,
    reason       VARCHAR     NOT NULL,
    released_at  TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (exchange, symbol, timeframe, ts)
);
