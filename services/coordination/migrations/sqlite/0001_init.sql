-- The service registry: one row per instance. A heartbeat moves `last_seen` and
-- `expires_at`; the sweeper deletes a row once `expires_at` has passed (conditionally,
-- so a heartbeat that lands first keeps it). `status` is the polled health of the
-- instance's /health/ready: 'unknown' until the first poll, then 'up' or 'down'.
CREATE TABLE instances (
    service       TEXT   NOT NULL,
    instance_id   TEXT   NOT NULL,
    address       TEXT   NOT NULL,
    version       TEXT   NOT NULL,
    ttl_seconds   BIGINT NOT NULL CHECK (ttl_seconds BETWEEN 1 AND 300),
    status        TEXT   NOT NULL CHECK (status IN ('unknown', 'up', 'down')),
    registered_at BIGINT NOT NULL,
    last_seen     BIGINT NOT NULL,
    expires_at    BIGINT NOT NULL,
    last_checked  BIGINT,
    PRIMARY KEY (service, instance_id)
);
CREATE INDEX instances_by_expiry ON instances (expires_at);

-- One configuration document per service; `version` grows by one per accepted change
-- (a conditional update on the version the writer read, so racing writers cannot both
-- win). `document` holds the values as a JSON object.
CREATE TABLE config_documents (
    service    TEXT   NOT NULL PRIMARY KEY,
    version    BIGINT NOT NULL CHECK (version > 0),
    document   TEXT   NOT NULL,
    updated_at BIGINT NOT NULL
);

-- Named locks. The row stays after a release (owner and expiry cleared) so its
-- fencing token keeps growing across leases.
CREATE TABLE locks (
    name          TEXT   NOT NULL PRIMARY KEY,
    fencing_token BIGINT NOT NULL CHECK (fencing_token > 0),
    owner         TEXT,
    expires_at    BIGINT,
    updated_at    BIGINT NOT NULL,
    CHECK ((owner IS NULL) = (expires_at IS NULL))
);
