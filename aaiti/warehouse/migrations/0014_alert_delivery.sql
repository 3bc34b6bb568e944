-- Alert delivery as a state machine a crash resumes. An alert is claimed with a lease and is
-- done (delivered_at) once every channel has a final outcome; each channel's send is
-- recorded as 'sending' before it goes out, so a send a crash interrupted is known and
-- made again (at least once), counted in `resends`.
ALTER TABLE ops.alerts ADD COLUMN delivered_at TIMESTAMPTZ;
UPDATE ops.alerts SET delivered_at = claimed_at WHERE claimed_at IS NOT NULL;
ALTER TABLE monitoring.alerts ADD COLUMN resends INTEGER DEFAULT 0;
