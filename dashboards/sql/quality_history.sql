SELECT * FROM ops.quality_results ORDER BY validated_at DESC LIMIT 500
