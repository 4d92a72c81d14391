//! OpenID Connect's authorization code flow, as rules: the registered clients and
//! their exact redirect URIs, what makes an authorization request valid (RFC 6749
//! 4.1.1, OpenID Connect Core 3.1.2.1, PKCE with S256 only, RFC 7636), and the check
//! of a code verifier against its challenge.
//!
//! Every client is public (a browser app or a backend-for-frontend proving itself with
//! PKCE, no client secret): the code is bound to the client, the redirect URI and the
//! challenge, and useless without the verifier only the client holds.

use serde::Deserialize;
use sha2::{Digest, Sha256};

/// The console's client id: the first-party client built in.
pub const CONSOLE_CLIENT_ID: &str = "viscount-console";
/// Where the console receives its code, under the issuer.
pub const CONSOLE_CALLBACK_PATH: &str = "/auth/callback";

/// A client allowed to ask for codes.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OidcClient {
    /// Its `client_id`.
    pub client_id: String,
    /// The redirect URIs it may name, compared exactly (no prefix, no pattern).
    pub redirect_uris: Vec<String>,
}

impl OidcClient {
    /// Why this client cannot be served, if it cannot: an empty id, no redirect URI,
    /// or one that is not an absolute http(s) URI without a fragment (RFC 6749 3.1.2),
    /// which no browser could be sent back to with a code.
    pub fn check(&self) -> Result<(), String> {
        if self.client_id.trim().is_empty() {
            return Err("identity.clients: a client has an empty client_id".to_owned());
        }
        if self.redirect_uris.is_empty() {
            return Err(format!(
                "identity.clients: client {:?} has no redirect_uris",
                self.client_id
            ));
        }
        for uri in &self.redirect_uris {
            let usable = url::Url::parse(uri).is_ok_and(|url| {
                matches!(url.scheme(), "http" | "https")
                    && url.has_host()
                    && url.fragment().is_none()
            });
            if !usable {
                return Err(format!(
                    "identity.clients: client {:?} has redirect URI {uri:?}, which is not an \
                     absolute http(s) URI without a fragment",
                    self.client_id
                ));
            }
        }
        Ok(())
    }

    /// The console, its callback under `issuer`.
    pub fn console(issuer: &str) -> Self {
        Self {
            client_id: CONSOLE_CLIENT_ID.to_owned(),
            redirect_uris: vec![format!(
                "{}{CONSOLE_CALLBACK_PATH}",
                issuer.trim_end_matches('/')
            )],
        }
    }
}

/// The parameters of an authorization request, as sent (query or form).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct AuthorizationParams {
    /// Must be `code`.
    pub response_type: Option<String>,
    /// A registered client.
    pub client_id: Option<String>,
    /// One of the client's redirect URIs, exactly.
    pub redirect_uri: Option<String>,
    /// Space-separated; must hold `openid`.
    pub scope: Option<String>,
    /// Returned as given.
    pub state: Option<String>,
    /// Put in the ID token as given.
    pub nonce: Option<String>,
    /// BASE64URL(SHA-256(verifier)), 43 characters.
    pub code_challenge: Option<String>,
    /// Must be `S256`.
    pub code_challenge_method: Option<String>,
}

/// A valid authorization request: what the code is issued for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthorizationRequest {
    /// The client.
    pub client_id: String,
    /// Where the code goes.
    pub redirect_uri: String,
    /// The scopes granted (`openid` and those of `profile`, `email` asked for).
    pub scope: String,
    /// The client's state, returned with the code.
    pub state: Option<String>,
    /// The client's nonce, carried into the ID token.
    pub nonce: Option<String>,
    /// The PKCE challenge (S256).
    pub code_challenge: String,
}

