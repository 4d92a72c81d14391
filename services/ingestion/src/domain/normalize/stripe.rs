//! Stripe: `charge.succeeded` is a payment of the charge's `amount`; `charge.refunded`
//! a refund of what this event added to `amount_refunded` (its cumulative total less
//! `previous_attributes.amount_refunded`, when Stripe sends it). Stripe's amounts are
//! already integers of the currency's smallest unit, except ISK, which Stripe keeps in
//! hundredths though ISO 4217 (and Viscount) counts whole krónur.

use contracts::Money;
use contracts::types::minor_unit_exponent;

use super::{Event, Unusable, at, currency, first_timestamp_ms, id, reference, whole_amount};
use crate::domain::Topic;

pub(super) fn normalize(event: &Event<'_>) -> Result<super::Normalized, Unusable> {
    event.check_event_type("type")?;
    let body = event.body;
    let charge_id = id(at(body, &["data", "object", "id"]), "data.object.id")?;
    let currency = currency(
        at(body, &["data", "object", "currency"]),
        "data.object.currency",
    )?;
    let order_ref = reference(at(body, &["data", "object", "metadata", "order_id"]));
    let (external_id, units, field, occurred_at_ms) = match event.topic {
        Topic::StripeChargeRefunded => {
            let field = "data.object.amount_refunded";
            let cumulative = whole_amount(at(body, &["data", "object", "amount_refunded"]), field)?;
            let previous = match at(body, &["data", "previous_attributes", "amount_refunded"]) {
                Some(value) => {
                    whole_amount(Some(value), "data.previous_attributes.amount_refunded")?
                }
                None => 0,
            };
            let refunded = cumulative
                .checked_sub(previous)
                .filter(|refunded| *refunded >= 0)
                .ok_or_else(|| {
                    Unusable::new(
                        "`data.object.amount_refunded` is less than \
                         `data.previous_attributes.amount_refunded`",
                    )
                })?;
            // The refund happened when the event did; the charge is older.
            let occurred = first_timestamp_ms(body, &["created", "data.object.created"])?;
            (
                format!("{charge_id}:{cumulative}"),
                refunded,
                field,
                occurred,
            )
        }
        _ => {
            let field = "data.object.amount";
            let amount = whole_amount(at(body, &["data", "object", "amount"]), field)?;
            let occurred = first_timestamp_ms(body, &["data.object.created", "created"])?;
            (charge_id, amount, field, occurred)
        }
    };
    let amount = from_stripe_units(units, &currency, field)?;
    Ok(event.normalized(
        external_id,
        order_ref,
        Money { amount, currency },
        occurred_at_ms,
    ))
}

/// Stripe's integer amount in ISO 4217 minor units. Only ISK differs (Stripe: two
/// decimals, must be whole krónur since 2023; ISO: none).
fn from_stripe_units(units: i64, currency: &str, field: &str) -> Result<i64, Unusable> {
    let iso = minor_unit_exponent(currency).unwrap_or(2);
    let stripe = if currency == "ISK" { 2 } else { iso };
    let divisor = 10_i64.pow(stripe.saturating_sub(iso));
    if units % divisor != 0 {
        return Err(Unusable::new(format!(
            "`{field}` is not a whole number of {currency} (Stripe counts {currency} in hundredths)"
        )));
    }
    Ok(units / divisor)
}
