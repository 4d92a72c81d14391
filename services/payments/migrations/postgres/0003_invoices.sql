-- Invoices and credit notes (seed 003). Each document is stored whole as it was
-- issued (`document`, JSON) and never updated; the columns beside it are what lookups
-- and the uniqueness rules need.
CREATE TABLE invoices (
    id         TEXT   NOT NULL PRIMARY KEY,
    kind       TEXT   NOT NULL CHECK (kind IN ('invoice', 'credit_note')),
    number     TEXT   NOT NULL UNIQUE,
    year       BIGINT NOT NULL,
    sequence   BIGINT NOT NULL CHECK (sequence > 0),
    order_id   TEXT   NOT NULL,
    payment_id TEXT   NOT NULL REFERENCES payments (id),
    user_id    TEXT   NOT NULL,
    -- A credit note's refund (its ledger row): one credit note per refund.
    refund_id  TEXT   UNIQUE,
    issued_at  BIGINT NOT NULL,
    document   TEXT   NOT NULL,
    UNIQUE (kind, year, sequence)
);
-- One invoice per payment, however often its capture is delivered.
CREATE UNIQUE INDEX invoices_one_per_payment ON invoices (payment_id) WHERE kind = 'invoice';
CREATE INDEX invoices_order ON invoices (order_id, issued_at);

-- The last number issued per series (INV, CN) and calendar year. Advanced by one
-- conditional upsert inside the transaction that issues the document, which holds the
-- row (PostgreSQL's row lock; SQLite's writer lock) until it commits: numbers are
-- handed out in commit order, and a rolled-back issue gives its number back. A
-- sequence would not (it leaves a gap for every rollback).
CREATE TABLE document_counters (
    series      TEXT   NOT NULL,
    year        BIGINT NOT NULL,
    last_number BIGINT NOT NULL CHECK (last_number > 0),
    PRIMARY KEY (series, year)
);
