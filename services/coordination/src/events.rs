//! The events coordination produces (it consumes none): instances joining and leaving
//! the registry, their polled health changing, and configuration documents getting a
//! new version. Each is staged in the transaction of the change it announces.

use contracts::coordination::{
    ConfigUpdated, HealthChanged, ServiceDeregistered, ServiceRegistered,
};
use platform::service::ServiceKind;
use serde_json::{Map, Value};

use crate::domain::{HealthStatus, Instance};

/// Why an instance left the registry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Departure {
    /// It missed its TTL.
    Expired,
    /// It deregistered itself (a graceful shutdown).
    Shutdown,
}

impl Departure {
    fn as_str(self) -> &'static str {
        match self {
            Self::Expired => "expired",
            Self::Shutdown => "shutdown",
        }
    }
}

/// `instance` registered for the first time.
pub fn registered(instance: &Instance) -> ServiceRegistered {
    ServiceRegistered {
        service: instance.service.as_str().to_owned(),
        instance_id: instance.instance_id.clone(),
        address: instance.address.clone(),
        version: instance.version.clone(),
    }
}

/// `instance` left the registry.
pub fn deregistered(instance: &Instance, why: Departure) -> ServiceDeregistered {
    ServiceDeregistered {
        service: instance.service.as_str().to_owned(),
        instance_id: instance.instance_id.clone(),
        address: instance.address.clone(),
        reason: why.as_str().to_owned(),
    }
}

/// `instance`'s health moved to `to` (from the status it holds).
pub fn health_changed(instance: &Instance, to: HealthStatus) -> HealthChanged {
    HealthChanged {
        service: instance.service.as_str().to_owned(),
        instance_id: instance.instance_id.clone(),
        address: instance.address.clone(),
        from: instance.status.as_str().to_owned(),
        to: to.as_str().to_owned(),
    }
}

/// `service`'s document is now `values` at `version`.
pub fn config_updated(
    service: ServiceKind,
    version: u64,
    values: &Map<String, Value>,
    needs_restart: &[String],
) -> ConfigUpdated {
    ConfigUpdated {
        service: service.as_str().to_owned(),
        version,
        values: Value::Object(values.clone()),
        needs_restart: needs_restart.to_vec(),
    }
}
