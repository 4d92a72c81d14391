CREATE TABLE categories (
    id         TEXT   NOT NULL PRIMARY KEY,
    name       TEXT   NOT NULL,
    parent_id  TEXT   REFERENCES categories (id),
    created_at BIGINT NOT NULL
);

CREATE TABLE products (
    id           TEXT   NOT NULL PRIMARY KEY,
    sku          TEXT   NOT NULL UNIQUE,
    name         TEXT   NOT NULL,
    description  TEXT   NOT NULL,
    price_amount BIGINT NOT NULL CHECK (price_amount >= 0),
    currency     TEXT   NOT NULL,
    category_id  TEXT   REFERENCES categories (id),
    attributes   TEXT   NOT NULL,
    variant_of   TEXT   REFERENCES products (id),
    version      BIGINT NOT NULL,
    created_at   BIGINT NOT NULL,
    updated_at   BIGINT NOT NULL
);
CREATE INDEX products_category ON products (category_id);
CREATE INDEX products_price ON products (price_amount);

-- Units available per sku, as inventory last announced; catalog never reads
-- inventory's database.
CREATE TABLE sku_stock (
    sku        TEXT   NOT NULL PRIMARY KEY,
    available  BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
