-- Skus whose totals changed since inventory last announced them. A change marks its
-- sku here in its own transaction; the announcer sends one `inventory.stock.updated`
-- per marked sku with the totals of that moment and clears the mark, so a burst of
-- reservations of one sku costs one event, not one each.
CREATE TABLE stock_changes (
    sku TEXT NOT NULL PRIMARY KEY
);
