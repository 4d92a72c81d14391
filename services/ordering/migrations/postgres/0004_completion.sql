-- When the order was last delivered (ordering's time of fulfillment's event): its
-- return window runs from here, and the completion sweep looks for orders whose window
-- closed. Orders delivered before this column existed take it from their history.
ALTER TABLE orders ADD COLUMN delivered_at BIGINT;
UPDATE orders SET delivered_at = (
    SELECT MAX(h.at) FROM order_history h WHERE h.order_id = orders.id AND h.status = 'delivered'
);
CREATE INDEX orders_by_delivered ON orders (delivered_at) WHERE delivered_at IS NOT NULL;

-- Returns fulfillment opened for an order (`fulfillment.return.requested`), closed when
-- the items came back (`fulfillment.return.received`): an order with an open return
-- does not complete. No foreign key: fulfillment's events may name an order this
-- database never had, and they are recorded all the same.
CREATE TABLE order_returns (
    return_id TEXT   NOT NULL PRIMARY KEY,
    order_id  TEXT   NOT NULL,
    opened_at BIGINT NOT NULL,
    closed_at BIGINT
);
CREATE INDEX order_returns_open ON order_returns (order_id) WHERE closed_at IS NULL;
