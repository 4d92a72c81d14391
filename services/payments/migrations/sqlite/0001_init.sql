-- Payments keep the provider's card token, the brand, the last four digits and the
-- expiry; never the card number or the code. The totals are kept in step with the
-- ledger below, and the checks are the last line of defence: no interleaving of
-- requests can refund more than was captured or capture more than was authorized.
CREATE TABLE payments (
    id                TEXT   NOT NULL PRIMARY KEY,
    order_id          TEXT   NOT NULL UNIQUE,
    user_id           TEXT   NOT NULL,
    status            TEXT   NOT NULL,
    amount            BIGINT NOT NULL CHECK (amount > 0),
    currency          TEXT   NOT NULL,
    captured          BIGINT NOT NULL DEFAULT 0 CHECK (captured >= 0),
    refunded          BIGINT NOT NULL DEFAULT 0 CHECK (refunded >= 0),
    token             TEXT   NOT NULL,
    brand             TEXT   NOT NULL,
    last4             TEXT   NOT NULL,
    exp_month         BIGINT NOT NULL,
    exp_year          BIGINT NOT NULL,
    payment_method_id TEXT,
    provider_ref      TEXT,
    failure_reason    TEXT,
    failure_detail    TEXT,
    created_at        BIGINT NOT NULL,
    updated_at        BIGINT NOT NULL,
    CHECK (captured <= amount),
    CHECK (refunded <= captured)
);
CREATE INDEX payments_user ON payments (user_id, id);

-- The append-only ledger: every authorization, capture, void and refund, so a
-- payment's totals can be rebuilt from it.
CREATE TABLE transactions (
    id           TEXT   NOT NULL PRIMARY KEY,
    payment_id   TEXT   NOT NULL REFERENCES payments (id),
    order_id     TEXT   NOT NULL,
    kind         TEXT   NOT NULL CHECK (kind IN ('authorize', 'capture', 'void', 'refund')),
    amount       BIGINT NOT NULL CHECK (amount > 0),
    currency     TEXT   NOT NULL,
    provider_ref TEXT   NOT NULL,
    actor        TEXT   NOT NULL,
    created_at   BIGINT NOT NULL
);
CREATE INDEX transactions_payment ON transactions (payment_id, id);

-- Saved cards: a token at the provider and what a customer recognises the card by.
CREATE TABLE payment_methods (
    id         TEXT   NOT NULL PRIMARY KEY,
    user_id    TEXT   NOT NULL,
    token      TEXT   NOT NULL,
    brand      TEXT   NOT NULL,
    last4      TEXT   NOT NULL,
    exp_month  BIGINT NOT NULL,
    exp_year   BIGINT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX payment_methods_user ON payment_methods (user_id, id);

-- Authorization attempts per user, for the velocity fraud rule.
CREATE TABLE authorization_attempts (
    id           TEXT   NOT NULL PRIMARY KEY,
    user_id      TEXT   NOT NULL,
    payment_id   TEXT   NOT NULL,
    attempted_at BIGINT NOT NULL
);
CREATE INDEX authorization_attempts_user ON authorization_attempts (user_id, attempted_at);
