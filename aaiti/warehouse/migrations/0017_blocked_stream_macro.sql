-- One definition of "a quality gate blocks this stream": its raw gate (any timeframe of the
-- exchange and symbol) or this timeframe's own gate is blocked. Trading, risk and training
-- read candles and features through it, so none of them acts on a price the gates refused.
CREATE MACRO ops.stream_blocked(stream_exchange, stream_symbol, stream_timeframe) AS EXISTS (
    SELECT 1 FROM ops.stream_gates AS g
    WHERE g.status = 'blocked' AND g.exchange = stream_exchange AND g.symbol = stream_symbol
      AND (g.timeframe = stream_timeframe OR g.checkpoint = 'raw')
);
