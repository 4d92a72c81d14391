CREATE TABLE warehouses (
    id         TEXT   NOT NULL PRIMARY KEY,
    code       TEXT   NOT NULL UNIQUE,
    name       TEXT   NOT NULL,
    created_at BIGINT NOT NULL
);

-- Stock of one sku in one warehouse. The checks are the last line of defence: no
-- interleaving of requests can leave a level negative or over-reserved.
CREATE TABLE stock_levels (
    sku          TEXT   NOT NULL,
    warehouse_id TEXT   NOT NULL REFERENCES warehouses (id),
    on_hand      BIGINT NOT NULL CHECK (on_hand >= 0),
    reserved     BIGINT NOT NULL CHECK (reserved >= 0),
    updated_at   BIGINT NOT NULL,
    PRIMARY KEY (sku, warehouse_id),
    CHECK (reserved <= on_hand)
);

-- Every change of a level, so a level can be rebuilt from its ledger.
CREATE TABLE stock_movements (
    id             TEXT   NOT NULL PRIMARY KEY,
    sku            TEXT   NOT NULL,
    warehouse_id   TEXT   NOT NULL,
    kind           TEXT   NOT NULL,
    on_hand_delta  BIGINT NOT NULL,
    reserved_delta BIGINT NOT NULL,
    reason         TEXT   NOT NULL,
    actor          TEXT   NOT NULL,
    reference      TEXT,
    created_at     BIGINT NOT NULL
);
CREATE INDEX stock_movements_sku ON stock_movements (sku, warehouse_id);

-- Per-sku settings and the last reported low-stock state (to report crossings once).
CREATE TABLE sku_settings (
    sku                 TEXT   NOT NULL PRIMARY KEY,
    low_stock_threshold BIGINT NOT NULL,
    is_low              BIGINT NOT NULL
);

CREATE TABLE reservations (
    id         TEXT   NOT NULL PRIMARY KEY,
    order_id   TEXT   NOT NULL UNIQUE,
    status     TEXT   NOT NULL,
    expires_at BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX reservations_active_expiry ON reservations (expires_at) WHERE status = 'active';

CREATE TABLE reservation_lines (
    reservation_id TEXT   NOT NULL REFERENCES reservations (id),
    sku            TEXT   NOT NULL,
    warehouse_id   TEXT   NOT NULL,
    quantity       BIGINT NOT NULL CHECK (quantity > 0),
    PRIMARY KEY (reservation_id, sku, warehouse_id)
);
