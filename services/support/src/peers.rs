//! What support asks of other services, over their public APIs through
//! `platform::client::ServiceClient` (their routers in this process, or their instances
//! over HTTP), on behalf of the caller: whether an order is the caller's (ordering's
//! `GET /api/v1/orders/{id}`) and whether a user is an admin (identity's
//! `GET /api/v1/users/{id}`).
//!
//! Each is one synchronous hop behind the gateway's (gateway → support → ordering or
//! identity), within the two the architecture allows, and neither callee calls further
//! for these reads.

use http::{Method, StatusCode};
use platform::auth::ForwardedCredentials;
use platform::client::ServiceClient;
use serde::Deserialize;

/// Why a peer could not answer.
#[derive(Debug, thiserror::Error)]
pub enum PeerError {
    /// The peer is unreachable or answered what it should not.
    #[error("{0} is unavailable")]
    Unavailable(&'static str),
}

/// Ordering and identity, as support asks them.
#[derive(Clone)]
pub struct Peers {
    ordering: ServiceClient,
    identity: ServiceClient,
}

#[derive(Deserialize)]
struct UserRoles {
    roles: Vec<String>,
}

impl Peers {
    /// Asks ordering and identity through these clients.
    pub fn new(ordering: ServiceClient, identity: ServiceClient) -> Self {
        Self { ordering, identity }
    }

    /// Whether the caller may see order `order_id` (their own, or any for an admin):
    /// ordering answers another customer's order "not found", like a missing one.
    pub async fn order_visible(
        &self,
        credentials: &ForwardedCredentials,
        order_id: &str,
    ) -> Result<bool, PeerError> {
        let path = format!("/api/v1/orders/{order_id}");
        let reply = self
            .ordering
            .send_json::<()>(Method::GET, &path, credentials, None, None)
            .await
            .map_err(|err| {
                tracing::warn!(error = %err, "cannot ask ordering for an order");
                PeerError::Unavailable("ordering")
            })?;
        match reply.status {
            StatusCode::OK => Ok(true),
            StatusCode::NOT_FOUND | StatusCode::FORBIDDEN | StatusCode::UNPROCESSABLE_ENTITY => {
                Ok(false)
            }
            status => {
                tracing::warn!(%status, "ordering answered an order lookup unexpectedly");
                Err(PeerError::Unavailable("ordering"))
            }
        }
    }

    /// Whether user `user_id` exists and holds the admin role (asked by an admin).
    pub async fn is_admin(
        &self,
        credentials: &ForwardedCredentials,
        user_id: &str,
    ) -> Result<bool, PeerError> {
        let path = format!("/api/v1/users/{user_id}");
        let reply = self
            .identity
            .send_json::<()>(Method::GET, &path, credentials, None, None)
            .await
            .map_err(|err| {
                tracing::warn!(error = %err, "cannot ask identity for a user");
                PeerError::Unavailable("identity")
            })?;
        match reply.status {
            StatusCode::OK => {
                let user: UserRoles = reply.json().map_err(|err| {
                    tracing::warn!(error = %err, "identity's user does not read");
                    PeerError::Unavailable("identity")
                })?;
                Ok(user.roles.iter().any(|r| r == platform::auth::ROLE_ADMIN))
            }
            StatusCode::NOT_FOUND | StatusCode::UNPROCESSABLE_ENTITY => Ok(false),
            status => {
                tracing::warn!(%status, "identity answered a user lookup unexpectedly");
                Err(PeerError::Unavailable("identity"))
            }
        }
    }
}
