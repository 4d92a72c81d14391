//! Fulfillment's rules, free of I/O: the shipment and return state machines, the
//! carrier abstraction (quotes, tracking numbers, webhook secrets), and which delivered
//! items a return may take back within its window.

use std::collections::BTreeMap;
use std::fmt;

pub use contracts::types::{Invalid, Text};
pub use contracts::{Money, Sku};

/// Most lines in one return.
pub const MAX_RETURN_LINES: usize = 100;
/// Most units of one sku in one return line.
pub const MAX_RETURN_QUANTITY: u32 = 1_000;
/// One day, in milliseconds.
pub const DAY_MS: i64 = 24 * 3600 * 1000;

/// Where a shipment is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ShipmentStatus {
    /// Opened; no label yet.
    Pending,
    /// The carrier issued a label and tracking number; waiting to leave the warehouse.
    LabelCreated,
    /// Handed to the carrier.
    Dispatched,
    /// Moving through the carrier's network.
    InTransit,
    /// On the vehicle for the last mile.
    OutForDelivery,
    /// Reached the recipient.
    Delivered,
    /// The carrier tried and could not deliver.
    FailedDelivery,
    /// Went back to the sender after failed delivery.
    Returned,
    /// The order was cancelled before the shipment left.
    Cancelled,
}

impl ShipmentStatus {
    /// Every status.
    pub const ALL: [ShipmentStatus; 9] = [
        Self::Pending,
        Self::LabelCreated,
        Self::Dispatched,
        Self::InTransit,
        Self::OutForDelivery,
        Self::Delivered,
        Self::FailedDelivery,
        Self::Returned,
        Self::Cancelled,
    ];

    /// The stored and public name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::LabelCreated => "label_created",
            Self::Dispatched => "dispatched",
            Self::InTransit => "in_transit",
            Self::OutForDelivery => "out_for_delivery",
            Self::Delivered => "delivered",
            Self::FailedDelivery => "failed_delivery",
            Self::Returned => "returned",
            Self::Cancelled => "cancelled",
        }
    }

    /// Parses a stored or public name.
    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == raw)
    }

    /// The statuses a carrier may report in a tracking update (the rest are set by
    /// fulfillment itself).
    pub fn from_carrier(raw: &str) -> Option<Self> {
        Self::parse(raw).filter(|s| {
            matches!(
                s,
                Self::Dispatched
                    | Self::InTransit
                    | Self::OutForDelivery
                    | Self::Delivered
                    | Self::FailedDelivery
                    | Self::Returned
            )
        })
    }

    /// Whether the shipment may move straight to `next`. Carriers skip scans (a parcel
    /// can be delivered without an "out for delivery" scan), so the moving states may
    /// jump forward; nothing moves backwards except a failed delivery being retried.
    pub fn can_become(self, next: ShipmentStatus) -> bool {
        use ShipmentStatus::*;
        matches!(
            (self, next),
            (Pending, LabelCreated | Cancelled)
                | (LabelCreated, Dispatched | Cancelled)
                | (Dispatched, InTransit | OutForDelivery | Delivered)
                | (InTransit, OutForDelivery | Delivered | FailedDelivery)
                | (OutForDelivery, Delivered | FailedDelivery)
                | (FailedDelivery, OutForDelivery | Returned)
        )
    }

    /// Whether the parcel has left the warehouse (it can no longer be cancelled).
    pub fn has_left(self) -> bool {
        !matches!(self, Self::Pending | Self::LabelCreated | Self::Cancelled)
    }
}

impl fmt::Display for ShipmentStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The statuses a shipment passes through to reach `to` from `from`, oldest first, or
/// `None` when the state machine does not allow it. A carrier's first scan of a parcel
/// nobody marked dispatched (`label_created` → `in_transit`) implies the dispatch, so
/// the order still becomes shipped.
pub fn path(from: ShipmentStatus, to: ShipmentStatus) -> Option<Vec<ShipmentStatus>> {
    use ShipmentStatus::*;
    if from.can_become(to) {
        Some(vec![to])
    } else if from == LabelCreated && Dispatched.can_become(to) {
        Some(vec![Dispatched, to])
    } else {
        None
    }
}

