-- The highest fencing token each single-holder job has written under (see
-- platform::fence): a run's transaction raises it to its lease's token, or is refused
-- when a newer lease has written, so a holder that paused past its lease cannot write
-- after the one that took over.
CREATE TABLE job_fences (
    job TEXT PRIMARY KEY,
    token BIGINT NOT NULL
);
