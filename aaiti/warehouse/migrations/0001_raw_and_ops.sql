-- Raw candles as ingested, their quarantine, and the ingest bookkeeping.
CREATE SCHEMA IF NOT EXISTS raw;
CREATE SCHEMA IF NOT EXISTS ops;

CREATE TABLE raw.ohlcv (
    exchange        VARCHAR     NOT NULL,
    symbol          VARCHAR     NOT NULL,
    timeframe       VARCHAR     NOT NULL,
    ts              TIMESTAMPTZ NOT NULL,   -- UTC candle open time
    open            DOUBLE      NOT NULL,
    high            DOUBLE      NOT NULL,
    low             DOUBLE      NOT NULL,
    close           DOUBLE      NOT NULL,
    volume          DOUBLE      NOT NULL,
    ingest_batch_id VARCHAR     NOT NULL,   -- ops.ingest_runs.run_id that last changed the row
    ingested_at     TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (exchange, symbol, timeframe, ts)
);

-- Rows that are not valid candles never enter raw.ohlcv: they land here with the reason.
CREATE TABLE raw.ohlcv_quarantine (
    ingest_batch_id VARCHAR     NOT NULL,
    quarantined_at  TIMESTAMPTZ NOT NULL,
    source          VARCHAR     NOT NULL,
    exchange        VARCHAR,
    symbol          VARCHAR,
    timeframe       VARCHAR,
    ts              TIMESTAMPTZ,
    open            DOUBLE,
    high            DOUBLE,
    low             DOUBLE,
    close           DOUBLE,
    volume          DOUBLE,
    raw_record      VARCHAR     NOT NULL,   -- the row as received, JSON
    reason          VARCHAR     NOT NULL
);

-- One record per ingest run of one stream.
CREATE TABLE ops.ingest_runs (
    run_id       VARCHAR     PRIMARY KEY,
    pid          INTEGER     NOT NULL,      -- process that ran it (to spot abandoned runs)
    kind         VARCHAR     NOT NULL,      -- ingest | backfill | gap-fill
    source       VARCHAR     NOT NULL,
    exchange     VARCHAR     NOT NULL,
    symbol       VARCHAR     NOT NULL,
    timeframe    VARCHAR     NOT NULL,
    since        TIMESTAMPTZ,
    until        TIMESTAMPTZ,
    started_at   TIMESTAMPTZ NOT NULL,
    finished_at  TIMESTAMPTZ,
    status       VARCHAR     NOT NULL,      -- running | ok | failed
    fetched      BIGINT      NOT NULL DEFAULT 0,
    inserted     BIGINT      NOT NULL DEFAULT 0,
    updated      BIGINT      NOT NULL DEFAULT 0,
    unchanged    BIGINT      NOT NULL DEFAULT 0,
    rejected     BIGINT      NOT NULL DEFAULT 0,
    retries      BIGINT      NOT NULL DEFAULT 0,
    duration_s   DOUBLE,
    error        VARCHAR
);

-- Per-stream high-water mark: the newest candle open time stored.
CREATE TABLE ops.ingest_state (
    source        VARCHAR     NOT NULL,
    exchange      VARCHAR     NOT NULL,
    symbol        VARCHAR     NOT NULL,
    timeframe     VARCHAR     NOT NULL,
    high_water_ts TIMESTAMPTZ NOT NULL,
    updated_at    TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (source, exchange, symbol, timeframe)
);

-- Market replay clock of the sample source: the newest bar released per stream.
CREATE TABLE ops.replay_clock (
    exchange       VARCHAR     NOT NULL,
    symbol         VARCHAR     NOT NULL,
    timeframe      VARCHAR     NOT NULL,
    start_ts       TIMESTAMPTZ NOT NULL,
    bars_per_run   INTEGER     NOT NULL,
    released_until TIMESTAMPTZ NOT NULL,   -- bars opening before this have been released
    updated_at     TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (exchange, symbol, timeframe)
);

-- Circuit breaker per exchange.
CREATE TABLE ops.breaker_state (
    exchange             VARCHAR     PRIMARY KEY,
    state                VARCHAR     NOT NULL,  -- closed | open | half_open
    consecutive_failures INTEGER     NOT NULL,
    open_count           INTEGER     NOT NULL,  -- re-opens since the last close
    opened_at            TIMESTAMPTZ,
    cooldown_s           DOUBLE      NOT NULL,
    last_error           VARCHAR,
    updated_at           TIMESTAMPTZ NOT NULL
);

-- Holes found in a stream and what re-fetching them gave.
CREATE TABLE ops.gap_checks (
    exchange    VARCHAR     NOT NULL,
    symbol      VARCHAR     NOT NULL,
    timeframe   VARCHAR     NOT NULL,
    gap_start   TIMESTAMPTZ NOT NULL,   -- first missing bar
    gap_end     TIMESTAMPTZ NOT NULL,   -- last missing bar
    missing     BIGINT      NOT NULL,
    filled      BIGINT      NOT NULL,
    checked_at  TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (exchange, symbol, timeframe, gap_start)
);
