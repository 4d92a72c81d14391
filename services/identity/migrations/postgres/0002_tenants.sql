-- Tenants: the shops whose external storefront and payment data Viscount ingests.
CREATE TABLE tenants (
    id         TEXT   NOT NULL PRIMARY KEY,
    name       TEXT   NOT NULL,
    created_by TEXT   NOT NULL,
    created_at BIGINT NOT NULL
);

-- A tenant key is bound to one tenant and holds no scopes (its `scopes` is empty); it
-- reaches only that tenant's data. Other keys have no tenant.
ALTER TABLE api_keys ADD COLUMN tenant_id TEXT REFERENCES tenants (id);
CREATE INDEX api_keys_tenant ON api_keys (tenant_id);
