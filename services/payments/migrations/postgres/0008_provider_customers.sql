-- Who each user is at the provider (Stripe: a Customer), made when they first save a
-- card and reused for every card they save after: a saved card is attached to it, and
-- an intent paying with a saved card names it, as the provider requires.
CREATE TABLE provider_customers (
    user_id      TEXT   NOT NULL PRIMARY KEY,
    customer_ref TEXT   NOT NULL,
    created_at   BIGINT NOT NULL
);
-- The customer a saved card is attached to, on the card and on a payment made with it.
ALTER TABLE payment_methods ADD COLUMN provider_customer TEXT;
ALTER TABLE payments ADD COLUMN provider_customer TEXT;
