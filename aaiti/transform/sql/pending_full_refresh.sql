SELECT count(*), string_agg(reason, '; ') FROM ops.transform_requests WHERE done_at IS NULL