/// Why an authorization request is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RequestRefusal {
    /// The client or its redirect URI is unknown or missing: RFC 6749 4.1.2.1 says
    /// never to redirect then, so the error is shown to the person instead.
    NoRedirect(&'static str),
    /// Anything else: sent back to the client's redirect URI as `error` (with
    /// `state`).
    Redirect {
        /// Where to.
        redirect_uri: String,
        /// The client's state.
        state: Option<String>,
        /// RFC 6749's error code.
        error: &'static str,
        /// For people.
        description: &'static str,
    },
}

/// The longest value any parameter may have (a nonce or state is an opaque string of
/// the client's, but not an unbounded one).
const MAX_PARAM_LEN: usize = 512;
/// The scopes served.
const SCOPES: [&str; 3] = ["openid", "profile", "email"];

impl AuthorizationParams {
    /// The request these parameters make for one of `clients`, or why not.
    pub fn validate(&self, clients: &[OidcClient]) -> Result<AuthorizationRequest, RequestRefusal> {
        let client = self
            .client_id
            .as_deref()
            .and_then(|id| clients.iter().find(|c| c.client_id == id))
            .ok_or(RequestRefusal::NoRedirect("unknown client_id"))?;
        let redirect_uri = self
            .redirect_uri
            .as_deref()
            .filter(|uri| client.redirect_uris.iter().any(|r| r == uri))
            .ok_or(RequestRefusal::NoRedirect(
                "redirect_uri is not one registered for the client",
            ))?
            .to_owned();
        let state = self.state.clone().filter(|s| !s.is_empty());
        let refuse = |error, description| RequestRefusal::Redirect {
            redirect_uri: redirect_uri.clone(),
            state: state.clone(),
            error,
            description,
        };
        let too_long = [&self.state, &self.nonce, &self.scope, &self.code_challenge]
            .into_iter()
            .flatten()
            .any(|v| v.len() > MAX_PARAM_LEN);
        if too_long {
            return Err(refuse("invalid_request", "a parameter is too long"));
        }
        match self.response_type.as_deref() {
            Some("code") => {}
            None => return Err(refuse("invalid_request", "response_type is required")),
            Some(_) => {
                return Err(refuse(
                    "unsupported_response_type",
                    "only response_type=code is supported",
                ));
            }
        }
        let asked: Vec<&str> = self
            .scope
            .as_deref()
            .unwrap_or("")
            .split(' ')
            .filter(|s| !s.is_empty())
            .collect();
        if !asked.contains(&"openid") {
            return Err(refuse("invalid_scope", "scope must include openid"));
        }
        let scope = SCOPES
            .iter()
            .filter(|s| asked.contains(s))
            .copied()
            .collect::<Vec<_>>()
            .join(" ");
        let Some(code_challenge) = self.code_challenge.clone() else {
            return Err(refuse(
                "invalid_request",
                "code_challenge is required (PKCE, S256)",
            ));
        };
        if self.code_challenge_method.as_deref() != Some("S256") {
            return Err(refuse(
                "invalid_request",
                "code_challenge_method must be S256",
            ));
        }
        if !is_challenge(&code_challenge) {
            return Err(refuse(
                "invalid_request",
                "code_challenge must be 43 base64url characters",
            ));
        }
        Ok(AuthorizationRequest {
            client_id: client.client_id.clone(),
            redirect_uri,
            scope,
            state,
            nonce: self.nonce.clone().filter(|n| !n.is_empty()),
            code_challenge,
        })
    }
}

