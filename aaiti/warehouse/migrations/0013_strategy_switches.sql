-- An operator's switch on one strategy's trading (aaiti strategy disable / enable): a
-- disabled strategy stands aside whatever its qualification, until it is enabled again.
CREATE TABLE strategy.switches (
    name        VARCHAR     NOT NULL,
    timeframe   VARCHAR     NOT NULL,
    enabled     BOOLEAN     NOT NULL,
    actor       VARCHAR     NOT NULL,
    reason      VARCHAR     NOT NULL,
    switched_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (name, timeframe)
);
