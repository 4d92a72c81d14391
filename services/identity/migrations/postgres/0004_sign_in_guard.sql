-- Failed sign-ins are counted per account and client address, and per address across
-- accounts, so that failures from one address lock the account for that address only
-- (an attacker elsewhere can no longer lock the owner out) and one address cannot guess
-- across many accounts. Each row is a counter over a window that starts at its first
-- failure, changed by one upsert, so concurrent failures are all counted. Old failures
-- and locks were per account only; they are short-lived and not carried over.
DROP TABLE login_failures;
ALTER TABLE users DROP COLUMN locked_until;

-- One account (a user id, or `unknown:` and the SHA-256 of an email that has no account,
-- so such an email locks like a real one) from one client address.
CREATE TABLE login_failures (
    account      TEXT   NOT NULL,
    client_ip    TEXT   NOT NULL,
    window_start BIGINT NOT NULL,
    failures     BIGINT NOT NULL,
    locked_until BIGINT,
    PRIMARY KEY (account, client_ip)
);
CREATE INDEX login_failures_window ON login_failures (window_start);

-- One client address, across accounts.
CREATE TABLE client_login_failures (
    client_ip    TEXT   NOT NULL PRIMARY KEY,
    window_start BIGINT NOT NULL,
    failures     BIGINT NOT NULL
);
CREATE INDEX client_login_failures_window ON client_login_failures (window_start);
