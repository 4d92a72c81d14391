//! Coordination's rules, without I/O: what a registration must look like and how an
//! instance's health and a service's health follow from each other (`registry`), which
//! configuration keys each service applies while it runs and what type they must have
//! (`settings`), and how a lease on a named lock is taken, renewed and released with a
//! fencing token that only grows (`lease`).

pub mod lease;
pub mod registry;
pub mod settings;

pub use lease::{
    Holder, Lease, LeaseDecision, LeaseRequest, LockName, LockState, Owner, ReleaseDecision,
};
pub use registry::{
    Address, HealthStatus, Instance, InstanceId, Invalid, Registration, ServiceHealth, Ttl,
    Version, platform_health, service_health,
};
pub use settings::{ConfigChange, Document, LiveKey, check_values, is_live, live_keys};
