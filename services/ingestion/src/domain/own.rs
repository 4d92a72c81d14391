//! Viscount's own orders, payments and refunds as attribution events of the built-in
//! tenant ([`contracts::ingestion::VISCOUNT_TENANT`]).
//!
//! Analytics builds revenue and attribution from ingestion's events only, so Viscount's
//! own sales must become the same [`Normalized`] event a storefront's webhook does: the
//! channel fields reduced exactly as a webhook's are (UTM values screened and capped, a
//! referrer reduced to its host), and the customer hashed with the tenant's key by the
//! same function touchpoints use, so a visit the storefront records with the user's id
//! meets the order. What is taken:
//!
//! - `ordering.order.confirmed.v1` → an order (external id and order reference = the
//!   order id, amount = its total, its lines, the checkout's attribution, the owner's
//!   keyed hash);
//! - `payments.payment.captured.v1` → a payment (external id = the payment id, order
//!   reference = the order id);
//! - `payments.refund.processed.v1` → a refund (external id = the refund id, order
//!   reference = the order id).
//!
//! The provider event id is the envelope's id (so a redelivery stores nothing twice)
//! and the time is the envelope's. An event that lacks what the attribution event needs,
//! or whose amounts are beyond ingestion's bounds (as a webhook's would be: see
//! [`super::money::AMOUNT_MAX`]), is [`Skipped`], with a reason that names the field
//! and never quotes a value.

use contracts::Event as _;
use contracts::Money;
use contracts::ingestion::{ChannelFields, EventKind, LineItem};
use contracts::ordering::{Attribution, OrderConfirmed};
use contracts::payments::{PaymentCaptured, RefundProcessed};
use contracts::types::CURRENCIES;

use super::normalize::{self, Normalized, Unusable};
use super::payload::{self, CustomerRefKey};

/// One of Viscount's own event types ingestion takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OwnTopic {
    /// `ordering.order.confirmed.v1`: a conversion.
    OrderConfirmed,
    /// `payments.payment.captured.v1`: the money of an order arrived.
    PaymentCaptured,
    /// `payments.refund.processed.v1`: money went back.
    RefundProcessed,
}

impl OwnTopic {
    /// Every own topic.
    pub const ALL: [OwnTopic; 3] = [
        OwnTopic::OrderConfirmed,
        OwnTopic::PaymentCaptured,
        OwnTopic::RefundProcessed,
    ];

    /// The CloudEvents type it arrives as (also the event's `topic`).
    pub fn event_type(self) -> &'static str {
        match self {
            OwnTopic::OrderConfirmed => OrderConfirmed::TYPE,
            OwnTopic::PaymentCaptured => PaymentCaptured::TYPE,
            OwnTopic::RefundProcessed => RefundProcessed::TYPE,
        }
    }

    /// The kind of attribution event it becomes.
    pub fn kind(self) -> EventKind {
        match self {
            OwnTopic::OrderConfirmed => EventKind::Order,
            OwnTopic::PaymentCaptured => EventKind::Payment,
            OwnTopic::RefundProcessed => EventKind::Refund,
        }
    }

    /// The own topic of events of `event_type`.
    pub fn parse(event_type: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.event_type() == event_type)
    }
}

/// One of Viscount's own events, decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OwnEvent {
    /// An order was confirmed.
    OrderConfirmed(OrderConfirmed),
    /// A payment was captured.
    PaymentCaptured(PaymentCaptured),
    /// A refund was processed.
    RefundProcessed(RefundProcessed),
}

impl OwnEvent {
    /// Its topic.
    pub fn topic(&self) -> OwnTopic {
        match self {
            OwnEvent::OrderConfirmed(_) => OwnTopic::OrderConfirmed,
            OwnEvent::PaymentCaptured(_) => OwnTopic::PaymentCaptured,
            OwnEvent::RefundProcessed(_) => OwnTopic::RefundProcessed,
        }
    }

    /// The order it is about (an id, never personal data: logs may name it).
    pub fn order_id(&self) -> &str {
        match self {
            OwnEvent::OrderConfirmed(e) => &e.order_id,
            OwnEvent::PaymentCaptured(e) => &e.order_id,
            OwnEvent::RefundProcessed(e) => &e.order_id,
        }
    }
}

/// Why an own event becomes no attribution event: names the field, never its value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{reason}")]
pub struct Skipped {
    /// Why.
    pub reason: String,
}

impl Skipped {
    fn new(reason: impl Into<String>) -> Self {
        Self {
            reason: reason.into(),
        }
    }
}

/// The normalizer's bounds checks phrase their reasons alike for both.
impl From<Unusable> for Skipped {
    fn from(unusable: Unusable) -> Self {
        Self::new(unusable.reason)
    }
}

