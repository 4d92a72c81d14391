-- Support tickets: one row per ticket, owned by the customer who opened it. `status`
-- moves open <-> pending and ends at closed (see domain::ticket); each change is a
-- conditional update on the status read, so two racing changes cannot both apply.
CREATE TABLE tickets (
    id         TEXT   NOT NULL PRIMARY KEY,
    user_id    TEXT   NOT NULL,
    subject    TEXT   NOT NULL,
    order_id   TEXT,
    assignee   TEXT,
    status     TEXT   NOT NULL CHECK (status IN ('open', 'pending', 'closed')),
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    closed_at  BIGINT
);
CREATE INDEX tickets_by_user ON tickets (user_id, id);
CREATE INDEX tickets_by_status ON tickets (status, id);
CREATE INDEX tickets_by_assignee ON tickets (assignee, id);

-- The conversation of a ticket, oldest first; the first message is the body the
-- ticket was opened with. `author_role` is 'customer' (the owner) or 'agent'.
CREATE TABLE ticket_messages (
    id          TEXT   NOT NULL PRIMARY KEY,
    ticket_id   TEXT   NOT NULL REFERENCES tickets (id),
    author_id   TEXT   NOT NULL,
    author_role TEXT   NOT NULL CHECK (author_role IN ('customer', 'agent')),
    body        TEXT   NOT NULL,
    created_at  BIGINT NOT NULL
);
CREATE INDEX ticket_messages_by_ticket ON ticket_messages (ticket_id, id);

-- Knowledge-base articles. `tags` is a JSON array of strings; `published` 0 or 1
-- (a draft is seen by admins only). The search index is rebuilt from this table.
CREATE TABLE articles (
    id         TEXT   NOT NULL PRIMARY KEY,
    title      TEXT   NOT NULL,
    body       TEXT   NOT NULL,
    tags       TEXT   NOT NULL,
    published  BIGINT NOT NULL CHECK (published IN (0, 1)),
    author_id  TEXT   NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX articles_by_published ON articles (published, id);