/// Where a return is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ReturnStatus {
    /// The customer asked.
    Requested,
    /// An operator agreed; the customer may send the items.
    Approved,
    /// The items arrived back (restocked and refunded from here).
    Received,
    /// An operator refused.
    Rejected,
}

impl ReturnStatus {
    /// Every status.
    pub const ALL: [ReturnStatus; 4] = [
        Self::Requested,
        Self::Approved,
        Self::Received,
        Self::Rejected,
    ];

    /// The stored and public name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Requested => "requested",
            Self::Approved => "approved",
            Self::Received => "received",
            Self::Rejected => "rejected",
        }
    }

    /// Parses a stored name.
    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == raw)
    }

    /// Whether a return may move to `next`.
    pub fn can_become(self, next: ReturnStatus) -> bool {
        use ReturnStatus::*;
        matches!(
            (self, next),
            (Requested, Approved | Rejected) | (Approved, Received)
        )
    }
}

impl fmt::Display for ReturnStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

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

/// One sku of one delivered shipment, as far as a return may take it back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Returnable {
    /// The shipment it came in.
    pub shipment_id: String,
    /// The warehouse the shipment left from (the one the items go back to).
    pub warehouse_id: String,
    /// The sku.
    pub sku: String,
    /// When the shipment was delivered, epoch ms.
    pub delivered_at: i64,
    /// Units delivered less those already in returns that were not rejected.
    pub remaining: u32,
}

/// Units of one sku a return takes back from one shipment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReturnAllocation {
    /// The shipment they came in.
    pub shipment_id: String,
    /// The warehouse they go back to.
    pub warehouse_id: String,
    /// The sku.
    pub sku: String,
    /// How many.
    pub quantity: u32,
}

/// Why one requested return line cannot be taken.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LineRefusal {
    /// No delivered shipment of the order carried this sku.
    NotDelivered,
    /// It was delivered, but the window for every such shipment has closed.
    WindowClosed,
    /// More than is left to return; `remaining` can still be.
    TooMany {
        /// Units that can still be returned.
        remaining: u32,
    },
}

impl fmt::Display for LineRefusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotDelivered => f.write_str("was not delivered with this order"),
            Self::WindowClosed => f.write_str("the return window for this item has closed"),
            Self::TooMany { remaining } => {
                write!(f, "at most {remaining} can be returned")
            }
        }
    }
}

/// Why a return cannot be opened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReturnRefusal {
    /// Nothing of the order was delivered yet.
    NotDelivered,
    /// Every delivered shipment is past the window; it closed at this epoch ms.
    WindowClosed {
        /// When the last window closed.
        closed_at: i64,
    },
    /// Some lines cannot be taken: (index of the line as requested, why).
    Lines(Vec<(usize, LineRefusal)>),
}

/// Plans a return of `requested` (sku, quantity) lines against what the order's
/// delivered shipments still hold, keeping only shipments delivered within
/// `window_days` of `now`. Lines of the same sku are added together (errors name the
/// first). Each sku is taken from the most recently delivered shipment first.
pub fn plan_return(
    requested: &[(String, u32)],
    delivered: &[Returnable],
    now: i64,
    window_days: u32,
) -> Result<Vec<ReturnAllocation>, ReturnRefusal> {
    if delivered.is_empty() {
        return Err(ReturnRefusal::NotDelivered);
    }
    let window = i64::from(window_days) * DAY_MS;
    let open = |r: &Returnable| now <= r.delivered_at.saturating_add(window);
    if !delivered.iter().any(open) {
        let last = delivered.iter().map(|r| r.delivered_at).max().unwrap_or(0);
        return Err(ReturnRefusal::WindowClosed {
            closed_at: last.saturating_add(window),
        });
    }
    // sku -> (first index, total quantity), in the order first asked.
    let mut wanted: Vec<(String, usize, u32)> = Vec::new();
    for (index, (sku, quantity)) in requested.iter().enumerate() {
        match wanted.iter_mut().find(|(s, _, _)| s == sku) {
            Some(entry) => entry.2 = entry.2.saturating_add(*quantity),
            None => wanted.push((sku.clone(), index, *quantity)),
        }
    }
    let mut plan = Vec::new();
    let mut refusals = Vec::new();
    for (sku, index, quantity) in wanted {
        let mut sources: Vec<&Returnable> = delivered.iter().filter(|r| r.sku == sku).collect();
        if sources.is_empty() {
            refusals.push((index, LineRefusal::NotDelivered));
            continue;
        }
        sources.retain(|r| open(r));
        if sources.is_empty() {
            refusals.push((index, LineRefusal::WindowClosed));
            continue;
        }
        sources.sort_by(|a, b| {
            b.delivered_at
                .cmp(&a.delivered_at)
                .then(a.shipment_id.cmp(&b.shipment_id))
        });
        let remaining: u32 = sources.iter().map(|r| r.remaining).sum();
        if quantity > remaining {
            refusals.push((index, LineRefusal::TooMany { remaining }));
            continue;
        }
        let mut left = quantity;
        for source in sources {
            if left == 0 {
                break;
            }
            let take = left.min(source.remaining);
            if take > 0 {
                plan.push(ReturnAllocation {
                    shipment_id: source.shipment_id.clone(),
                    warehouse_id: source.warehouse_id.clone(),
                    sku: sku.clone(),
                    quantity: take,
                });
                left -= take;
            }
        }
    }
    if refusals.is_empty() {
        Ok(plan)
    } else {
        Err(ReturnRefusal::Lines(refusals))
    }
}

