//! Fulfillment's operations, one use case per file: opening and cancelling shipments
//! from order events (`orders`), reading shipments and an operator's moves
//! (`shipments`), carrier tracking webhooks (`tracking`), labels and rates (`labels`),
//! and returns (`returns`). Each runs in one transaction with the events it emits; the
//! `*_in` forms run inside the event consumer's transaction, which also holds the
//! inbox row, so a redelivered event has no second effect.
//!
//! Who may see and do what is [`POLICY`]'s answer, asked of the caller's principal.

mod labels;
mod orders;
mod returns;
mod shipments;
mod tracking;

use std::sync::Arc;

use platform::auth::Policy;
use platform::bus::Outbox;
use platform::db::Db;
use platform::time::Clock;

pub use labels::QuoteRequest;
pub use returns::ReturnRequest;
pub use shipments::ShipmentDetail;
pub use tracking::{CarrierUpdate, TrackingOutcome};

use crate::carrier::Carriers;
use crate::config::FulfillmentConfig;
use crate::domain::{LineRefusal, ReturnTransitionError, Shipment, ShipmentTransitionError};

/// The scope an operator client (a warehouse system's API key) needs to see every
/// shipment and return and to move them; admins hold it.
pub const SCOPE_WRITE: &str = "fulfillment:write";

/// Fulfillment's authorization: customers see their own shipments and returns;
/// admins and clients holding [`SCOPE_WRITE`] see all and move them.
pub const POLICY: Policy = Policy::managed_by(SCOPE_WRITE);

/// The source recorded on history entries fulfillment itself writes.
const SYSTEM: &str = "fulfillment";

/// Why a fulfillment operation failed.
#[derive(Debug, thiserror::Error)]
pub enum FulfillmentError {
    /// No such shipment, return or order, or it belongs to someone else.
    #[error("not found")]
    NotFound,
    /// The shipment's state machine does not allow the change.
    #[error(transparent)]
    ShipmentTransition(#[from] ShipmentTransitionError),
    /// The return's state machine does not allow the change.
    #[error(transparent)]
    ReturnTransition(#[from] ReturnTransitionError),
    /// The webhook's signature is missing or wrong.
    #[error("the carrier signature is missing or invalid")]
    BadSignature,
    /// The webhook names another tracking number than the shipment's.
    #[error("the tracking number does not match the shipment")]
    TrackingMismatch,
    /// Nothing of the order has been delivered, so nothing can be returned.
    #[error("the order has no delivered shipment yet; only delivered items can be returned")]
    NotDelivered,
    /// Every delivery of the order is older than the return window.
    #[error("the {days}-day return window closed at {closed_at}")]
    WindowClosed {
        /// The window's length.
        days: u32,
        /// When it closed (RFC 3339).
        closed_at: String,
    },
    /// Some lines of a return cannot be taken (index of the line, why).
    #[error("some lines cannot be returned")]
    ReturnLines(Vec<(usize, LineRefusal)>),
    /// The database failed, or a stored row could not be read.
    #[error(transparent)]
    Sql(#[from] platform::db::Error),
    /// A label could not be rendered (or its rendering task failed).
    #[error("the label could not be rendered")]
    Label(#[source] platform::db::BoxDynError),
}

/// The fulfillment service's operations.
#[derive(Clone)]
pub struct FulfillmentApp {
    pub(crate) db: Db,
    pub(crate) outbox: Outbox,
    pub(crate) clock: Clock,
    pub(crate) config: Arc<FulfillmentConfig>,
    pub(crate) carriers: Carriers,
}

impl FulfillmentApp {
    /// The service's database.
    pub fn db(&self) -> &Db {
        &self.db
    }

    /// The service's configuration.
    pub fn config(&self) -> &FulfillmentConfig {
        &self.config
    }

    /// The time now, epoch ms.
    pub fn now(&self) -> i64 {
        self.clock.now_millis()
    }

    /// Where the customer can follow `shipment`, when its carrier has such a page.
    fn tracking_url(&self, shipment: &Shipment) -> Option<String> {
        self.carriers
            .get(&shipment.carrier)
            .and_then(|c| c.tracking_url(&shipment.tracking_number))
    }
}
