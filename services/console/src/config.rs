//! The console's configuration (`[gateway.console]`, `VISCOUNT_GATEWAY__CONSOLE__*`): it
//! is served by the gateway, so it is a part of the gateway's section.

use serde::Deserialize;

/// The console's settings.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct ConsoleSettings {
    /// Off: `/`, `/admin` and the console's other pages are unknown paths (404).
    pub enabled: bool,
    /// Longest a browser session lasts after its sign-in, in seconds, however active.
    pub session_ttl_secs: u64,
    /// A session unused this long ends, in seconds.
    pub idle_ttl_secs: u64,
    /// Longest a sign-in may take between leaving for identity's page and coming back
    /// with its code, in seconds.
    pub sign_in_ttl_secs: u64,
    /// How long a checkout waits for the saga to settle before showing the order as
    /// pending, in seconds.
    pub checkout_wait_secs: u64,
}

impl Default for ConsoleSettings {
    fn default() -> Self {
        Self {
            enabled: true,
            session_ttl_secs: 8 * 3600,
            idle_ttl_secs: 3600,
            sign_in_ttl_secs: 600,
            checkout_wait_secs: 10,
        }
    }
}
