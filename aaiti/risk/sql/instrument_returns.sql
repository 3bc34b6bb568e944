-- Per-bar simple returns of the traded instruments (a symbol on one exchange) over the most
-- recent window, one row per instrument and ts. A stream a quality gate blocks contributes
-- only the bars trading accepted (up to the account's cursor): a rejected print never
-- enters VaR.
WITH accepted AS (
    SELECT c.ts, c.exchange, c.symbol, c.close
    FROM marts.fct_candles AS c
    LEFT JOIN trading.cursor AS k
      ON k.account = $4 AND k.exchange = c.exchange AND k.symbol = c.symbol AND k.timeframe = c.timeframe
    WHERE c.timeframe = $1 AND list_contains($2, c.symbol) AND c.origin_timeframe = c.timeframe
      AND NOT (
          ops.stream_blocked(c.exchange, c.symbol, c.timeframe)
          AND (k.last_bar_ts IS NULL OR c.ts > k.last_bar_ts)
      )
)
SELECT ts, exchange, symbol,
       close / lag(close) OVER (PARTITION BY exchange, symbol ORDER BY ts) - 1 AS r
FROM accepted
QUALIFY row_number() OVER (PARTITION BY exchange, symbol ORDER BY ts DESC) <= $3 + 1
