//! The process's registration with coordination: heartbeats, live configuration and
//! deregistration at shutdown.

use std::time::Duration;

use http::{Method, StatusCode};
use serde::Deserialize;

use super::Coordination;
use crate::live::{LiveConfig, Versioned};
use crate::service::ServiceKind;
use crate::tasks::Tasks;

/// What a process registers: one instance of one service.
#[derive(Debug, Clone)]
pub struct Registration {
    /// The service.
    pub service: ServiceKind,
    /// This process's instance id (new at each start).
    pub instance_id: String,
    /// The base URL other processes reach it at.
    pub address: String,
    /// The software version.
    pub version: String,
    /// Dropped when no heartbeat came for this long.
    pub ttl_seconds: u64,
}

#[derive(Deserialize)]
struct Registered {
    #[serde(default)]
    config_version: u64,
}

#[derive(Deserialize)]
struct ConfigDocument {
    version: u64,
    #[serde(default)]
    values: serde_json::Map<String, serde_json::Value>,
}

/// Keeps one registration alive.
pub struct Agent {
    coordination: Coordination,
    registration: Registration,
    live: LiveConfig,
}

impl Agent {
    /// An agent that will register `registration` with `coordination` and keep the
    /// service's configuration in `live`.
    pub fn new(coordination: Coordination, registration: Registration, live: LiveConfig) -> Self {
        Self {
            coordination,
            registration,
            live,
        }
    }

    /// Registers once; the configuration version coordination holds for the service.
    pub async fn register(&self) -> Result<u64, String> {
        let body = serde_json::json!({
            "service": self.registration.service.as_str(),
            "instance_id": self.registration.instance_id,
            "address": self.registration.address,
            "version": self.registration.version,
            "ttl_seconds": self.registration.ttl_seconds,
        });
        let (status, answer) = self
            .coordination
            .call(Method::POST, "/api/v1/services/register", Some(&body))
            .await?;
        if !status.is_success() {
            return Err(format!(
                "coordination refused the registration ({status}): {}",
                String::from_utf8_lossy(&answer)
            ));
        }
        let registered: Registered = serde_json::from_slice(&answer)
            .map_err(|e| format!("unreadable registration answer: {e}"))?;
        Ok(registered.config_version)
    }

    /// Fetches the service's configuration document into the live configuration.
    pub async fn fetch_config(&self) -> Result<(), String> {
        let path = format!("/api/v1/config/{}", self.registration.service);
        let (status, body) = self.coordination.call(Method::GET, &path, None).await?;
        if !status.is_success() {
            return Err(format!("coordination answered {status} to {path}"));
        }
        let document: ConfigDocument =
            serde_json::from_slice(&body).map_err(|e| format!("unreadable config: {e}"))?;
        if self.live.publish(
            self.registration.service,
            Versioned {
                version: document.version,
                values: document.values,
            },
        ) {
            tracing::info!(
                service = %self.registration.service,
                version = document.version,
                "live configuration applied"
            );
        }
        Ok(())
    }

    async fn heartbeat(&self) -> Result<(), String> {
        let version = self.register().await?;
        if version > self.live.current(self.registration.service).version {
            self.fetch_config().await?;
        }
        Ok(())
    }

    async fn deregister(&self) {
        let path = format!(
            "/api/v1/services/{}/instances/{}",
            self.registration.service, self.registration.instance_id
        );
        match self.coordination.call(Method::DELETE, &path, None).await {
            Ok((status, _)) if status.is_success() || status == StatusCode::NOT_FOUND => {
                tracing::info!(service = %self.registration.service, "deregistered");
            }
            Ok((status, _)) => tracing::warn!(%status, "deregistration refused"),
            Err(err) => tracing::warn!(error = %err, "deregistration failed"),
        }
    }

    /// Heartbeats every third of the TTL until shutdown, then deregisters. A failed
    /// heartbeat is retried at the next beat (a warning when it starts failing and a
    /// note when it recovers).
    pub fn start(self, tasks: &Tasks) {
        let shutdown = tasks.shutdown().clone();
        let beat = Duration::from_millis((self.registration.ttl_seconds * 1000 / 3).max(200));
        tasks.spawn(async move {
            let mut failing = false;
            loop {
                match self.heartbeat().await {
                    Ok(()) if failing => {
                        failing = false;
                        tracing::info!("coordination reachable again; registration renewed");
                    }
                    Ok(()) => {}
                    Err(err) if !failing => {
                        failing = true;
                        tracing::warn!(error = %err, "heartbeat to coordination failed");
                    }
                    Err(_) => {}
                }
                tokio::select! {
                    () = shutdown.cancelled() => break,
                    () = tokio::time::sleep(beat) => {}
                }
            }
            self.deregister().await;
        });
    }
}