/// Adds up `(key, quantity)` pairs per key, in key order (event lines name each sku,
/// or each sku and warehouse, once).
pub fn merge<K: Ord + Clone>(lines: impl IntoIterator<Item = (K, u32)>) -> Vec<(K, u32)> {
    let mut merged: BTreeMap<K, u32> = BTreeMap::new();
    for (key, quantity) in lines {
        let entry = merged.entry(key).or_default();
        *entry = entry.saturating_add(quantity);
    }
    merged.into_iter().collect()
}

/// A return line quantity: 1 to [`MAX_RETURN_QUANTITY`].
pub fn return_quantity(raw: i64) -> Result<u32, Invalid> {
    match u32::try_from(raw) {
        Ok(q) if (1..=MAX_RETURN_QUANTITY).contains(&q) => Ok(q),
        _ => Err(Invalid("must be between 1 and 1000")),
    }
}

#[cfg(test)]
mod tests {
    use super::ShipmentStatus::*;
    use super::*;

    #[test]
    fn shipments_move_only_along_the_state_machine() {
        let allowed = [
            (Pending, LabelCreated),
            (Pending, Cancelled),
            (LabelCreated, Dispatched),
            (LabelCreated, Cancelled),
            (Dispatched, InTransit),
            (Dispatched, OutForDelivery),
            (Dispatched, Delivered),
            (InTransit, OutForDelivery),
            (InTransit, Delivered),
            (InTransit, FailedDelivery),
            (OutForDelivery, Delivered),
            (OutForDelivery, FailedDelivery),
            (FailedDelivery, OutForDelivery),
            (FailedDelivery, Returned),
        ];
        for from in ShipmentStatus::ALL {
            for to in ShipmentStatus::ALL {
                assert_eq!(
                    from.can_become(to),
                    allowed.contains(&(from, to)),
                    "{from} -> {to}"
                );
            }
        }
    }

    #[test]
    fn paths_pass_through_an_implied_dispatch_only_from_a_fresh_label() {
        // (from, to, expected path)
        let table: &[(ShipmentStatus, ShipmentStatus, Option<&[ShipmentStatus]>)] = &[
            (LabelCreated, Dispatched, Some(&[Dispatched])),
            (LabelCreated, InTransit, Some(&[Dispatched, InTransit])),
            (LabelCreated, Delivered, Some(&[Dispatched, Delivered])),
            (LabelCreated, FailedDelivery, None),
            (InTransit, Delivered, Some(&[Delivered])),
            (FailedDelivery, OutForDelivery, Some(&[OutForDelivery])),
            (Delivered, InTransit, None),
            (Cancelled, Dispatched, None),
            (Pending, Dispatched, None),
            (Returned, Delivered, None),
        ];
        for (from, to, expected) in table {
            assert_eq!(path(*from, *to).as_deref(), *expected, "{from} -> {to}");
        }
    }

