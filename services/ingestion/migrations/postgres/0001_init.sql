-- Ingestion keeps what it took from external providers stripped of personal data: a
-- guard in the store refuses any row of these tables holding an email address, a
-- phone number, a card number or an IP address.

-- A tenant as ingestion knows it: the key its customers' emails are hashed with, so
-- one customer's orders and visits meet without the address being kept.
CREATE TABLE tenants (
    id         TEXT   NOT NULL PRIMARY KEY,
    ref_key    TEXT   NOT NULL,
    created_at BIGINT NOT NULL
);

-- Each tenant's configured providers: the webhook secret (Shopify, Stripe,
-- WooCommerce) or PayPal's webhook id and signing certificate.
CREATE TABLE sources (
    tenant_id       TEXT   NOT NULL REFERENCES tenants (id),
    provider        TEXT   NOT NULL CHECK (provider IN ('shopify', 'stripe', 'paypal', 'woocommerce')),
    secret          TEXT,
    webhook_id      TEXT,
    certificate_pem TEXT,
    updated_at      BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, provider),
    CHECK ((provider = 'paypal' AND webhook_id IS NOT NULL AND secret IS NULL)
        OR (provider <> 'paypal' AND secret IS NOT NULL AND webhook_id IS NULL AND certificate_pem IS NULL))
);

-- Normalized orders, payments and refunds, one per provider event: append-only.
CREATE TABLE attribution_events (
    id                TEXT   NOT NULL PRIMARY KEY,
    tenant_id         TEXT   NOT NULL,
    provider          TEXT   NOT NULL,
    provider_event_id TEXT   NOT NULL,
    topic             TEXT   NOT NULL,
    kind              TEXT   NOT NULL CHECK (kind IN ('order', 'payment', 'refund')),
    external_id       TEXT   NOT NULL,
    order_ref         TEXT,
    amount            BIGINT NOT NULL CHECK (amount >= 0),
    currency          TEXT   NOT NULL,
    line_items        TEXT   NOT NULL,
    occurred_at       BIGINT NOT NULL,
    utm_source        TEXT,
    utm_medium        TEXT,
    utm_campaign      TEXT,
    referring_site    TEXT,
    source_name       TEXT,
    channel           TEXT   NOT NULL,
    customer_ref      TEXT,
    received_at       BIGINT NOT NULL,
    UNIQUE (tenant_id, provider, provider_event_id)
);
CREATE INDEX attribution_events_tenant ON attribution_events (tenant_id, id);
CREATE FUNCTION attribution_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'attribution events are append-only';
END;
$$;
CREATE TRIGGER attribution_events_append_only BEFORE UPDATE OR DELETE ON attribution_events
FOR EACH ROW EXECUTE FUNCTION attribution_events_append_only();

-- Correctly signed deliveries that could not be normalized: the stripped payload (null
-- when it was not readable JSON) and why, until a replay stores them.
CREATE TABLE dead_events (
    id                TEXT   NOT NULL PRIMARY KEY,
    tenant_id         TEXT   NOT NULL,
    provider          TEXT   NOT NULL,
    provider_event_id TEXT   NOT NULL,
    topic             TEXT   NOT NULL,
    payload           TEXT,
    reason            TEXT   NOT NULL,
    deliveries        BIGINT NOT NULL DEFAULT 1,
    received_at       BIGINT NOT NULL,
    resolved_at       BIGINT,
    event_id          TEXT,
    UNIQUE (tenant_id, provider, provider_event_id)
);
CREATE INDEX dead_events_tenant ON dead_events (tenant_id, id);

-- Visits with their marketing source, sent by tenants in batches.
CREATE TABLE touchpoints (
    id             TEXT   NOT NULL PRIMARY KEY,
    tenant_id      TEXT   NOT NULL,
    customer_ref   TEXT   NOT NULL,
    occurred_at    BIGINT NOT NULL,
    utm_source     TEXT,
    utm_medium     TEXT,
    utm_campaign   TEXT,
    referring_site TEXT,
    channel        TEXT   NOT NULL,
    received_at    BIGINT NOT NULL
);
CREATE INDEX touchpoints_customer ON touchpoints (tenant_id, customer_ref, occurred_at);

-- Channel taxonomies: a tenant's own ordered rules, or the platform's (tenant `*`)
-- when an operator replaced the built-in defaults.
CREATE TABLE channel_taxonomies (
    tenant_id  TEXT   NOT NULL PRIMARY KEY,
    rules      TEXT   NOT NULL,
    version    BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
