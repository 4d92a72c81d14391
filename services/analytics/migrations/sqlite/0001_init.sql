-- Analytics builds everything here from events; it never reads another service's
-- database. Times are milliseconds since the Unix epoch (UTC); money is integer minor
-- units with its currency.

-- Tenants as analytics knows them: identity's tenants (from its events) and the
-- built-in `viscount`, whose revenue is the platform's own orders.
CREATE TABLE tenants (
    id         TEXT   NOT NULL PRIMARY KEY,
    name       TEXT   NOT NULL,
    created_at BIGINT NOT NULL
);
INSERT INTO tenants (id, name, created_at) VALUES ('viscount', 'Viscount', 0);

-- The revenue ledger: one row per order (+), order adjustment (±, a later update of
-- the order's amount), refund (−) and payment (+, matched by reconciliation, never
-- revenue). Append-only: rows are never updated or deleted (triggers below).
CREATE TABLE ledger (
    id              TEXT   NOT NULL PRIMARY KEY,
    tenant_id       TEXT   NOT NULL,
    source_event_id TEXT   NOT NULL UNIQUE,
    kind            TEXT   NOT NULL CHECK (kind IN ('order', 'adjustment', 'refund', 'payment')),
    provider        TEXT   NOT NULL,
    external_id     TEXT   NOT NULL,
    order_ref       TEXT,
    amount          BIGINT NOT NULL,
    currency        TEXT   NOT NULL,
    channel         TEXT   NOT NULL,
    customer_ref    TEXT,
    conversion_id   TEXT,
    occurred_at     BIGINT NOT NULL,
    recorded_at     BIGINT NOT NULL,
    CHECK ((kind = 'order' AND amount >= 0) OR (kind = 'refund' AND amount <= 0)
        OR (kind = 'payment' AND amount >= 0) OR kind = 'adjustment')
);
CREATE INDEX ledger_tenant_time ON ledger (tenant_id, occurred_at, id);
CREATE INDEX ledger_conversion ON ledger (conversion_id);
CREATE INDEX ledger_reference ON ledger (tenant_id, kind, order_ref);

-- Each conversion (an order of a tenant's shop) as attribution sees it: its own
-- channel, the customer's keyed hash, and the order's amount as it stands.
CREATE TABLE conversions (
    id           TEXT   NOT NULL PRIMARY KEY,
    tenant_id    TEXT   NOT NULL,
    provider     TEXT   NOT NULL,
    external_id  TEXT   NOT NULL,
    customer_ref TEXT,
    channel      TEXT   NOT NULL,
    amount       BIGINT NOT NULL,
    currency     TEXT   NOT NULL,
    occurred_at  BIGINT NOT NULL,
    UNIQUE (tenant_id, provider, external_id)
);
CREATE INDEX conversions_customer ON conversions (tenant_id, customer_ref, occurred_at);
-- Refunds and payments name their order by its id alone (any provider's).
CREATE INDEX conversions_reference ON conversions (tenant_id, external_id);
CREATE INDEX conversions_time ON conversions (tenant_id, occurred_at);

-- Customers' visits with their channel (the journey's touches).
CREATE TABLE touchpoints (
    id           TEXT   NOT NULL PRIMARY KEY,
    tenant_id    TEXT   NOT NULL,
    customer_ref TEXT   NOT NULL,
    channel      TEXT   NOT NULL,
    occurred_at  BIGINT NOT NULL
);
CREATE INDEX touchpoints_customer ON touchpoints (tenant_id, customer_ref, occurred_at);

-- Each revenue row's split over channels under every model, as JSON
-- {"last_touch": [["email", 1000]], ...}; each model's amounts sum exactly to the
-- row's amount (the store's guard checks it before writing). A late touchpoint
-- replaces the split (the ledger row itself never changes).
CREATE TABLE allocations (
    ledger_id     TEXT   NOT NULL PRIMARY KEY,
    conversion_id TEXT,
    amount        BIGINT NOT NULL,
    split         TEXT   NOT NULL,
    revision      BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL
);
CREATE INDEX allocations_conversion ON allocations (conversion_id);

-- Read models kept current by the consumer (the seed's mv_realtime_revenue,
-- mv_channel_performance, mv_allocation_summary): revenue per tenant, model, currency,
-- channel and hour or day. `revenue` is net (orders and adjustments less refunds),
-- `refunds` what went back (positive), `conversions` the orders that gave the channel
-- any credit.
CREATE TABLE revenue_buckets (
    tenant_id   TEXT   NOT NULL,
    model       TEXT   NOT NULL,
    currency    TEXT   NOT NULL,
    grain       TEXT   NOT NULL CHECK (grain IN ('hour', 'day')),
    bucket      BIGINT NOT NULL,
    channel     TEXT   NOT NULL,
    revenue     BIGINT NOT NULL,
    refunds     BIGINT NOT NULL,
    conversions BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, model, currency, grain, bucket, channel)
) WITHOUT ROWID; -- clustered by its key: a year of days is one contiguous range

-- Totals per tenant, currency and hour or day (the seed's mv_daily_revenue_summary):
-- orders, their revenue, refunds, payments.
CREATE TABLE revenue_totals (
    tenant_id   TEXT   NOT NULL,
    currency    TEXT   NOT NULL,
    grain       TEXT   NOT NULL CHECK (grain IN ('hour', 'day')),
    bucket      BIGINT NOT NULL,
    conversions BIGINT NOT NULL,
    revenue     BIGINT NOT NULL,
    refunds     BIGINT NOT NULL,
    payments    BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, currency, grain, bucket)
) WITHOUT ROWID;