/// An S256 challenge: the base64url (no padding) of 32 bytes.
fn is_challenge(challenge: &str) -> bool {
    challenge.len() == 43
        && challenge
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Whether `verifier` (RFC 7636 4.1: 43 to 128 unreserved characters) is the one
/// `challenge` was made from with S256.
pub fn verifier_matches(verifier: &str, challenge: &str) -> bool {
    let well_formed = (43..=128).contains(&verifier.len())
        && verifier
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'));
    if !well_formed {
        return false;
    }
    let made = data_encoding::BASE64URL_NOPAD.encode(&Sha256::digest(verifier.as_bytes()));
    subtle::ConstantTimeEq::ct_eq(made.as_bytes(), challenge.as_bytes()).into()
}

/// `uri` with the query parameters `params` added (to a redirect URI, which may carry
/// a query of its own).
pub fn with_query(uri: &str, params: &[(&str, &str)]) -> String {
    let mut url = match url::Url::parse(uri) {
        Ok(url) => url,
        Err(_) => return uri.to_owned(),
    };
    {
        let mut query = url.query_pairs_mut();
        for (name, value) in params {
            query.append_pair(name, value);
        }
    }
    url.into()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 7636 appendix B.
    const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
    const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

    fn client() -> OidcClient {
        OidcClient {
            client_id: "app".into(),
            redirect_uris: vec!["https://app.example/cb".into()],
        }
    }

    fn params() -> AuthorizationParams {
        AuthorizationParams {
            response_type: Some("code".into()),
            client_id: Some("app".into()),
            redirect_uri: Some("https://app.example/cb".into()),
            scope: Some("openid email offline_access".into()),
            state: Some("s1".into()),
            nonce: Some("n1".into()),
            code_challenge: Some(CHALLENGE.into()),
            code_challenge_method: Some("S256".into()),
        }
    }

    #[test]
    fn clients_with_unusable_redirect_uris_are_refused() {
        assert_eq!(client().check(), Ok(()));
        for uri in [
            "/relative",
            "myapp://cb",
            "https://app.example/cb#frag",
            "not a uri",
        ] {
            let bad = OidcClient {
                redirect_uris: vec![uri.into()],
                ..client()
            };
            assert!(bad.check().is_err(), "{uri}");
        }
    }

    #[test]
    fn the_rfc_7636_example_verifies_and_nothing_else_does() {
        assert!(verifier_matches(VERIFIER, CHALLENGE));
        assert!(!verifier_matches(&VERIFIER.replace('d', "e"), CHALLENGE));
        assert!(!verifier_matches("short", CHALLENGE));
        assert!(!verifier_matches(CHALLENGE, CHALLENGE));
    }

    #[test]
    fn a_valid_request_keeps_the_served_scopes() {
        let request = params().validate(&[client()]).expect("valid");
        assert_eq!(request.scope, "openid email");
        assert_eq!(request.nonce.as_deref(), Some("n1"));
    }

    #[test]
    fn an_unknown_client_or_redirect_is_never_redirected_to() {
        let mut p = params();
        p.redirect_uri = Some("https://app.example/cb/../evil".into());
        assert!(matches!(
            p.validate(&[client()]),
            Err(RequestRefusal::NoRedirect(_))
        ));
        let mut p = params();
        p.client_id = Some("other".into());
        assert!(matches!(
            p.validate(&[client()]),
            Err(RequestRefusal::NoRedirect(_))
        ));
    }

    #[test]
    fn pkce_is_required_with_s256() {
        let error_of = |p: AuthorizationParams| match p.validate(&[client()]) {
            Err(RequestRefusal::Redirect { error, state, .. }) => {
                assert_eq!(state.as_deref(), Some("s1"));
                error
            }
            other => panic!("{other:?}"),
        };
        let mut p = params();
        p.code_challenge = None;
        assert_eq!(error_of(p), "invalid_request");
        let mut p = params();
        p.code_challenge_method = Some("plain".into());
        assert_eq!(error_of(p), "invalid_request");
        let mut p = params();
        p.response_type = Some("token".into());
        assert_eq!(error_of(p), "unsupported_response_type");
        let mut p = params();
        p.scope = Some("email".into());
        assert_eq!(error_of(p), "invalid_scope");
    }

    #[test]
    fn codes_are_added_to_the_redirect_uris_own_query() {
        assert_eq!(
            with_query(
                "https://app.example/cb?x=1",
                &[("code", "c d"), ("state", "s")]
            ),
            "https://app.example/cb?x=1&code=c+d&state=s"
        );
    }
}
