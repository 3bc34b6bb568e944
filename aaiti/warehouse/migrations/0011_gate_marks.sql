-- How far each stream's gate has judged, so that a cycle validates only what is new (plus
-- the window the rules need): the newest bar judged, the newest ingest time seen, the rows
-- at or before that bar (features), the rule settings' hash, and how the run judged.
ALTER TABLE ops.stream_gates ADD COLUMN validated_through TIMESTAMPTZ;
ALTER TABLE ops.stream_gates ADD COLUMN ingest_mark TIMESTAMPTZ;
ALTER TABLE ops.stream_gates ADD COLUMN rows_through BIGINT;
ALTER TABLE ops.stream_gates ADD COLUMN params_hash VARCHAR;
ALTER TABLE ops.stream_gates ADD COLUMN mode VARCHAR;
ALTER TABLE ops.stream_gates ADD COLUMN rows_judged BIGINT;
