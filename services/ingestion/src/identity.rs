//! [`TenantDirectory`] over identity's public API (`GET /api/v1/tenants/{id}`), through
//! `platform::client::ServiceClient` (identity's router in this process, or its
//! instances over HTTP), on behalf of the caller.

use async_trait::async_trait;
use http::{Method, StatusCode};
use platform::auth::ForwardedCredentials;
use platform::client::ServiceClient;

use crate::domain::ports::{PortError, TenantDirectory};

/// Identity's tenants, in this process or remote.
#[derive(Clone)]
pub struct HttpTenants {
    client: ServiceClient,
}

impl HttpTenants {
    /// Asks identity through `client`.
    pub fn new(client: ServiceClient) -> Self {
        Self { client }
    }
}

#[async_trait]
impl TenantDirectory for HttpTenants {
    async fn tenant_exists(
        &self,
        credentials: &ForwardedCredentials,
        tenant_id: &str,
    ) -> Result<bool, PortError> {
        let reply = self
            .client
            .send_json::<()>(
                Method::GET,
                &format!("/api/v1/tenants/{tenant_id}"),
                credentials,
                None,
                None,
            )
            .await
            .map_err(|err| {
                tracing::warn!(error = %err, "cannot ask identity for a tenant");
                PortError::Unavailable("identity")
            })?;
        match reply.status {
            StatusCode::OK => Ok(true),
            StatusCode::NOT_FOUND => Ok(false),
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => Err(PortError::Refused(
                "identity refused to show the tenant to this caller".into(),
            )),
            status => {
                tracing::warn!(%status, "identity answered a tenant lookup unexpectedly");
                Err(PortError::Unavailable("identity"))
            }
        }
    }
}
