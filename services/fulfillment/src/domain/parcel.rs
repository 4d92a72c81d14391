//! What carriers are to fulfillment: places and parcels they price, their quotes, and
//! the [`Carrier`] port (the built-in courier is in `crate::carrier`).

use super::Money;

/// A place as carriers price it: country and postal code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Place {
    /// ISO 3166-1 alpha-2, upper case.
    pub country: String,
    /// Postal code as written (carriers compare prefixes).
    pub postal_code: String,
}

/// A parcel to quote: its weight and the places it goes between.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parcel {
    /// Weight in grams.
    pub weight_grams: u32,
    /// Where it leaves from (the warehouse).
    pub from: Place,
    /// Where it goes; `None` when the order carried no address.
    pub to: Option<Place>,
}

/// A carrier's price for a parcel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Quote {
    /// The carrier's code.
    pub carrier: String,
    /// The carrier's pricing zone for the trip (1 = local, higher is farther).
    pub zone: u8,
    /// The price.
    pub rate: Money,
}

/// A shipping carrier: prices parcels, issues labels (tracking numbers), and signs the
/// tracking updates it sends back.
pub trait Carrier: Send + Sync + 'static {
    /// Short stable code stored on shipments (`local`).
    fn code(&self) -> &'static str;

    /// Human name printed on labels.
    fn name(&self) -> &str;

    /// The price of carrying `parcel`.
    fn quote(&self, parcel: &Parcel) -> Quote;

    /// A new tracking number (the label's identity at the carrier).
    fn new_tracking_number(&self) -> String;

    /// Where a customer can follow `tracking_number`, when the carrier has such a page.
    fn tracking_url(&self, tracking_number: &str) -> Option<String>;

    /// The secret its tracking webhooks are signed with (HMAC-SHA256 of the raw body).
    fn webhook_secret(&self) -> &[u8];
}
