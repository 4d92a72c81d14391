-- Sign-in attempts are counted per account and client address, and per address across
-- accounts, so that failures from one address lock the account for that address only
-- (an attacker elsewhere can no longer lock the owner out) and one address cannot guess
-- across many accounts. Each row is a counter over a window that starts at its first
-- attempt; an attempt is counted by one conditional upsert before its password is
-- checked, so attempts sent together cannot outrun the limits. Old failures and locks
-- were per account only; they are short-lived and not carried over.
--
-- Rolling deploys: replicas of the previous release keep serving beside this one until
-- they are replaced, and they read and write `users.locked_until` and the
-- `login_failures (user_id, at)` table on every sign-in. Both stay here, unused by this
-- release; a later migration drops them, once no replica of the previous release can
-- be running. (Until then each release counts failures in its own tables.)

-- One account (a user id, or `unknown:` and the SHA-256 of an email that has no account,
-- so such an email locks like a real one) from one client address.
CREATE TABLE account_login_failures (
    account      TEXT   NOT NULL,
    client_ip    TEXT   NOT NULL,
    window_start BIGINT NOT NULL,
    failures     BIGINT NOT NULL,
    locked_until BIGINT,
    PRIMARY KEY (account, client_ip)
);
CREATE INDEX account_login_failures_window ON account_login_failures (window_start);

-- One client address, across accounts.
CREATE TABLE client_login_failures (
    client_ip    TEXT   NOT NULL PRIMARY KEY,
    window_start BIGINT NOT NULL,
    failures     BIGINT NOT NULL
);
CREATE INDEX client_login_failures_window ON client_login_failures (window_start);
