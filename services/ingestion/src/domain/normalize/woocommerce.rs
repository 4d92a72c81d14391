//! WooCommerce: `order.created` and `order.updated` carry the whole order. One whose
//! `status` is `refunded` is a refund of what was refunded (the sizes of its `refunds`,
//! written negative, or its `total` when it lists none); any other is an order. Channel
//! fields come from WooCommerce's own order attribution meta.

use contracts::Money;
use contracts::ingestion::{ChannelFields, EventKind};

use super::{
    Event, Unusable, add_within, at, currency, decimal, first_timestamp_ms, id, line_items, list,
    not_negative, text, utm_fields,
};
use crate::domain::payload::{self, keys};

pub(super) fn normalize(event: &Event<'_>) -> Result<super::Normalized, Unusable> {
    let body = event.body;
    let order_id = id(at(body, &["id"]), "id")?;
    let currency = currency(at(body, &["currency"]), "currency")?;
    let total = not_negative(decimal(at(body, &["total"]), "total", &currency)?, "total")?;
    if text(body.get("status")) == Some("refunded") {
        return refund(event, order_id, total, currency);
    }
    let occurred_at_ms = first_timestamp_ms(body, &["date_created_gmt"])?;
    let mut normalized = event.normalized(
        order_id.clone(),
        Some(order_id),
        Money {
            amount: total,
            currency: currency.clone(),
        },
        occurred_at_ms,
    );
    normalized.kind = EventKind::Order;
    normalized.line_items = line_items(body, &currency)?;
    let attribution = body.get(keys::ATTRIBUTION);
    let attributed = |name: &str| {
        attribution
            .and_then(|attribution| text(attribution.get(name)))
            .map(str::to_owned)
    };
    normalized.channel_fields = ChannelFields {
        referring_site: attributed(keys::REFERRING_HOST),
        source_name: attributed(keys::SOURCE_TYPE),
        ..utm_fields(attribution)
    };
    Ok(normalized)
}

/// A fully refunded order; it happened when the order last changed.
fn refund(
    event: &Event<'_>,
    order_id: String,
    total: i64,
    currency: String,
) -> Result<super::Normalized, Unusable> {
    let body = event.body;
    let refunds = list(body.get("refunds"), "refunds", payload::REFUNDS_MAX)?;
    let mut amount: i64 = 0;
    for (index, refund) in refunds.iter().enumerate() {
        let field = format!("refunds[{index}].total");
        let refund = refund
            .as_object()
            .ok_or_else(|| Unusable::new(format!("`refunds[{index}]` is not an object")))?;
        // `decimal` keeps amounts within ±AMOUNT_MAX, so `abs` cannot overflow.
        let size = decimal(at(refund, &["total"]), &field, &currency)?.abs();
        amount = add_within(amount, size, "refunds")?;
    }
    if refunds.is_empty() {
        amount = total;
    }
    let occurred_at_ms = first_timestamp_ms(body, &["date_modified_gmt", "date_created_gmt"])?;
    let mut normalized = event.normalized(
        format!("{order_id}:refund:{amount}"),
        Some(order_id),
        Money { amount, currency },
        occurred_at_ms,
    );
    normalized.kind = EventKind::Refund;
    Ok(normalized)
}
