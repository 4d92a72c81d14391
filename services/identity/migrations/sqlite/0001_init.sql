-- Accounts. Deleted users keep their row (ids stay unique and tokens can be refused)
-- with personal data scrubbed and `deleted_at` set.
CREATE TABLE users (
    id            TEXT   NOT NULL PRIMARY KEY,
    email         TEXT   NOT NULL UNIQUE,
    name          TEXT   NOT NULL,
    password_hash TEXT   NOT NULL,
    roles         TEXT   NOT NULL,
    preferences   TEXT   NOT NULL,
    mfa_secret    TEXT,
    mfa_enabled   BIGINT NOT NULL DEFAULT 0,
    mfa_last_step BIGINT,
    locked_until  BIGINT,
    deleted_at    BIGINT,
    created_at    BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL
);

-- Failed password checks, counted over the lockout window.
CREATE TABLE login_failures (
    user_id TEXT   NOT NULL,
    at      BIGINT NOT NULL
);
CREATE INDEX login_failures_user_at ON login_failures (user_id, at);

-- Opaque refresh tokens, stored as SHA-256. One family per sign-in; rotation adds a
-- token to the family and marks the old one rotated; presenting a rotated token
-- revokes the whole family.
CREATE TABLE refresh_tokens (
    id         TEXT   NOT NULL PRIMARY KEY,
    family_id  TEXT   NOT NULL,
    user_id    TEXT   NOT NULL,
    token_hash TEXT   NOT NULL UNIQUE,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    rotated_at BIGINT,
    revoked_at BIGINT
);
CREATE INDEX refresh_tokens_family ON refresh_tokens (family_id);
CREATE INDEX refresh_tokens_user ON refresh_tokens (user_id);

-- Ed25519 signing keys. The newest unretired key signs; retired keys stay published
-- in the JWKS until every token they signed has expired.
CREATE TABLE signing_keys (
    kid         TEXT   NOT NULL PRIMARY KEY,
    private_key TEXT   NOT NULL,
    public_key  TEXT   NOT NULL,
    created_at  BIGINT NOT NULL,
    retired_at  BIGINT
);

-- API keys, stored as SHA-256; the key itself is shown once at creation.
CREATE TABLE api_keys (
    id         TEXT   NOT NULL PRIMARY KEY,
    name       TEXT   NOT NULL,
    key_hash   TEXT   NOT NULL UNIQUE,
    scopes     TEXT   NOT NULL,
    created_by TEXT   NOT NULL,
    created_at BIGINT NOT NULL,
    revoked_at BIGINT
);
