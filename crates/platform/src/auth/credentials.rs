//! The caller's own credentials, carried to a service called on the caller's behalf.
//!
//! When one service calls another for a request (ordering creating an order's payment),
//! it forwards what the caller presented, so the callee authorizes the caller and not
//! the calling service. The handler takes [`ForwardedCredentials`] from the request and
//! hands it to the application as a plain value; only the HTTP client turns it back into
//! headers. It never prints what it holds. The trace context is not among what it
//! carries: the client sends its own span's (see `crate::client`).

use std::convert::Infallible;
use std::fmt;

use axum::extract::FromRequestParts;
use http::request::Parts;
use http::{HeaderMap, HeaderName, HeaderValue};

/// What a caller presented, to be presented again to a service called for it.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct ForwardedCredentials {
    authorization: Option<HeaderValue>,
    api_key: Option<HeaderValue>,
    request_id: Option<HeaderValue>,
}

impl ForwardedCredentials {
    /// The headers worth forwarding, by name: credentials and the request id.
    const FORWARDED: [&'static str; 3] = ["authorization", "x-api-key", "x-request-id"];

    /// Takes the caller's credentials and request id from `headers`.
    pub fn from_headers(headers: &HeaderMap) -> Self {
        let take = |name: &str| headers.get(name).cloned();
        Self {
            authorization: take(Self::FORWARDED[0]),
            api_key: take(Self::FORWARDED[1]),
            request_id: take(Self::FORWARDED[2]),
        }
    }

    /// The calling process's own credentials rather than a caller's:
    /// `Authorization: Bearer <token>` (the platform's service token), for calls a
    /// process makes on its own behalf (coordination's locks). A token that is not a
    /// header value gives no credentials, so the callee answers 401.
    pub fn bearer(token: &str) -> Self {
        let authorization =
            HeaderValue::from_str(&format!("Bearer {token}"))
                .ok()
                .map(|mut value| {
                    value.set_sensitive(true);
                    value
                });
        Self {
            authorization,
            ..Self::default()
        }
    }

    /// The same as request headers, for the HTTP client.
    pub fn to_headers(&self) -> HeaderMap {
        let mut headers = HeaderMap::new();
        let values = [&self.authorization, &self.api_key, &self.request_id];
        for (name, value) in Self::FORWARDED.into_iter().zip(values) {
            if let Some(value) = value {
                headers.insert(HeaderName::from_static(name), value.clone());
            }
        }
        headers
    }
}

impl fmt::Debug for ForwardedCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ForwardedCredentials")
            .field(
                "authorization",
                &self.authorization.as_ref().map(|_| "<redacted>"),
            )
            .field("api_key", &self.api_key.as_ref().map(|_| "<redacted>"))
            .field("request_id", &self.request_id)
            .finish_non_exhaustive()
    }
}

impl<S: Send + Sync> FromRequestParts<S> for ForwardedCredentials {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Self::from_headers(&parts.headers))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forwards_credentials_and_the_request_id_but_nothing_else() {
        let mut headers = HeaderMap::new();
        headers.insert(
            "authorization",
            HeaderValue::from_static("Bearer secret-token"),
        );
        headers.insert("x-request-id", HeaderValue::from_static("req-1"));
        headers.insert("cookie", HeaderValue::from_static("session=1"));
        headers.insert(
            "traceparent",
            HeaderValue::from_static("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"),
        );
        let forwarded = ForwardedCredentials::from_headers(&headers).to_headers();
        assert_eq!(forwarded.get("authorization"), headers.get("authorization"));
        assert_eq!(forwarded.get("x-request-id"), headers.get("x-request-id"));
        assert!(forwarded.get("cookie").is_none());
        assert_eq!(forwarded.len(), 2);
    }

    #[test]
    fn a_bearer_token_becomes_the_authorization_header_only() {
        let headers = ForwardedCredentials::bearer("svc_token").to_headers();
        assert_eq!(
            headers.get("authorization").and_then(|v| v.to_str().ok()),
            Some("Bearer svc_token")
        );
        assert_eq!(headers.len(), 1);
        let unusable = ForwardedCredentials::bearer("line\nbreak").to_headers();
        assert!(unusable.is_empty());
    }

    #[test]
    fn debug_output_hides_the_secrets() {
        let mut headers = HeaderMap::new();
        headers.insert(
            "authorization",
            HeaderValue::from_static("Bearer secret-token"),
        );
        headers.insert("x-api-key", HeaderValue::from_static("vk_secret"));
        let printed = format!("{:?}", ForwardedCredentials::from_headers(&headers));
        assert!(!printed.contains("secret"), "{printed}");
    }
}
