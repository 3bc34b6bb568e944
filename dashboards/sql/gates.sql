SELECT * FROM ops.stream_gates ORDER BY updated_at DESC
