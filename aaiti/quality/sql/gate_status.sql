SELECT status, reason FROM ops.stream_gates
WHERE exchange = $1 AND symbol = $2 AND timeframe = $3 AND checkpoint = $4
