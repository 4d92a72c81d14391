-- The Idempotency-Key the order was placed with, unique per customer, written in the
-- same transaction as the order: a retry after a crash that lost the stored response
-- finds the order instead of placing a second one.
ALTER TABLE orders ADD COLUMN idempotency_key TEXT;
CREATE UNIQUE INDEX orders_user_idempotency_key ON orders (user_id, idempotency_key)
    WHERE idempotency_key IS NOT NULL;
