UPDATE ops.transform_requests SET done_at = $1 WHERE done_at IS NULL AND requested_at <= $2
