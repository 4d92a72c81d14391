//! Event payloads shared between Viscount services.
//!
//! A service that emits an event and one that consumes it agree through the types here
//! and nothing else. Each payload names its CloudEvents `type` (`<service>.<aggregate>.
//! <event>.v<N>`) and the aggregate id that becomes the envelope's `subject`. Changing a
//! payload means adding optional fields; removing or retyping one needs a new `vN`.
//! [`schema`] holds the JSON Schema of every payload and the test that enforces this.

pub mod analytics;
pub mod catalog;
pub mod coordination;
pub mod fulfillment;
pub mod identity;
pub mod ingestion;
pub mod inventory;
pub mod notifications;
pub mod ordering;
pub mod payments;
pub mod schema;
pub mod support;
pub mod types;

pub use types::{Money, Sku};

use schemars::JsonSchema;
use serde::Serialize;
use serde::de::DeserializeOwned;

/// A payload that travels on the bus.
///
/// Every payload has a JSON Schema (`JsonSchema`), which [`schema::registry`] publishes
/// and the checked-in copy of which guards its compatibility.
pub trait Event: Serialize + DeserializeOwned + JsonSchema {
    /// The CloudEvents `type`, e.g. `identity.user.created.v1`.
    const TYPE: &'static str;

    /// The id of the aggregate the event is about (the envelope's `subject`).
    fn subject(&self) -> String;
}
