-- KPIs: confirmed orders per minute and currency, so the average order value divides
-- each currency's revenue by its own orders.
ALTER TABLE kpi_money ADD COLUMN orders BIGINT NOT NULL DEFAULT 0;

-- Anomaly alerts: the side of the band a series is outside of since its last alert
-- (NULL while inside), so a lasting excursion alerts once, when it starts.
ALTER TABLE baselines ADD COLUMN excursion TEXT CHECK (excursion IN ('above', 'below'));

-- Stock on hand: the time of the event each sku's level is from, so a stock.updated
-- that arrives after a newer one does not overwrite it (NULL: not yet known).
ALTER TABLE stock_levels ADD COLUMN updated_at BIGINT;
