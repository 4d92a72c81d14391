//! Who is calling, by network address: the client IP that rate limits and sign-in
//! lockouts count against.
//!
//! The gateway is the edge: the client is its TCP peer. It hands that address on so a
//! service behind it counts the same client, not the gateway: in process as the
//! [`ClientIp`] request extension, over HTTP as the last `X-Forwarded-For` entry (the
//! one the gateway appended). A service trusts `X-Forwarded-For` only from a peer on a
//! loopback or private address (the gateway inside the cluster); anything a client
//! wrote into the header itself comes before the gateway's entry and is never read.

use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, FromRequestParts};
use http::request::Parts;

/// The header a proxy appends the client's address to.
pub const FORWARDED_FOR: &str = "x-forwarded-for";

/// The calling client's address; `None` when the request came without a socket (an
/// in-process call from another service).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientIp(pub Option<IpAddr>);

impl ClientIp {
    /// The client of a request with these `extensions` and `headers`.
    pub fn of(extensions: &http::Extensions, headers: &http::HeaderMap) -> Self {
        if let Some(known) = extensions.get::<ClientIp>() {
            return *known;
        }
        let peer = extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|info| info.0.ip());
        match peer {
            Some(peer) if is_internal(peer) => Self(last_forwarded(headers).or(Some(peer))),
            peer => Self(peer),
        }
    }

    /// The caller as a counter's key (`unknown` without an address): an IPv4 address
    /// whole, an IPv6 address by its /64, the block one subscriber is given, so
    /// walking through one's own block does not reset rate limits and lockouts.
    pub fn key(&self) -> String {
        match self.0 {
            None => "unknown".to_owned(),
            Some(IpAddr::V4(v4)) => v4.to_string(),
            Some(IpAddr::V6(v6)) => match v6.to_ipv4_mapped() {
                Some(v4) => v4.to_string(),
                None => {
                    let s = v6.segments();
                    format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
                }
            },
        }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for ClientIp {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Ok(Self::of(&parts.extensions, &parts.headers))
    }
}

/// The last address of `X-Forwarded-For` (the one the nearest proxy appended).
fn last_forwarded(headers: &http::HeaderMap) -> Option<IpAddr> {
    headers
        .get_all(FORWARDED_FOR)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .next_back()?
        .rsplit(',')
        .next()?
        .trim()
        .parse()
        .ok()
}

/// Loopback or private: a peer inside the cluster, whose forwarded-for is believed.
fn is_internal(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_loopback() || v4.is_private() || v4.is_link_local(),
        IpAddr::V6(v6) => {
            v6.is_loopback()
                || (v6.segments()[0] & 0xfe00) == 0xfc00
                || v6
                    .to_ipv4_mapped()
                    .is_some_and(|v4| is_internal(IpAddr::V4(v4)))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(peer: &str, forwarded: Option<&str>) -> (http::Extensions, http::HeaderMap) {
        let mut extensions = http::Extensions::new();
        extensions.insert(ConnectInfo(
            peer.parse::<SocketAddr>().expect("socket address"),
        ));
        let mut headers = http::HeaderMap::new();
        if let Some(value) = forwarded {
            headers.insert(FORWARDED_FOR, value.parse().expect("header value"));
        }
        (extensions, headers)
    }

    #[test]
    fn a_public_peer_is_the_client_whatever_it_forwards() {
        let (extensions, headers) = request("203.0.113.9:5000", Some("198.51.100.1"));
        assert_eq!(
            ClientIp::of(&extensions, &headers).key(),
            "203.0.113.9".to_owned()
        );
    }

    #[test]
    fn behind_an_internal_proxy_the_last_forwarded_entry_is_the_client() {
        let (extensions, headers) = request("127.0.0.1:5000", Some("198.51.100.1, 203.0.113.9"));
        assert_eq!(ClientIp::of(&extensions, &headers).key(), "203.0.113.9");
        let (extensions, headers) = request("10.0.0.4:5000", None);
        assert_eq!(ClientIp::of(&extensions, &headers).key(), "10.0.0.4");
    }

    #[test]
    fn an_ipv6_caller_counts_by_its_64_block() {
        let a = ClientIp(Some("2001:db8:1:2::1".parse().expect("ip")));
        let b = ClientIp(Some("2001:db8:1:2:ffff::9".parse().expect("ip")));
        assert_eq!(a.key(), "2001:db8:1:2::/64");
        assert_eq!(a.key(), b.key());
        let mapped = ClientIp(Some("::ffff:192.0.2.7".parse().expect("ip")));
        assert_eq!(mapped.key(), "192.0.2.7");
    }

    #[test]
    fn the_gateways_extension_wins() {
        let (mut extensions, headers) = request("127.0.0.1:5000", Some("198.51.100.1"));
        extensions.insert(ClientIp(Some("192.0.2.7".parse().expect("ip"))));
        assert_eq!(ClientIp::of(&extensions, &headers).key(), "192.0.2.7");
    }
}
