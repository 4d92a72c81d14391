//! What ingestion needs from outside, named by role: identity's answer to whether a
//! tenant exists, and PayPal's signing certificates.

use async_trait::async_trait;
use platform::auth::ForwardedCredentials;

/// Why an outside answer could not be had.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PortError {
    /// The other side could not be reached or answered unreadably.
    #[error("{0} is unavailable")]
    Unavailable(&'static str),
    /// The other side refused what was asked.
    #[error("{0}")]
    Refused(String),
}

/// Identity, the owner of tenants.
#[async_trait]
pub trait TenantDirectory: Send + Sync {
    /// Whether the tenant exists, asked on behalf of the caller who presented
    /// `credentials`.
    async fn tenant_exists(
        &self,
        credentials: &ForwardedCredentials,
        tenant_id: &str,
    ) -> Result<bool, PortError>;
}

/// Where PayPal's signing certificates come from when a source has none stored.
#[async_trait]
pub trait CertificateSource: Send + Sync {
    /// The PEM certificate at `url` (already checked to be one of PayPal's).
    async fn certificate(&self, url: &str) -> Result<String, PortError>;
}