/// The attribution event of `event`, delivered in the envelope `envelope_id` with the
/// envelope time `time` (RFC 3339); the order's owner is hashed with `key` (the
/// [`contracts::ingestion::VISCOUNT_TENANT`]'s).
pub fn normalize(
    envelope_id: &str,
    time: &str,
    event: &OwnEvent,
    key: &CustomerRefKey,
) -> Result<Normalized, Skipped> {
    let provider_event_id = id(Some(envelope_id), "id")?;
    let occurred_at_ms = platform::time::parse_rfc3339(time)
        .ok_or_else(|| Skipped::new("the envelope's `time` is not an RFC 3339 date-time"))?;
    let order_id = id(Some(event.order_id()), "order_id")?;
    let kind = event.topic().kind();
    let normalized = |external_id: String, amount: Money| Normalized {
        provider_event_id: provider_event_id.clone(),
        kind,
        external_id,
        order_ref: Some(order_id.clone()),
        amount,
        line_items: Vec::new(),
        occurred_at_ms,
        channel_fields: ChannelFields::default(),
        customer_ref: None,
    };
    let normalized = match event {
        OwnEvent::OrderConfirmed(confirmed) => {
            let total = amount(confirmed.total.as_ref(), "total")?;
            Normalized {
                line_items: confirmed
                    .items
                    .iter()
                    .enumerate()
                    .map(|(index, line)| {
                        let item = LineItem {
                            // Screened like a webhook's sku: a sku of digits that reads
                            // as a card number would make the store's guard refuse it.
                            sku: payload::screened(&line.sku, payload::SKU_MAX_CHARS),
                            quantity: i64::from(line.quantity),
                            unit_price: line.unit_price.amount,
                        };
                        normalize::check_line(&item, &format!("items[{index}]"))?;
                        Ok(item)
                    })
                    .collect::<Result<_, Skipped>>()?,
                channel_fields: confirmed
                    .attribution
                    .as_ref()
                    .map(channel_fields)
                    .unwrap_or_default(),
                customer_ref: confirmed
                    .user_id
                    .as_deref()
                    .filter(|user| !user.trim().is_empty())
                    .map(|user| key.customer_ref(user)),
                ..normalized(order_id.clone(), total)
            }
        }
        OwnEvent::PaymentCaptured(captured) => normalized(
            id(Some(&captured.payment_id), "payment_id")?,
            amount(Some(&captured.amount), "amount")?,
        ),
        OwnEvent::RefundProcessed(refund) => normalized(
            id(Some(&refund.refund_id), "refund_id")?,
            amount(Some(&refund.amount), "amount")?,
        ),
    };
    // The same last check as a webhook's event: analytics sums both alike.
    normalized.check_bounds()?;
    Ok(normalized)
}

/// The channel fields of a checkout's attribution, reduced as a webhook's are: UTM
/// values trimmed, capped at [`payload::UTM_MAX_CHARS`] and dropped when they hold
/// personal data; of the referrer only its host.
pub fn channel_fields(attribution: &Attribution) -> ChannelFields {
    let utm = |value: &Option<String>| {
        value
            .as_deref()
            .and_then(|v| payload::screened(v, payload::UTM_MAX_CHARS))
    };
    ChannelFields {
        utm_source: utm(&attribution.utm_source),
        utm_medium: utm(&attribution.utm_medium),
        utm_campaign: utm(&attribution.utm_campaign),
        referring_site: attribution
            .referrer
            .as_deref()
            .and_then(payload::referring_host),
        source_name: None,
    }
}

/// An id of 1 to [`payload::ID_MAX_CHARS`] printable characters.
fn id(value: Option<&str>, field: &str) -> Result<String, Skipped> {
    let text = value.map(str::trim).unwrap_or_default();
    if text.is_empty() {
        return Err(Skipped::new(format!("`{field}` is missing")));
    }
    if text.chars().count() > payload::ID_MAX_CHARS || text.chars().any(char::is_control) {
        return Err(Skipped::new(format!("`{field}` is not an id")));
    }
    Ok(text.to_owned())
}

/// An amount that is present, not negative, at most [`super::money::AMOUNT_MAX`], in a
/// known currency.
fn amount(value: Option<&Money>, field: &str) -> Result<Money, Skipped> {
    let money = value.ok_or_else(|| Skipped::new(format!("`{field}` is missing")))?;
    normalize::check_amount(money.amount, &format!("{field}.amount"))?;
    if !CURRENCIES.contains(&money.currency.as_str()) {
        return Err(Skipped::new(format!(
            "`{field}.currency` is not a known ISO 4217 code"
        )));
    }
    Ok(money.clone())
}

#[cfg(test)]
mod tests;
