-- Loyalty points an order redeemed (held at identity, keyed by the order id) and the
-- discount they bought, in minor units of the order's currency; `total_amount` is
-- what the customer pays, the lines less this discount. 0 and 0: no points redeemed.
ALTER TABLE orders ADD COLUMN loyalty_points BIGINT NOT NULL DEFAULT 0;
ALTER TABLE orders ADD COLUMN discount_amount BIGINT NOT NULL DEFAULT 0;
