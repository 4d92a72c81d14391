-- A profile's phone number (E.164) and avatar image address, both optional.
ALTER TABLE users ADD COLUMN phone TEXT;
ALTER TABLE users ADD COLUMN avatar_url TEXT;

-- The authentication log: sign-ins, failures, lockouts, MFA, refresh-token reuse,
-- password changes and sign-outs of each user, with the client's address and user
-- agent. Ids are UUIDv7, so they order by time; the user's log reads newest first by
-- id, the retention sweep deletes by `at`. Rows go with the account when it is deleted.
CREATE TABLE auth_log (
    id         TEXT   NOT NULL PRIMARY KEY,
    user_id    TEXT   NOT NULL,
    kind       TEXT   NOT NULL,
    ip         TEXT,
    user_agent TEXT,
    at         BIGINT NOT NULL
);
CREATE INDEX auth_log_user_id ON auth_log (user_id, id);
CREATE INDEX auth_log_at ON auth_log (at);
