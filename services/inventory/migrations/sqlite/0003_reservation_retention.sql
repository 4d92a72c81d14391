-- Closed reservations are deleted some days after they closed (InventoryConfig's
-- `*reservation_retention_days`, by the retention sweep): found by status and age.
CREATE INDEX reservations_closed_at ON reservations (status, updated_at);
