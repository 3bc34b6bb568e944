INSERT INTO ops.quality_results SELECT * FROM quality_rows
