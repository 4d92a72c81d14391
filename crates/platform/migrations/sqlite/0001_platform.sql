-- Transactional outbox: written in the same transaction as the state change it announces.
-- In the embedded shape these rows are the event log itself; `seq` orders it.
CREATE TABLE outbox (
    seq          INTEGER PRIMARY KEY AUTOINCREMENT,
    id           TEXT    NOT NULL UNIQUE,
    event_type   TEXT    NOT NULL,
    subject      TEXT    NOT NULL,
    body         TEXT    NOT NULL,
    created_at   BIGINT  NOT NULL,
    published_at BIGINT
);
CREATE INDEX outbox_unpublished ON outbox (seq) WHERE published_at IS NULL;

-- Where each consumer has read up to in this service's outbox (embedded bus only).
CREATE TABLE bus_cursors (
    consumer TEXT   NOT NULL PRIMARY KEY,
    position BIGINT NOT NULL
);

-- Event ids a consumer has applied, written with the effect: redelivery is harmless.
CREATE TABLE inbox (
    consumer   TEXT   NOT NULL,
    event_id   TEXT   NOT NULL,
    handled_at BIGINT NOT NULL,
    PRIMARY KEY (consumer, event_id)
);

-- Events a consumer gave up on after its retries, kept for inspection and replay.
CREATE TABLE dead_letters (
    id          TEXT    NOT NULL PRIMARY KEY,
    consumer    TEXT    NOT NULL,
    event_id    TEXT    NOT NULL,
    event_type  TEXT    NOT NULL,
    body        TEXT    NOT NULL,
    error       TEXT    NOT NULL,
    attempts    INTEGER NOT NULL,
    failed_at   BIGINT  NOT NULL,
    replayed_at BIGINT
);

-- Idempotency-Key records: the request's fingerprint and, once done, its response.
CREATE TABLE idempotency_keys (
    scope        TEXT    NOT NULL,
    key          TEXT    NOT NULL,
    request_hash TEXT    NOT NULL,
    status       INTEGER,
    headers      TEXT,
    body         TEXT,
    created_at   BIGINT  NOT NULL,
    PRIMARY KEY (scope, key)
);