-- Marketing spend per tenant, day and channel (the last value sent wins).
CREATE TABLE spend (
    tenant_id TEXT   NOT NULL,
    day       BIGINT NOT NULL,
    channel   TEXT   NOT NULL,
    amount    BIGINT NOT NULL CHECK (amount >= 0),
    currency  TEXT   NOT NULL,
    PRIMARY KEY (tenant_id, day, channel)
);

-- Reconciliation runs over a tenant and a period, and what they found.
CREATE TABLE reconciliation_runs (
    id              TEXT   NOT NULL PRIMARY KEY,
    tenant_id       TEXT   NOT NULL,
    period_from     BIGINT NOT NULL,
    period_to       BIGINT NOT NULL,
    trigger_kind    TEXT   NOT NULL CHECK (trigger_kind IN ('manual', 'daily')),
    status          TEXT   NOT NULL CHECK (status IN ('running', 'completed', 'failed')),
    matched         BIGINT NOT NULL DEFAULT 0,
    amount_mismatch BIGINT NOT NULL DEFAULT 0,
    missing_payment BIGINT NOT NULL DEFAULT 0,
    missing_order   BIGINT NOT NULL DEFAULT 0,
    error           TEXT,
    started_at      BIGINT NOT NULL,
    finished_at     BIGINT
);
CREATE INDEX reconciliation_runs_tenant ON reconciliation_runs (tenant_id, started_at);
-- One daily run per tenant and day, whichever replica starts it first.
CREATE UNIQUE INDEX reconciliation_runs_daily ON reconciliation_runs (tenant_id, period_from)
    WHERE trigger_kind = 'daily';

CREATE TABLE reconciliation_discrepancies (
    run_id         TEXT   NOT NULL,
    id             TEXT   NOT NULL,
    category       TEXT   NOT NULL CHECK (category IN ('amount_mismatch', 'missing_payment', 'missing_order')),
    reference      TEXT   NOT NULL,
    order_amount   BIGINT,
    payment_amount BIGINT,
    currency       TEXT,
    payment_ids    TEXT,
    PRIMARY KEY (run_id, id)
);

-- Viscount's own business as KPIs see it, per minute (from ordering, payments and
-- inventory events): counts, and money per currency.
CREATE TABLE kpi_counts (
    minute              BIGINT NOT NULL PRIMARY KEY,
    orders_created      BIGINT NOT NULL DEFAULT 0,
    orders_confirmed    BIGINT NOT NULL DEFAULT 0,
    orders_cancelled    BIGINT NOT NULL DEFAULT 0,
    payments_authorized BIGINT NOT NULL DEFAULT 0,
    payments_failed     BIGINT NOT NULL DEFAULT 0,
    units_sold          BIGINT NOT NULL DEFAULT 0
);
CREATE TABLE kpi_money (
    minute   BIGINT NOT NULL,
    currency TEXT   NOT NULL,
    revenue  BIGINT NOT NULL DEFAULT 0,
    refunds  BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (minute, currency)
);
-- Stock on hand per sku (inventory's `stock.updated`), and the total's history for
-- the time-weighted average that inventory turnover divides by.
CREATE TABLE stock_levels (
    sku     TEXT   NOT NULL PRIMARY KEY,
    on_hand BIGINT NOT NULL
);
CREATE TABLE stock_history (
    at            BIGINT NOT NULL,
    event_id      TEXT   NOT NULL,
    total_on_hand BIGINT NOT NULL,
    PRIMARY KEY (at, event_id)
);

-- Anomaly baselines per series, and the last minute each has seen.
CREATE TABLE baselines (
    series      TEXT   NOT NULL PRIMARY KEY,
    state       TEXT   NOT NULL,
    last_minute BIGINT NOT NULL
);

-- Generated reports (the file itself once completed) and schedules.
CREATE TABLE reports (
    id           TEXT   NOT NULL PRIMARY KEY,
    template     TEXT   NOT NULL,
    format       TEXT   NOT NULL CHECK (format IN ('csv', 'json', 'pdf')),
    tenant_id    TEXT,
    period_from  BIGINT,
    period_to    BIGINT,
    status       TEXT   NOT NULL CHECK (status IN ('pending', 'completed', 'failed')),
    schedule_id  TEXT,
    error        TEXT,
    requested_at BIGINT NOT NULL,
    completed_at BIGINT
);
CREATE TABLE report_files (
    report_id TEXT NOT NULL PRIMARY KEY,
    -- base64: the platform's query layer binds text, and reports are small.
    content   TEXT NOT NULL
);
CREATE TABLE report_schedules (
    id          TEXT   NOT NULL PRIMARY KEY,
    template    TEXT   NOT NULL,
    format      TEXT   NOT NULL CHECK (format IN ('csv', 'json', 'pdf')),
    cron        TEXT   NOT NULL,
    recipient   TEXT   NOT NULL,
    tenant_id   TEXT,
    next_run_at BIGINT NOT NULL,
    created_at  BIGINT NOT NULL
);
CREATE INDEX report_schedules_due ON report_schedules (next_run_at);

CREATE TRIGGER ledger_no_update BEFORE UPDATE ON ledger
BEGIN SELECT RAISE(ABORT, 'the revenue ledger is append-only'); END;
CREATE TRIGGER ledger_no_delete BEFORE DELETE ON ledger
BEGIN SELECT RAISE(ABORT, 'the revenue ledger is append-only'); END;
