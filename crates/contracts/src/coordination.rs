//! What the coordination service publishes: instances joining and leaving its service
//! registry, their health changing, and a service's configuration document getting a
//! new version (the services it configures apply the live settings from this event).
//!
//! Registry events name the instance as their subject (one service has many), config
//! events the service (one document per service).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::Event;

/// An instance registered for the first time (a heartbeat of a known instance is not a
/// new registration, so it emits nothing).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema, ToSchema)]
pub struct ServiceRegistered {
    /// The service it is an instance of, e.g. `ordering`.
    pub service: String,
    /// The instance's id, unique across the platform.
    pub instance_id: String,
    /// Where it answers, e.g. `http://10.0.0.7:8084`.
    pub address: String,
    /// The version it runs.
    pub version: String,
}

impl Event for ServiceRegistered {
    const TYPE: &'static str = "coordination.service.registered.v1";
    fn subject(&self) -> String {
        self.instance_id.clone()
    }
}

/// An instance left the registry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema, ToSchema)]
pub struct ServiceDeregistered {
    /// The service it was an instance of.
    pub service: String,
    /// The instance's id.
    pub instance_id: String,
    /// Where it answered.
    pub address: String,
    /// `expired` (it missed its TTL) or `shutdown` (it deregistered itself).
    pub reason: String,
}

impl Event for ServiceDeregistered {
    const TYPE: &'static str = "coordination.service.deregistered.v1";
    fn subject(&self) -> String {
        self.instance_id.clone()
    }
}

/// The polled health of an instance changed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema, ToSchema)]
pub struct HealthChanged {
    /// The service it is an instance of.
    pub service: String,
    /// The instance's id.
    pub instance_id: String,
    /// Where it answers.
    pub address: String,
    /// The status before: `up`, `down` or `unknown`.
    pub from: String,
    /// The status now: `up`, `down` or `unknown`.
    pub to: String,
}

impl Event for HealthChanged {
    const TYPE: &'static str = "coordination.service.health_changed.v1";
    fn subject(&self) -> String {
        self.instance_id.clone()
    }
}

/// A service's configuration document has a new version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema, ToSchema)]
pub struct ConfigUpdated {
    /// The service it configures.
    pub service: String,
    /// The document's version now (it only grows).
    pub version: u64,
    /// The whole document: setting name to value.
    pub values: serde_json::Value,
    /// The settings in `values` that changed and take effect only after a restart.
    pub needs_restart: Vec<String>,
}

impl Event for ConfigUpdated {
    const TYPE: &'static str = "coordination.config.updated.v1";
    fn subject(&self) -> String {
        self.service.clone()
    }
}
