-- Where an order's customer came from, as the checkout said (`{utm_source, utm_medium,
-- utm_campaign, referrer}` as JSON text); null when it said nothing. Kept on the order
-- so its events carry it to ingestion, which classifies Viscount's own orders.
ALTER TABLE orders ADD COLUMN attribution TEXT;