    #[test]
    fn carriers_report_only_movement_statuses() {
        for status in ShipmentStatus::ALL {
            assert_eq!(ShipmentStatus::parse(status.as_str()), Some(status));
        }
        assert_eq!(ShipmentStatus::from_carrier("in_transit"), Some(InTransit));
        assert_eq!(ShipmentStatus::from_carrier("dispatched"), Some(Dispatched));
        assert_eq!(ShipmentStatus::from_carrier("cancelled"), None);
        assert_eq!(ShipmentStatus::from_carrier("label_created"), None);
        assert_eq!(ShipmentStatus::from_carrier("lost"), None);
        assert!(!LabelCreated.has_left() && Dispatched.has_left() && !Cancelled.has_left());
    }

    #[test]
    fn returns_are_approved_or_rejected_then_received() {
        use ReturnStatus::*;
        let allowed = [
            (Requested, Approved),
            (Requested, Rejected),
            (Approved, Received),
        ];
        for from in ReturnStatus::ALL {
            assert_eq!(ReturnStatus::parse(from.as_str()), Some(from));
            for to in ReturnStatus::ALL {
                assert_eq!(
                    from.can_become(to),
                    allowed.contains(&(from, to)),
                    "{from} -> {to}"
                );
            }
        }
    }

    fn delivered(shipment: &str, sku: &str, at_day: i64, remaining: u32) -> Returnable {
        Returnable {
            shipment_id: shipment.into(),
            warehouse_id: format!("wh-{shipment}"),
            sku: sku.into(),
            delivered_at: at_day * DAY_MS,
            remaining,
        }
    }

    fn take(shipment: &str, sku: &str, quantity: u32) -> ReturnAllocation {
        ReturnAllocation {
            shipment_id: shipment.into(),
            warehouse_id: format!("wh-{shipment}"),
            sku: sku.into(),
            quantity,
        }
    }

    #[test]
    fn a_return_needs_a_delivery_within_the_window() {
        let lines = [("A".to_owned(), 1)];
        assert_eq!(
            plan_return(&lines, &[], 0, 30),
            Err(ReturnRefusal::NotDelivered)
        );
        let one = [delivered("s1", "A", 10, 2)];
        // Day 40 is the last day of a 30-day window opened on day 10.
        assert_eq!(
            plan_return(&lines, &one, 40 * DAY_MS, 30),
            Ok(vec![take("s1", "A", 1)])
        );
        assert_eq!(
            plan_return(&lines, &one, 40 * DAY_MS + 1, 30),
            Err(ReturnRefusal::WindowClosed {
                closed_at: 40 * DAY_MS
            })
        );
    }

    #[test]
    fn return_lines_are_checked_against_what_is_left() {
        let parcels = [
            delivered("s1", "A", 1, 1),
            delivered("s2", "A", 5, 2),
            delivered("s2", "B", 5, 1),
            delivered("old", "C", -60, 3),
        ];
        let now = 10 * DAY_MS;
        let plan = |lines: &[(&str, u32)]| {
            let lines: Vec<(String, u32)> =
                lines.iter().map(|(s, q)| ((*s).to_owned(), *q)).collect();
            plan_return(&lines, &parcels, now, 30)
        };
        // The most recent delivery first, then older ones.
        assert_eq!(
            plan(&[("A", 3)]),
            Ok(vec![take("s2", "A", 2), take("s1", "A", 1)])
        );
        // Repeated skus add up.
        assert_eq!(
            plan(&[("A", 1), ("B", 1), ("A", 1)]),
            Ok(vec![take("s2", "A", 2), take("s2", "B", 1)])
        );
        assert_eq!(
            plan(&[("B", 1), ("A", 4), ("Z", 1), ("C", 1)]),
            Err(ReturnRefusal::Lines(vec![
                (1, LineRefusal::TooMany { remaining: 3 }),
                (2, LineRefusal::NotDelivered),
                (3, LineRefusal::WindowClosed),
            ]))
        );
    }

    #[test]
    fn merging_adds_quantities_per_key() {
        assert_eq!(
            merge([("b", 1), ("a", 2), ("b", 3)]),
            vec![("a", 2), ("b", 4)]
        );
        assert!(return_quantity(0).is_err());
        assert!(return_quantity(1001).is_err());
        assert_eq!(return_quantity(3), Ok(3));
    }
}
