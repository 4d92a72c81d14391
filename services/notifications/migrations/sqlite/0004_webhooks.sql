-- Merchants' outbound webhooks (Standard Webhooks). An endpoint is a URL with its
-- signing secret; `webhook_subscriptions` names the event types it receives, so the
-- consumer finds an event's endpoints with one indexed lookup.
CREATE TABLE webhook_endpoints (
    id          TEXT   NOT NULL PRIMARY KEY,
    url         TEXT   NOT NULL,
    description TEXT,
    secret      TEXT   NOT NULL,
    enabled     BIGINT NOT NULL,
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL
);

CREATE TABLE webhook_subscriptions (
    event_type  TEXT NOT NULL,
    endpoint_id TEXT NOT NULL,
    PRIMARY KEY (event_type, endpoint_id)
);
CREATE INDEX webhook_subscriptions_by_endpoint ON webhook_subscriptions (endpoint_id);

-- One event for one endpoint, written in the consumer's transaction with its inbox row
-- (so a redelivered event queues nothing twice: `(endpoint_id, event_id)` is unique).
-- `payload` is the exact body every attempt sends. A dispatcher claims a due row by
-- moving `next_attempt_at` past a lease in a conditional update, as the sender does
-- with messages.
CREATE TABLE webhook_deliveries (
    id               TEXT   NOT NULL PRIMARY KEY,
    endpoint_id      TEXT   NOT NULL,
    event_id         TEXT   NOT NULL,
    event_type       TEXT   NOT NULL,
    payload          TEXT   NOT NULL,
    status           TEXT   NOT NULL,
    attempts         BIGINT NOT NULL,
    next_attempt_at  BIGINT NOT NULL,
    last_status_code BIGINT,
    last_error       TEXT,
    created_at       BIGINT NOT NULL,
    updated_at       BIGINT NOT NULL,
    delivered_at     BIGINT,
    UNIQUE (endpoint_id, event_id)
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at) WHERE status = 'pending';
CREATE INDEX webhook_deliveries_by_endpoint ON webhook_deliveries (endpoint_id, id);

-- Every attempt of a delivery: the log an operator reads when a merchant says an event
-- never arrived.
CREATE TABLE webhook_attempts (
    delivery_id TEXT   NOT NULL,
    attempt     BIGINT NOT NULL,
    at          BIGINT NOT NULL,
    status_code BIGINT,
    error       TEXT,
    duration_ms BIGINT NOT NULL,
    PRIMARY KEY (delivery_id, attempt)
);
