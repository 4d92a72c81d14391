//! The event schema registry: the JSON Schema (draft 2020-12) of every event payload in
//! this crate, generated from the Rust types, and the rule that decides whether a new
//! version of a schema may replace an old one ([`check_compatible`]).
//!
//! The schemas are also checked in under `crates/contracts/schemas/`; the test in
//! `tests/schemas.rs` compares them with what the types generate today, so changing a
//! payload in a way its consumers cannot read fails the build instead of the bus. The
//! coordination service serves [`registry`] and checks submitted schemas with
//! [`check_compatible`].

mod compat;

pub use compat::{Incompatibility, check_compatible};

use schemars::JsonSchema;
use schemars::generate::SchemaSettings;
use serde::Serialize;

use crate::{
    Event, analytics, catalog, coordination, fulfillment, identity, ingestion, inventory,
    notifications, ordering, payments, support,
};

/// One event type and the JSON Schema of its payload.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EventSchema {
    /// The CloudEvents `type`, e.g. `ordering.order.created.v1`.
    pub event_type: &'static str,
    /// The payload's JSON Schema (draft 2020-12), with its named parts under `$defs`.
    pub schema: serde_json::Value,
}

/// The schema of `T`'s payload, as its consumers read it.
///
/// The settings are pinned (rather than schemars' default, which may move to another
/// draft) because the checked-in files are compared byte for byte. The deserialize
/// contract is the one that matters for compatibility: `required` lists what a consumer
/// cannot do without, which is what an old event still in the log must carry.
fn schema_of<T: Event + JsonSchema>() -> EventSchema {
    let schema = SchemaSettings::draft2020_12()
        .for_deserialize()
        .into_generator()
        .into_root_schema_for::<T>();
    EventSchema {
        event_type: T::TYPE,
        schema: schema.to_value(),
    }
}

/// Lists every event payload once, so the registry and the round-trip test below cannot
/// drift apart; a payload missing from the list fails
/// `every_event_in_the_source_is_registered`.
macro_rules! events {
    ($($ty:ty),+ $(,)?) => {
        /// Every event type this crate defines with its payload's JSON Schema, one entry
        /// per `impl Event`, in a stable order.
        ///
        /// Generated on each call (a few milliseconds); a server keeps the result.
        pub fn registry() -> Vec<EventSchema> {
            vec![$(schema_of::<$ty>()),+]
        }

        /// For each event type: read a JSON payload into the Rust type and write it back.
        #[cfg(test)]
        fn round_trips() -> Vec<(&'static str, RoundTrip)> {
            vec![$((<$ty as Event>::TYPE, round_trip::<$ty> as RoundTrip)),+]
        }
    };
}

events![
    analytics::ReportReady,
    analytics::AnomalyDetected,
    catalog::ProductCreated,
    catalog::ProductUpdated,
    catalog::ProductDeleted,
    catalog::PriceChanged,
    catalog::AvailabilityChanged,
    catalog::ProductOutOfStock,
    coordination::ServiceRegistered,
    coordination::ServiceDeregistered,
    coordination::HealthChanged,
    coordination::ConfigUpdated,
    fulfillment::ShipmentCreated,
    fulfillment::ShipmentDispatched,
    fulfillment::ShipmentDelivered,
    fulfillment::ShipmentFailed,
    fulfillment::ShipmentReturned,
    fulfillment::ReturnRequested,
    fulfillment::ReturnReceived,
    fulfillment::ReturnRejected,
    identity::UserCreated,
    identity::UserUpdated,
    identity::UserDeleted,
    identity::UserLocked,
    identity::UserAuthenticated,
    identity::TenantCreated,
    ingestion::EventReceived,
    ingestion::TouchpointRecorded,
    inventory::StockReserved,
    inventory::ReservationFailed,
    inventory::StockReleased,
    inventory::StockCommitted,
    inventory::StockAdjusted,
    inventory::StockLow,
    inventory::StockUpdated,
    notifications::NotificationSent,
    notifications::NotificationFailed,
    notifications::NotificationDelivered,
    ordering::OrderCreated,
    ordering::OrderCancelled,
    ordering::OrderConfirmed,
    ordering::OrderReserved,
    ordering::OrderAuthorized,
    ordering::OrderRefunded,
    ordering::OrderPartiallyRefunded,
    ordering::RefundRequested,
    ordering::OrderShipped,
    ordering::OrderDelivered,
    ordering::CartCreated,
    ordering::CartUpdated,
    ordering::OrderValidated,
    ordering::OrderCompleted,
    payments::PaymentAuthorized,
    payments::PaymentCaptured,
    payments::PaymentVoided,
    payments::PaymentFailed,
    payments::RefundProcessed,
    payments::PaymentInitiated,
    payments::FraudDetected,
    payments::DisputeOpened,
    payments::PaymentActionRequired,
    support::TicketOpened,
    support::TicketReplied,
    support::TicketClosed,
];

#[cfg(test)]
type RoundTrip = fn(serde_json::Value) -> Result<serde_json::Value, serde_json::Error>;

#[cfg(test)]
fn round_trip<T: Event>(json: serde_json::Value) -> Result<serde_json::Value, serde_json::Error> {
    let payload: T = serde_json::from_value(json)?;
    serde_json::to_value(&payload)
}

#[cfg(test)]
mod tests;
