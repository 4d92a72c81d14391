//! The gateway's configuration (`[gateway]`, `VISCOUNT_GATEWAY__*`).

use serde::Deserialize;

/// The gateway's settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct GatewayConfig {
    /// Origins allowed by CORS; `["*"]` allows any (without credentials).
    pub cors_allowed_origins: Vec<String>,
    /// Longest a request may take end to end (checkout may wait up to 30 s).
    pub request_timeout_secs: u64,
}

impl Default for GatewayConfig {
    fn default() -> Self {
        Self {
            cors_allowed_origins: vec!["*".into()],
            request_timeout_secs: 35,
        }
    }
}
