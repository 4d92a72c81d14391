-- What fulfillment has learned of an order from two streams that arrive in any order:
-- ordering's confirmation (owner, address, items) and inventory's commit (which
-- warehouse holds which units). Shipments open once both are known (`opened_at`).
CREATE TABLE order_facts (
    order_id     TEXT   NOT NULL PRIMARY KEY,
    user_id      TEXT,
    ship_to      TEXT,
    items        TEXT,
    confirmed_at BIGINT,
    allocations  TEXT,
    committed_at BIGINT,
    opened_at    BIGINT,
    cancelled_at BIGINT,
    updated_at   BIGINT NOT NULL
);

-- One parcel per (order, warehouse); the unique key makes opening idempotent.
CREATE TABLE shipments (
    id              TEXT   NOT NULL PRIMARY KEY,
    order_id        TEXT   NOT NULL,
    user_id         TEXT   NOT NULL,
    warehouse_id    TEXT   NOT NULL,
    carrier         TEXT   NOT NULL,
    tracking_number TEXT   NOT NULL UNIQUE,
    status          TEXT   NOT NULL,
    rate_amount     BIGINT NOT NULL CHECK (rate_amount >= 0),
    rate_currency   TEXT   NOT NULL,
    weight_grams    BIGINT NOT NULL CHECK (weight_grams >= 0),
    ship_to         TEXT,
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL,
    dispatched_at   BIGINT,
    delivered_at    BIGINT,
    UNIQUE (order_id, warehouse_id)
);

CREATE TABLE shipment_lines (
    shipment_id TEXT   NOT NULL REFERENCES shipments (id),
    sku         TEXT   NOT NULL,
    quantity    BIGINT NOT NULL CHECK (quantity > 0),
    PRIMARY KEY (shipment_id, sku)
);

-- Tracking history. A carrier repeating the same update (same status at the same
-- time) hits the unique key and changes nothing.
CREATE TABLE shipment_events (
    id          TEXT   NOT NULL PRIMARY KEY,
    shipment_id TEXT   NOT NULL REFERENCES shipments (id),
    status      TEXT   NOT NULL,
    occurred_at BIGINT NOT NULL,
    location    TEXT,
    description TEXT,
    source      TEXT   NOT NULL,
    recorded_at BIGINT NOT NULL,
    UNIQUE (shipment_id, status, occurred_at)
);

CREATE TABLE returns (
    id          TEXT   NOT NULL PRIMARY KEY,
    order_id    TEXT   NOT NULL,
    user_id     TEXT   NOT NULL,
    status      TEXT   NOT NULL,
    reason      TEXT   NOT NULL,
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL,
    approved_at BIGINT,
    rejected_at BIGINT,
    received_at BIGINT
);
CREATE INDEX returns_order ON returns (order_id);

-- Which shipment (and so which warehouse) each returned unit came from.
CREATE TABLE return_lines (
    return_id    TEXT   NOT NULL REFERENCES returns (id),
    shipment_id  TEXT   NOT NULL REFERENCES shipments (id),
    warehouse_id TEXT   NOT NULL,
    sku          TEXT   NOT NULL,
    quantity     BIGINT NOT NULL CHECK (quantity > 0),
    PRIMARY KEY (return_id, shipment_id, sku)
);
CREATE INDEX return_lines_shipment ON return_lines (shipment_id, sku);
