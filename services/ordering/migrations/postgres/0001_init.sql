-- Ordering's copy of catalog prices, kept current from catalog's events, so pricing a
-- cart never calls the catalog.
CREATE TABLE prices (
    sku        TEXT   NOT NULL PRIMARY KEY,
    product_id TEXT   NOT NULL,
    name       TEXT   NOT NULL,
    amount     BIGINT NOT NULL CHECK (amount >= 0),
    currency   TEXT   NOT NULL,
    updated_at BIGINT NOT NULL
);

CREATE TABLE carts (
    id         TEXT   NOT NULL PRIMARY KEY,
    user_id    TEXT   NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

CREATE TABLE cart_items (
    cart_id  TEXT   NOT NULL REFERENCES carts (id) ON DELETE CASCADE,
    sku      TEXT   NOT NULL,
    quantity BIGINT NOT NULL CHECK (quantity > 0),
    added_at BIGINT NOT NULL,
    PRIMARY KEY (cart_id, sku)
);

-- An order and its saga state. `deadline_at` is when an unsettled order times out (null
-- once settled); money columns are minor units of `currency`.
CREATE TABLE orders (
    id               TEXT   NOT NULL PRIMARY KEY,
    user_id          TEXT   NOT NULL,
    status           TEXT   NOT NULL,
    total_amount     BIGINT NOT NULL CHECK (total_amount >= 0),
    currency         TEXT   NOT NULL,
    shipping_address TEXT   NOT NULL,
    payment_id       TEXT,
    card_brand       TEXT,
    card_last4       TEXT,
    cancel_reason    TEXT,
    captured_amount  BIGINT NOT NULL DEFAULT 0,
    refunded_amount  BIGINT NOT NULL DEFAULT 0 CHECK (refunded_amount >= 0),
    deadline_at      BIGINT,
    created_at       BIGINT NOT NULL,
    updated_at       BIGINT NOT NULL
);
CREATE INDEX orders_by_user ON orders (user_id, id);
CREATE INDEX orders_by_status ON orders (status, id);
CREATE INDEX orders_by_deadline ON orders (deadline_at) WHERE deadline_at IS NOT NULL;

-- The price snapshot of each line at order time.
CREATE TABLE order_items (
    order_id    TEXT   NOT NULL REFERENCES orders (id),
    line_no     BIGINT NOT NULL,
    sku         TEXT   NOT NULL,
    name        TEXT   NOT NULL,
    quantity    BIGINT NOT NULL CHECK (quantity > 0),
    unit_amount BIGINT NOT NULL,
    currency    TEXT   NOT NULL,
    PRIMARY KEY (order_id, line_no)
);

CREATE TABLE order_history (
    order_id TEXT   NOT NULL REFERENCES orders (id),
    seq      BIGINT NOT NULL,
    status   TEXT   NOT NULL,
    reason   TEXT,
    at       BIGINT NOT NULL,
    PRIMARY KEY (order_id, seq)
);

-- Refunds applied to an order, by payments' refund id, so each counts once whether it
-- arrives as an answer or as an event.
CREATE TABLE order_refunds (
    refund_id TEXT   NOT NULL PRIMARY KEY,
    order_id  TEXT   NOT NULL REFERENCES orders (id),
    amount    BIGINT NOT NULL CHECK (amount > 0),
    at        BIGINT NOT NULL
);
