//! Shopify: `orders/create` and `orders/updated` are orders (their amount `total_price`
//! in the shop's `currency`), `refunds/create` a refund of the successful refund
//! transactions it lists.

use contracts::Money;
use contracts::ingestion::ChannelFields;

use super::{
    Event, Unusable, add_within, at, currency, decimal, first_timestamp_ms, id, line_items, list,
    not_negative, text, utm_fields,
};
use crate::domain::Topic;
use crate::domain::payload::{self, keys};

pub(super) fn normalize(event: &Event<'_>) -> Result<super::Normalized, Unusable> {
    match event.topic {
        Topic::ShopifyRefundCreated => refund(event),
        _ => order(event),
    }
}

/// An order: `id` is both its external id and its order reference; it happened when it
/// was processed (an imported order's real date), else when it was created.
fn order(event: &Event<'_>) -> Result<super::Normalized, Unusable> {
    let body = event.body;
    let external_id = id(at(body, &["id"]), "id")?;
    let currency = currency(at(body, &["currency"]), "currency")?;
    let amount = not_negative(
        decimal(at(body, &["total_price"]), "total_price", &currency)?,
        "total_price",
    )?;
    let occurred_at_ms = first_timestamp_ms(body, &["processed_at", "created_at"])?;
    let mut normalized = event.normalized(
        external_id.clone(),
        Some(external_id),
        Money {
            amount,
            currency: currency.clone(),
        },
        occurred_at_ms,
    );
    normalized.line_items = line_items(body, &currency)?;
    normalized.channel_fields = ChannelFields {
        referring_site: text(body.get(keys::REFERRING_HOST)).map(str::to_owned),
        source_name: text(body.get("source_name")).map(str::to_owned),
        ..utm_fields(body.get(keys::LANDING_SITE_UTM))
    };
    Ok(normalized)
}

/// A refund: the sum of its transactions of kind `refund` and status `success` (a
/// failed attempt returned nothing), all in one currency. A refund that only restocks
/// has no such transaction and no amount, so it is refused rather than recorded as a
/// zero of no currency.
fn refund(event: &Event<'_>) -> Result<super::Normalized, Unusable> {
    let body = event.body;
    let external_id = id(at(body, &["id"]), "id")?;
    let order_id = id(at(body, &["order_id"]), "order_id")?;
    let transactions = list(
        body.get("transactions"),
        "transactions",
        payload::REFUNDS_MAX,
    )?;
    let mut total: Option<Money> = None;
    for (index, transaction) in transactions.iter().enumerate() {
        let Some(transaction) = transaction.as_object() else {
            continue;
        };
        let is = |field: &str, expected: &str| text(transaction.get(field)) == Some(expected);
        if !is("kind", "refund") || !is("status", "success") {
            continue;
        }
        let field = |name: &str| format!("transactions[{index}].{name}");
        let currency = currency(at(transaction, &["currency"]), &field("currency"))?;
        let amount = not_negative(
            decimal(at(transaction, &["amount"]), &field("amount"), &currency)?,
            &field("amount"),
        )?;
        total = Some(match total {
            None => Money { amount, currency },
            Some(sum) if sum.currency == currency => Money {
                amount: add_within(sum.amount, amount, "transactions")?,
                currency,
            },
            Some(_) => {
                return Err(Unusable::new(format!(
                    "`{}` differs from the currency of the refund's other transactions",
                    field("currency")
                )));
            }
        });
    }
    let amount = total
        .ok_or_else(|| Unusable::new("`transactions` has no successful refund transaction"))?;
    let occurred_at_ms = first_timestamp_ms(body, &["processed_at", "created_at"])?;
    Ok(event.normalized(external_id, Some(order_id), amount, occurred_at_ms))
}
