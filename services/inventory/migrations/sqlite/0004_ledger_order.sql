-- A sku's ledger is read newest first, a page at a time (`GET /inventory/{sku}/ledger`):
-- ids are UUIDv7, so (sku, id) serves that order without sorting every movement of a
-- busy sku.
CREATE INDEX stock_movements_sku_id ON stock_movements (sku, id);
