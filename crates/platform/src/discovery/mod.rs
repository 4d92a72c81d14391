//! Discovery in the distributed shape: how a process makes itself known to
//! coordination and finds the instances of the services it calls.
//!
//! - [`Agent`] registers the process's service instance, repeats the registration as
//!   its heartbeat, fetches the service's configuration document when coordination
//!   announces a newer version (into the process's [`LiveConfig`]), and deregisters on
//!   graceful shutdown.
//! - [`Directory`] keeps coordination's list of instances per service, refreshed on a
//!   short interval; when coordination is briefly away the last list it gave stays in
//!   use, so callers keep working.
//! - [`Pool`] spreads one caller's requests over a service's instances, each behind a
//!   circuit breaker ([`breaker`]); the gateway and the service-to-service clients use
//!   the same pools.

mod agent;
pub mod breaker;
mod pool;

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use bytes::Bytes;
use http::{Method, StatusCode};
use serde::Deserialize;

pub use agent::{Agent, Registration};
pub use breaker::{BreakerSettings, BreakerState};
pub use pool::{Outcome, Picked, Pool};

use crate::auth::ForwardedCredentials;
use crate::client::{HttpClient, ServiceClient};
use crate::service::ServiceKind;
use crate::tasks::Tasks;

/// `[discovery]`: where coordination is and how this process takes part.
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct DiscoverySettings {
    /// Coordination's base URL.
    pub coordination_url: String,
    /// The shared secret of the platform's processes (`VISCOUNT_DISCOVERY__SERVICE_TOKEN`):
    /// presented to coordination to register and take locks.
    pub service_token: Option<crate::config::Secret>,
    /// An instance missing heartbeats this long is dropped; it beats every third of it.
    pub ttl_seconds: u64,
    /// How often the list of instances is fetched from coordination.
    pub refresh_ms: u64,
}

impl Default for DiscoverySettings {
    fn default() -> Self {
        Self {
            coordination_url: format!(
                "http://127.0.0.1:{}",
                ServiceKind::Coordination.default_port()
            ),
            service_token: None,
            ttl_seconds: 10,
            refresh_ms: 1000,
        }
    }
}

/// How long one call to coordination may take.
const COORDINATION_TIMEOUT: Duration = Duration::from_secs(2);

/// One instance of a service, as coordination lists it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Instance {
    /// Its id (unique per process start).
    pub instance_id: String,
    /// Its base URL.
    pub address: String,
    /// `up`, `down` (its `/health/ready` failed) or `unknown` (not yet polled).
    #[serde(default)]
    pub status: String,
}

#[derive(Deserialize)]
struct Listed {
    service: String,
    instances: Vec<Instance>,
}

/// Where coordination is and how to present the platform's service token to it.
#[derive(Clone)]
pub struct Coordination {
    base: String,
    client: ServiceClient,
    credentials: ForwardedCredentials,
}

impl Coordination {
    /// Coordination at `base` (e.g. `http://127.0.0.1:8081`), called with `token`.
    /// Its breaker never opens: heartbeats must reach it the moment it is back.
    pub fn new(base: &str, token: Option<&str>, client: HttpClient) -> Self {
        let never_open = BreakerSettings {
            failures_to_open: u32::MAX,
            open_for_ms: 0,
        };
        let pool = Pool::fixed(ServiceKind::Coordination, vec![base.to_owned()], never_open);
        Self {
            base: base.trim_end_matches('/').to_owned(),
            client: ServiceClient::pooled(pool, client),
            credentials: token.map(ForwardedCredentials::bearer).unwrap_or_default(),
        }
    }

    /// Its base URL.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// Sends `body` (JSON) to `path`; the answer's status and body, or why none came.
    pub(crate) async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<&serde_json::Value>,
    ) -> Result<(StatusCode, Bytes), String> {
        let call = self
            .client
            .send_json(method, path, &self.credentials, None, body);
        match tokio::time::timeout(COORDINATION_TIMEOUT, call).await {
            Ok(Ok(reply)) => Ok((reply.status, reply.body)),
            Ok(Err(err)) => Err(err.to_string()),
            Err(_) => Err("coordination did not answer in time".to_owned()),
        }
    }
}

/// Coordination's registry as this process last saw it.
#[derive(Clone)]
pub struct Directory {
    coordination: Coordination,
    instances: Arc<RwLock<HashMap<ServiceKind, Arc<Vec<Instance>>>>>,
}

impl Directory {
    /// An empty directory of `coordination`'s registry; call [`Directory::refresh`] or
    /// [`Directory::start`] to fill it.
    pub fn new(coordination: Coordination) -> Self {
        Self {
            coordination,
            instances: Arc::default(),
        }
    }

    /// Coordination.
    pub fn coordination(&self) -> &Coordination {
        &self.coordination
    }

    /// The instances of `kind` last listed (empty when none are known).
    pub fn instances(&self, kind: ServiceKind) -> Arc<Vec<Instance>> {
        self.instances
            .read()
            .map(|known| known.get(&kind).cloned().unwrap_or_default())
            .unwrap_or_default()
    }

    /// Asks coordination for the current list. On failure the last list stays.
    pub async fn refresh(&self) -> Result<usize, String> {
        let (status, body) = self
            .coordination
            .call(Method::GET, "/api/v1/services", None)
            .await?;
        if !status.is_success() {
            return Err(format!(
                "coordination answered {status} to the service list"
            ));
        }
        let listed: Vec<Listed> =
            serde_json::from_slice(&body).map_err(|e| format!("unreadable service list: {e}"))?;
        let mut fresh = HashMap::new();
        let mut count = 0;
        for entry in listed {
            let Ok(kind) = entry.service.parse::<ServiceKind>() else {
                continue;
            };
            count += entry.instances.len();
            fresh.insert(kind, Arc::new(entry.instances));
        }
        if let Ok(mut known) = self.instances.write() {
            *known = fresh;
        }
        Ok(count)
    }

    /// Refreshes every `interval` until shutdown; the last list stays in use while
    /// coordination is away (a warning when that starts, a note when it ends).
    pub fn start(&self, tasks: &Tasks, interval: Duration) {
        let directory = self.clone();
        let shutdown = tasks.shutdown().clone();
        tasks.spawn(async move {
            let mut failing = false;
            loop {
                tokio::select! {
                    () = shutdown.cancelled() => return,
                    () = tokio::time::sleep(interval) => {}
                }
                match directory.refresh().await {
                    Ok(_) if failing => {
                        failing = false;
                        tracing::info!("coordination reachable again; instances refreshed");
                    }
                    Ok(_) => {}
                    Err(err) if !failing => {
                        failing = true;
                        tracing::warn!(error = %err, "cannot refresh the instances; keeping the last list");
                    }
                    Err(_) => {}
                }
            }
        });
    }

    /// Coordination's aggregated health of `kind` (its instances' polled readiness):
    /// `{service, status: up|degraded|down, instances: [{instance_id, address, status}]}`.
    pub async fn service_health(&self, kind: ServiceKind) -> Result<serde_json::Value, String> {
        let path = format!("/api/v1/services/{kind}/health");
        let (status, body) = self.coordination.call(Method::GET, &path, None).await?;
        if !status.is_success() {
            return Err(format!("coordination answered {status} to {path}"));
        }
        serde_json::from_slice(&body).map_err(|e| format!("unreadable health: {e}"))
    }

    /// A pool over `kind`'s instances.
    pub fn pool(&self, kind: ServiceKind, settings: BreakerSettings) -> Pool {
        Pool::discovered(kind, self.clone(), settings)
    }
}
