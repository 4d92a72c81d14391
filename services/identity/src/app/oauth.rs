//! The OAuth 2.0 and OIDC surface beyond sign-in: client credentials (an API key
//! exchanged for an access token), the issuer and the published keys, and rotating
//! the signing key.

use platform::auth::jwt::{self, Jwk};

use super::{IdentityApp, IdentityError, TokenPair};
use crate::keys::KeyError;

impl IdentityApp {
    /// OAuth 2.0 client credentials: an API key id and secret exchanged for an access
    /// token carrying the key's scopes (narrowed to `requested` when given).
    #[tracing::instrument(skip_all, fields(client_id = %client_id), err(level = "info"))]
    pub async fn client_credentials(
        &self,
        client_id: &str,
        client_secret: &str,
        requested: Option<&str>,
    ) -> Result<TokenPair, IdentityError> {
        let principal = self
            .resolve_api_key(client_secret)
            .await?
            .filter(|p| p.subject == client_id)
            .ok_or(IdentityError::InvalidClient)?;
        if principal.tenant.is_some() {
            // A token would carry no tenant; a tenant key authenticates as itself only.
            return Err(IdentityError::UnauthorizedClient(
                "a tenant key cannot use the client credentials grant",
            ));
        }
        let granted: Vec<String> = match requested {
            Some(requested) => {
                let wanted: Vec<&str> = requested.split_whitespace().collect();
                if !wanted
                    .iter()
                    .all(|w| principal.scopes.iter().any(|s| s == w))
                {
                    return Err(IdentityError::Forbidden(
                        "a requested scope is not granted to this client",
                    ));
                }
                wanted.into_iter().map(str::to_owned).collect()
            }
            None => principal.scopes.clone(),
        };
        let scope = granted.join(" ");
        let exp = self.clock.now_secs() + self.config.access_token_ttl_secs;
        let mut claims = self.claims(client_id, Vec::new(), None, Some(scope.clone()), exp);
        claims.client_id = Some(client_id.to_owned());
        Ok(TokenPair {
            access_token: self.keys.sign(&claims, jwt::TYP_ACCESS).await,
            refresh_token: None,
            token_type: "Bearer",
            expires_in: self.config.access_token_ttl_secs,
            scope: Some(scope),
            id_token: None,
        })
    }

    /// The issuer tokens name (the gateway's public address), without a trailing `/`.
    pub fn issuer(&self) -> &str {
        self.config.tokens.issuer.trim_end_matches('/')
    }

    /// The published verification keys (the JWKS `keys`).
    pub async fn jwks(&self) -> Vec<Jwk> {
        self.keys.jwks().await
    }

    /// The RSA keys ID tokens are signed with (none before the first).
    pub async fn id_token_jwks(
        &self,
    ) -> Result<Vec<crate::id_tokens::RsaJwk>, crate::id_tokens::IdTokenError> {
        self.id_tokens.jwks().await
    }

    /// Retires the signing key and starts signing with a new one; returns its id.
    #[tracing::instrument(skip_all, err)]
    pub async fn rotate_signing_key(&self) -> Result<String, KeyError> {
        self.keys.rotate().await
    }
}
