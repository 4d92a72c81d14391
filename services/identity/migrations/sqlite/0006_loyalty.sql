-- Loyalty points. `loyalty_accounts` holds each user's balance (points earned minus
-- reversed and spent; it may go negative when a refund reverses points already spent)
-- and the points reserved by orders not yet confirmed; it changes only by conditional
-- updates in the transaction that appends the matching `loyalty_entries` row, so
-- available = balance - reserved never goes below zero through a reservation.
CREATE TABLE loyalty_accounts (
    user_id    TEXT   NOT NULL PRIMARY KEY,
    balance    BIGINT NOT NULL DEFAULT 0,
    reserved   BIGINT NOT NULL DEFAULT 0 CHECK (reserved >= 0),
    updated_at BIGINT NOT NULL
);

-- The append-only ledger, newest first by id (UUIDv7). An order earns, reserves and
-- redeems at most once (the partial unique index makes redelivered events harmless);
-- it may be reversed several times (partial refunds) and released twice only when a
-- redeemed reservation is given back on cancellation after the sweep released it.
CREATE TABLE loyalty_entries (
    id       TEXT   NOT NULL PRIMARY KEY,
    user_id  TEXT   NOT NULL,
    kind     TEXT   NOT NULL,
    points   BIGINT NOT NULL,
    order_id TEXT   NOT NULL,
    at       BIGINT NOT NULL
);
CREATE INDEX loyalty_entries_user_id ON loyalty_entries (user_id, id);
CREATE UNIQUE INDEX loyalty_entries_once ON loyalty_entries (order_id, kind)
    WHERE kind IN ('earned', 'reserved', 'redeemed');

-- Points an order reserved at checkout: `reserved` until the order is confirmed
-- (`redeemed`) or cancelled or abandoned (`released`). The row is the answer a
-- repeated reservation gets.
CREATE TABLE loyalty_reservations (
    order_id       TEXT   NOT NULL PRIMARY KEY,
    user_id        TEXT   NOT NULL,
    points         BIGINT NOT NULL,
    discount_minor BIGINT NOT NULL,
    currency       TEXT   NOT NULL,
    status         TEXT   NOT NULL,
    created_at     BIGINT NOT NULL
);
CREATE INDEX loyalty_reservations_open ON loyalty_reservations (status, created_at);

-- What identity knows of an order to earn and reverse points: its paid total (from
-- `order.confirmed`), the refunds so far, the points it earned on delivery (null until
-- then) with the refunds it had at that moment, and the points reversed since.
CREATE TABLE loyalty_orders (
    order_id             TEXT   NOT NULL PRIMARY KEY,
    user_id              TEXT,
    currency             TEXT,
    total_minor          BIGINT,
    refunded_minor       BIGINT NOT NULL DEFAULT 0,
    earned               BIGINT,
    refunded_at_earn     BIGINT NOT NULL DEFAULT 0,
    reversed             BIGINT NOT NULL DEFAULT 0
);
