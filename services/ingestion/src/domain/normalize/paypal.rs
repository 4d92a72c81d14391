//! PayPal: `PAYMENT.SALE.COMPLETED` is a payment of the sale's `amount.total`,
//! `PAYMENT.SALE.REFUNDED` a refund of the refund's `amount.total` (some API versions
//! write it negative: its size is what counts). The order reference is the merchant's
//! `invoice_number`, else its `custom` field.

use contracts::Money;

use super::{
    Event, Unusable, at, currency, decimal, first_timestamp_ms, id, not_negative, reference,
};
use crate::domain::Topic;

pub(super) fn normalize(event: &Event<'_>) -> Result<super::Normalized, Unusable> {
    event.check_event_type("event_type")?;
    let body = event.body;
    let external_id = id(at(body, &["resource", "id"]), "resource.id")?;
    let currency = currency(
        at(body, &["resource", "amount", "currency"]),
        "resource.amount.currency",
    )?;
    let field = "resource.amount.total";
    let total = decimal(at(body, &["resource", "amount", "total"]), field, &currency)?;
    let amount = match event.topic {
        // `decimal` keeps amounts within ±AMOUNT_MAX, so `abs` cannot overflow.
        Topic::PaypalSaleRefunded => total.abs(),
        _ => not_negative(total, field)?,
    };
    let order_ref = reference(at(body, &["resource", "invoice_number"]))
        .or_else(|| reference(at(body, &["resource", "custom"])));
    let occurred_at_ms = first_timestamp_ms(body, &["resource.create_time", "create_time"])?;
    Ok(event.normalized(
        external_id,
        order_ref,
        Money { amount, currency },
        occurred_at_ms,
    ))
}
