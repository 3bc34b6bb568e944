SELECT ts FROM ops.quality_releases WHERE exchange = $1 AND symbol = $2 AND timeframe = $3
