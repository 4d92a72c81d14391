//! The sign-in round trip's rules (OpenID Connect authorization code flow with PKCE):
//! what the console remembers while the browser is at identity's page, and the checks
//! the ID token it brings back must pass.

use data_encoding::BASE64URL_NOPAD;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The console's client id at identity (built in there).
pub const CLIENT_ID: &str = "viscount-console";
/// Where identity sends the browser back, under the issuer.
pub const CALLBACK_PATH: &str = "/auth/callback";

/// What the console keeps, under the request's `state`, while the browser signs in.
#[derive(Clone, Serialize, Deserialize)]
pub struct LoginState {
    /// The PKCE verifier; identity saw only its S256 challenge.
    pub verifier: String,
    /// The nonce the ID token must carry.
    pub nonce: String,
    /// The console page to land on afterwards (a local path).
    pub return_to: String,
}

impl std::fmt::Debug for LoginState {
    // The verifier and the nonce are secrets until the sign-in ends.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoginState")
            .field("return_to", &self.return_to)
            .finish_non_exhaustive()
    }
}

impl LoginState {
    /// A new sign-in that lands on `return_to` (any other than a local path lands on `/`).
    pub fn new(return_to: &str) -> Self {
        Self {
            verifier: platform::ids::random_token(""),
            nonce: platform::ids::random_token(""),
            return_to: local_path(return_to).to_owned(),
        }
    }

    /// The PKCE S256 challenge of the verifier.
    pub fn challenge(&self) -> String {
        BASE64URL_NOPAD.encode(&Sha256::digest(self.verifier.as_bytes()))
    }
}

/// `path` if it is a path of this site (so a crafted link cannot send the browser away
/// after it signs in), else `/`.
pub fn local_path(path: &str) -> &str {
    let local = path.starts_with('/')
        && !path.starts_with("//")
        && !path.contains('\\')
        && !path.chars().any(char::is_control);
    if local { path } else { "/" }
}

/// The claims of an ID token the console reads.
#[derive(Debug, Clone, Deserialize)]
pub struct IdTokenClaims {
    /// Issuer.
    pub iss: String,
    /// The user's id.
    pub sub: String,
    /// Audience: the client id.
    pub aud: Audience,
    /// Expiry (epoch seconds).
    pub exp: i64,
    /// The nonce of the request.
    pub nonce: Option<String>,
}

/// `aud`: one client id or several.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum Audience {
    /// One.
    One(String),
    /// Several.
    Many(Vec<String>),
}

impl Audience {
    fn names(&self, client: &str) -> bool {
        match self {
            Audience::One(one) => one == client,
            Audience::Many(many) => many.iter().any(|one| one == client),
        }
    }
}

/// Why a sign-in is not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LoginError {
    /// The callback's state is not one this browser started.
    #[error("the sign-in was not started in this browser, or it took too long")]
    UnknownState,
    /// Identity answered the authorization request with an error.
    #[error("identity refused the sign-in: {0}")]
    Refused(String),
    /// The code could not be exchanged.
    #[error("the sign-in code could not be exchanged")]
    Exchange,
    /// The ID token does not read or its claims do not hold.
    #[error("the ID token is not valid: {0}")]
    IdToken(&'static str),
}

impl IdTokenClaims {
    /// The claims of `id_token`, checked against the issuer, this client, the nonce the
    /// sign-in sent and the time.
    ///
    /// The signature is not checked here: the token came straight from identity's
    /// token endpoint, in the exchange the console itself made (in process, or to the
    /// platform's own identity), which OpenID Connect Core 3.1.3.7 accepts in place of
    /// it. The claims are what binds it to this sign-in.
    pub fn read(id_token: &str, issuer: &str, nonce: &str, now: i64) -> Result<Self, LoginError> {
        let payload = id_token
            .split('.')
            .nth(1)
            .ok_or(LoginError::IdToken("not a JWT"))?;
        let bytes = BASE64URL_NOPAD
            .decode(payload.as_bytes())
            .map_err(|_| LoginError::IdToken("payload is not base64url"))?;
        let claims: IdTokenClaims = serde_json::from_slice(&bytes)
            .map_err(|_| LoginError::IdToken("claims do not read"))?;
        if claims.iss.trim_end_matches('/') != issuer.trim_end_matches('/') {
            return Err(LoginError::IdToken("another issuer"));
        }
        if !claims.aud.names(CLIENT_ID) {
            return Err(LoginError::IdToken("not issued to the console"));
        }
        if claims.nonce.as_deref() != Some(nonce) {
            return Err(LoginError::IdToken("nonce does not match"));
        }
        if claims.exp <= now {
            return Err(LoginError::IdToken("expired"));
        }
        Ok(claims)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token(claims: serde_json::Value) -> String {
        format!(
            "e30.{}.sig",
            BASE64URL_NOPAD.encode(claims.to_string().as_bytes())
        )
    }

    #[test]
    fn the_challenge_is_s256_of_the_verifier() {
        // RFC 7636 appendix B.
        let state = LoginState {
            verifier: "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk".into(),
            nonce: String::new(),
            return_to: "/".into(),
        };
        assert_eq!(
            state.challenge(),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
    }

    #[test]
    fn only_local_paths_are_returned_to() {
        assert_eq!(local_path("/orders/1?x=2"), "/orders/1?x=2");
        for away in [
            "https://evil.test/",
            "//evil.test",
            "/\\evil.test",
            "",
            "orders",
        ] {
            assert_eq!(local_path(away), "/", "{away}");
        }
    }

    #[test]
    fn an_id_token_must_name_the_issuer_the_console_and_the_nonce() {
        let good = serde_json::json!({
            "iss": "http://a.test", "sub": "u1", "aud": "viscount-console",
            "exp": 100, "nonce": "n1"
        });
        let claims =
            IdTokenClaims::read(&token(good.clone()), "http://a.test/", "n1", 50).expect("valid");
        assert_eq!(claims.sub, "u1");
        let cases = [
            ("iss", serde_json::json!("http://b.test"), "another issuer"),
            (
                "aud",
                serde_json::json!(["other"]),
                "not issued to the console",
            ),
            ("nonce", serde_json::json!("n2"), "nonce does not match"),
            ("exp", serde_json::json!(50), "expired"),
        ];
        for (field, value, why) in cases {
            let mut claims = good.clone();
            claims[field] = value;
            assert_eq!(
                IdTokenClaims::read(&token(claims), "http://a.test", "n1", 50).err(),
                Some(LoginError::IdToken(why))
            );
        }
        assert!(IdTokenClaims::read("garbage", "http://a.test", "n1", 50).is_err());
    }
}
