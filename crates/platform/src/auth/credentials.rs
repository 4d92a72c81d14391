//! The caller's own credentials, carried to a service called on the caller's behalf.
//!
//! When one service calls another for a request (ordering creating an order's payment),
//! it forwards what the caller presented, so the callee authorizes the caller and not
//! the calling service. The handler takes [`ForwardedCredentials`] from the request and
//! hands it to the application as a plain value; only the HTTP client turns it back into
//! headers. It never prints what it holds. The trace context is not among what it
//! carries: the client sends its own span's (see `crate::client`).
//!
//! It also carries the caller's network address ([`ClientIp`]), so a service called
//! for a client judges that client and not the service in between (payments' fraud
//! rules count payments per client address): over HTTP as `X-Forwarded-For`, which
//! the callee believes because the caller is inside the cluster, in process as the
//! request extension.

use std::convert::Infallible;
use std::fmt;
use std::net::IpAddr;

use axum::extract::FromRequestParts;
use http::request::Parts;
use http::{HeaderMap, HeaderName, HeaderValue};

use crate::http::ClientIp;
use crate::http::client_ip::FORWARDED_FOR;

/// What a caller presented, to be presented again to a service called for it.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct ForwardedCredentials {
    authorization: Option<HeaderValue>,
    api_key: Option<HeaderValue>,
    request_id: Option<HeaderValue>,
    client_ip: Option<IpAddr>,
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
            client_ip: None,
        }
    }

    /// Takes the caller's credentials, request id and address from a request.
    pub fn from_request(extensions: &http::Extensions, headers: &HeaderMap) -> Self {
        Self {
            client_ip: ClientIp::of(extensions, headers).0,
            ..Self::from_headers(headers)
        }
    }

    /// The caller's address, as the callee's [`ClientIp`] extension.
    pub fn client_ip(&self) -> Option<ClientIp> {
        self.client_ip.map(|ip| ClientIp(Some(ip)))
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
        if let Some(ip) = self.client_ip {
            // An address always makes a header value.
            if let Ok(value) = HeaderValue::from_str(&ip.to_string()) {
                headers.insert(HeaderName::from_static(FORWARDED_FOR), value);
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
            .field("client_ip", &self.client_ip.map(|_| "<redacted>"))
            .finish_non_exhaustive()
    }
}

impl<S: Send + Sync> FromRequestParts<S> for ForwardedCredentials {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Self::from_request(&parts.extensions, &parts.headers))
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
    fn the_callers_address_travels_as_the_forwarded_for_entry() {
        let mut extensions = http::Extensions::new();
        extensions.insert(ClientIp(Some("203.0.113.7".parse().expect("ip"))));
        let credentials = ForwardedCredentials::from_request(&extensions, &HeaderMap::new());
        let headers = credentials.to_headers();
        assert_eq!(
            headers.get(FORWARDED_FOR).and_then(|v| v.to_str().ok()),
            Some("203.0.113.7")
        );
        assert_eq!(
            credentials.client_ip(),
            Some(ClientIp(Some("203.0.113.7".parse().expect("ip"))))
        );
        // Read back on the far side, from a caller inside the cluster.
        let mut far = http::Extensions::new();
        far.insert(axum::extract::ConnectInfo(
            "10.0.0.5:4000"
                .parse::<std::net::SocketAddr>()
                .expect("socket address"),
        ));
        assert_eq!(ClientIp::of(&far, &headers).key(), "203.0.113.7");
        // Without a known address nothing is forwarded.
        let none = ForwardedCredentials::from_headers(&HeaderMap::new());
        assert!(none.to_headers().get(FORWARDED_FOR).is_none());
        assert_eq!(none.client_ip(), None);
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
