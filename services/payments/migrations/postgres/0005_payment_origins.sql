-- Where each payment came from, for the fraud rules that look past the user and the
-- card: payments from one client address in a window (`ip_velocity`), and a billing
-- country other than the shipping country (`country_mismatch`). Written with the
-- payment; the client address is personal data, so rows are pruned after a day (the
-- rules' windows are an hour) by the retention sweep, as are the attempts per user.
CREATE TABLE payment_origins (
    payment_id       TEXT   NOT NULL PRIMARY KEY REFERENCES payments (id),
    -- The client address as rate limits count it (an IPv6 address by its /64).
    client           TEXT,
    billing_country  TEXT,
    shipping_country TEXT,
    created_at       BIGINT NOT NULL
);
-- Payments from one client in a window.
CREATE INDEX payment_origins_client ON payment_origins (client, created_at);
-- The retention sweep, oldest first.
CREATE INDEX payment_origins_created ON payment_origins (created_at);
CREATE INDEX authorization_attempts_age ON authorization_attempts (attempted_at);
