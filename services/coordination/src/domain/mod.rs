//! Coordination's rules, without I/O: what a registration must look like, when an
//! instance has missed its heartbeat, and how an instance's health and a service's
//! health follow from each other (`registry`); what type the configuration keys each
//! service applies while it runs must have (which keys those are is
//! `platform::live`'s table) and what a new document changed (`settings`); and how a
//! lease on a named lock is taken, renewed and released with a fencing token that only
//! grows (`lease`).

pub mod lease;
pub mod registry;
pub mod settings;

pub use lease::{
    Holder, Lease, LeaseDecision, LeaseRequest, LockName, LockState, Owner, ReleaseDecision,
};
pub use registry::{
    Address, Expiry, HealthStatus, Instance, InstanceId, Invalid, Registration, ServiceHealth, Ttl,
    Version, platform_health, service_health,
};
pub use settings::{ConfigChange, Document, check_values};
