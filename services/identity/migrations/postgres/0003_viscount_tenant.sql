-- The built-in tenant `viscount`: Viscount's own orders, payments and refunds, which
-- ingestion records from the bus as this tenant's attribution events. It is made here,
-- not through the API, so it exists in every installation under a fixed id that no
-- created tenant can have (those are UUIDs). It has no API key: nothing outside
-- Viscount sends its data, and admins read it.
INSERT INTO tenants (id, name, created_by, created_at)
VALUES ('viscount', 'Viscount', 'system', (EXTRACT(EPOCH FROM now()) * 1000)::BIGINT)
ON CONFLICT (id) DO NOTHING;
