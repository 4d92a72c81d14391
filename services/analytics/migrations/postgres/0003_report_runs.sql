-- Reports are rendered by background workers, one replica each: a worker claims a
-- pending report by setting `claimed_at` (a claim older than the lease is taken over,
-- so a crashed replica's report is not lost). A scheduled report keeps its recipient,
-- so its delivery does not depend on the schedule still existing. A schedule keeps its
-- last run, where the next run's period starts.
ALTER TABLE reports ADD COLUMN claimed_at BIGINT;
ALTER TABLE reports ADD COLUMN recipient TEXT;
ALTER TABLE report_schedules ADD COLUMN last_run_at BIGINT;
CREATE INDEX reports_pending ON reports (status, requested_at);
CREATE INDEX reports_schedule ON reports (schedule_id, id);
