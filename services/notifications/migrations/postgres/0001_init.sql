-- Notifications' own copy of the users it writes to, fed by identity's events. A deleted
-- user keeps a tombstone (no email, no name) so late events for them are dropped rather
-- than parked waiting for an account that will never come back.
CREATE TABLE users (
    user_id    TEXT   NOT NULL PRIMARY KEY,
    email      TEXT   NOT NULL,
    name       TEXT   NOT NULL,
    roles      TEXT   NOT NULL,
    updated_at BIGINT NOT NULL,
    deleted_at BIGINT
);

-- Order → owner, from ordering's order.created, for events that name only the order
-- (payment failures, refunds).
CREATE TABLE orders (
    order_id     TEXT   NOT NULL PRIMARY KEY,
    user_id      TEXT   NOT NULL,
    total_amount BIGINT,
    currency     TEXT,
    created_at   BIGINT NOT NULL
);

-- Events whose recipient is not known yet (they arrived before the user or the order
-- they name, which streams allow), replayed when it becomes known.
CREATE TABLE parked_events (
    event_id   TEXT   NOT NULL PRIMARY KEY,
    waits_for  TEXT   NOT NULL,
    event_type TEXT   NOT NULL,
    body       TEXT   NOT NULL,
    parked_at  BIGINT NOT NULL
);
CREATE INDEX parked_events_waits_for ON parked_events (waits_for);

-- One template per (key, channel); id is `<key>.<channel>`. `updated_by` is set once an
-- admin edited it, so seeding at start never overwrites an edit.
CREATE TABLE templates (
    id           TEXT   NOT NULL PRIMARY KEY,
    template_key TEXT   NOT NULL,
    channel      TEXT   NOT NULL,
    category     TEXT   NOT NULL,
    subject      TEXT,
    body         TEXT   NOT NULL,
    html         TEXT,
    enabled      BIGINT NOT NULL,
    created_at   BIGINT NOT NULL,
    updated_at   BIGINT NOT NULL,
    updated_by   TEXT
);
CREATE INDEX templates_by_key ON templates (template_key);

-- A user's settings per channel: where SMS and push go, and whether marketing is wanted.
-- Transactional messages have no column: they cannot be switched off.
CREATE TABLE preferences (
    user_id    TEXT   NOT NULL,
    channel    TEXT   NOT NULL,
    address    TEXT,
    marketing  BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (user_id, channel)
);

-- One message to one recipient on one channel, rendered when it was created.
-- `dedupe_key` (event id, template, recipient) makes a redelivered event create nothing
-- twice. A sender claims a due row by moving `next_attempt_at` past a lease in a
-- conditional update, so two replicas never send the same row at once. `event_*` name
-- the event that caused the message (null for an admin's send) and `sent_at` is when
-- the channel accepted it, so `sent_at - event_time` is the event-to-delivery delay.
CREATE TABLE notifications (
    id              TEXT   NOT NULL PRIMARY KEY,
    dedupe_key      TEXT   NOT NULL UNIQUE,
    user_id         TEXT   NOT NULL,
    template_id     TEXT   NOT NULL,
    channel         TEXT   NOT NULL,
    category        TEXT   NOT NULL,
    recipient       TEXT   NOT NULL,
    subject         TEXT,
    body            TEXT   NOT NULL,
    html            TEXT,
    status          TEXT   NOT NULL,
    attempts        BIGINT NOT NULL,
    last_error      TEXT,
    next_attempt_at BIGINT NOT NULL,
    transport       TEXT,
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL,
    sent_at         BIGINT,
    event_type      TEXT,
    event_subject   TEXT,
    event_time      BIGINT
);
CREATE INDEX notifications_due ON notifications (next_attempt_at) WHERE status = 'queued';
CREATE INDEX notifications_by_user ON notifications (user_id, id);
CREATE INDEX notifications_by_transport ON notifications (transport, id);
