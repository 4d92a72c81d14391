-- The provider's webhook notices already applied, by the provider's id: a notice
-- delivered again (the provider retries for days) changes nothing. Pruned after 30
-- days, well past the provider's retries.
CREATE TABLE provider_notices (
    id          TEXT   NOT NULL PRIMARY KEY,
    kind        TEXT   NOT NULL,
    payment_id  TEXT,
    received_at BIGINT NOT NULL
);
CREATE INDEX provider_notices_received ON provider_notices (received_at);
-- A payment by its intent at the provider (the notices name intents), or by the
-- charge its capture made (a dispute may name only the charge).
CREATE INDEX payments_provider_ref ON payments (provider_ref);
CREATE INDEX transactions_provider_ref ON transactions (provider_ref);
-- The intent's client secret while the provider waits for the customer to
-- authenticate (3-D Secure): what their browser needs, shown to them with the payment;
-- cleared once the authorization is answered.
ALTER TABLE payments ADD COLUMN customer_action TEXT;
