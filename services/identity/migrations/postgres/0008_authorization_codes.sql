-- Authorization codes of the OpenID Connect code flow (with PKCE), by the SHA-256 of
-- the code: single use (`used_at`), short-lived (`expires_at`), bound to the client,
-- the redirect URI and the code challenge they were issued for. `family` is the
-- session the sign-in started: the refresh tokens the exchange issues are in it, so a
-- code presented twice revokes them.
CREATE TABLE authorization_codes (
    code_hash      TEXT   NOT NULL PRIMARY KEY,
    client_id      TEXT   NOT NULL,
    redirect_uri   TEXT   NOT NULL,
    user_id        TEXT   NOT NULL,
    family         TEXT   NOT NULL,
    code_challenge TEXT   NOT NULL,
    nonce          TEXT,
    scope          TEXT   NOT NULL,
    method         TEXT   NOT NULL,
    auth_time      BIGINT NOT NULL,
    expires_at     BIGINT NOT NULL,
    used_at        BIGINT
);
CREATE INDEX authorization_codes_expires ON authorization_codes (expires_at);
-- The RSA keys ID tokens are signed with (RS256, which OpenID Connect requires every
-- provider to offer): PKCS#8, base64url. Made when an ID token is first needed.
CREATE TABLE id_token_keys (
    kid         TEXT   NOT NULL PRIMARY KEY,
    private_key TEXT   NOT NULL,
    created_at  BIGINT NOT NULL
);
