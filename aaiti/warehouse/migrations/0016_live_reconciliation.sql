-- Live account reconciliation: what the ledger and the exchange said per currency at each
-- live check, and an operator's acceptance of the exchange's figures.
CREATE TABLE trading.reconciliations (
    account      VARCHAR     NOT NULL,
    checked_at   TIMESTAMPTZ NOT NULL,
    kind         VARCHAR     NOT NULL,   -- opening | check | adopted | foreign_order
    currency     VARCHAR     NOT NULL,   -- a currency, or the client order id of a foreign order
    ledger       DOUBLE,
    exchange     DOUBLE,
    agrees       BOOLEAN     NOT NULL
);

CREATE TABLE trading.reconcile_accepts (
    account      VARCHAR     NOT NULL,
    accepted_at  TIMESTAMPTZ NOT NULL,
    actor        VARCHAR     NOT NULL,
    reason       VARCHAR     NOT NULL,
    applied_at   TIMESTAMPTZ             -- set by the live cycle that adopted the figures
);
