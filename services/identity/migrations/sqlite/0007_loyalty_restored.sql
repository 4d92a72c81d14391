-- Points redeemed at checkout that refunds gave back (a refund of the whole paid total
-- gives back all of them, a partial one its share), so later refunds and a later
-- cancellation give back only the rest.
ALTER TABLE loyalty_orders ADD COLUMN restored BIGINT NOT NULL DEFAULT 0;
