//! Normalization: every provider's stripped payload ([`StrippedPayload`]) turned into
//! one attribution event ([`Normalized`]): kind, external id, order reference, amount
//! in integer minor units, line items, when it happened, channel fields and the
//! customer's keyed hash.
//!
//! It reads only what [`super::payload::strip`] kept, so a dead event's stored payload
//! replays exactly like the delivery did. Whatever it cannot use is [`Unusable`], with a
//! reason that names the field (`` `total_price` is missing``). Reasons are stored and
//! shown, so they repeat a payload's value only when its shape was checked first (a
//! three-letter currency code, an event type of letters, digits and dots), never free
//! text.
//!
//! Each provider's reading lives in its own file; the helpers here read one field each
//! and phrase the reasons the same way for all of them.
//!
//! Amounts are bounded: no amount, unit price or line total above
//! [`money::AMOUNT_MAX`] minor units and no quantity above [`money::QUANTITY_MAX`] gets
//! through (analytics sums them in `i64`). Each reader refuses such a field by name,
//! and [`Normalized::check_bounds`] holds the line for every reader, Viscount's own
//! events included.

mod paypal;
mod shopify;
mod stripe;
mod woocommerce;

use contracts::Money;
use contracts::ingestion::{ChannelFields, EventKind, LineItem, Provider};
use contracts::types::CURRENCIES;
use serde_json::{Map, Value};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use time::macros::format_description;

use super::money::{self, AMOUNT_MAX_TEXT, MoneyError, QUANTITY_MAX, QUANTITY_MAX_TEXT};
use super::payload::{self, StrippedPayload, keys};

/// A provider's order, payment or refund, normalized.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Normalized {
    /// The provider's id of the delivery or event (the stripped payload's `event_id`).
    pub provider_event_id: String,
    /// Order, payment or refund.
    pub kind: EventKind,
    /// The provider's id of the order, charge, sale or refund. A Stripe refund is
    /// `{charge id}:{cumulative amount_refunded}` and a WooCommerce refund
    /// `{order id}:refund:{minor units}`, so each partial refund is its own event.
    pub external_id: String,
    /// The order it belongs to: an order's own id, Stripe `metadata.order_id`, PayPal
    /// `invoice_number` or `custom`, the refunded order's id.
    pub order_ref: Option<String>,
    /// The amount, never negative (a refund's kind says it is money back).
    pub amount: Money,
    /// An order's lines (empty for payments and refunds).
    pub line_items: Vec<LineItem>,
    /// When it happened at the provider, epoch milliseconds.
    pub occurred_at_ms: i64,
    /// Where the customer came from (storefront orders only).
    pub channel_fields: ChannelFields,
    /// The keyed hash of the customer's email, when the payload had one.
    pub customer_ref: Option<String>,
}

impl Normalized {
    /// Refuses an event whose amount, a line's quantity, unit price or total is out of
    /// ingestion's bounds (never negative; at most [`money::AMOUNT_MAX`] minor units and
    /// [`QUANTITY_MAX`]). The readers refuse such fields under the payload's own names
    /// first; this is what keeps the bounds should a reader miss one, so every event
    /// analytics receives can be summed without overflow. The reason names the
    /// normalized field (`amount`, `line_items[2].quantity`).
    pub fn check_bounds(&self) -> Result<(), Unusable> {
        check_amount(self.amount.amount, "amount")?;
        for (index, line) in self.line_items.iter().enumerate() {
            check_line(line, &format!("line_items[{index}]"))?;
        }
        Ok(())
    }
}

/// `amount` (minor units), refused when negative or above [`money::AMOUNT_MAX`].
pub(crate) fn check_amount(amount: i64, field: &str) -> Result<i64, Unusable> {
    let amount = not_negative(amount, field)?;
    if money::within_amount_max(amount) {
        Ok(amount)
    } else {
        Err(too_large(field))
    }
}

/// A line (named `field`), refused when its quantity or unit price is out of bounds,
/// or when its value (quantity × unit price, which analytics may multiply out and add
/// up) is more than [`money::AMOUNT_MAX`].
pub(crate) fn check_line(line: &LineItem, field: &str) -> Result<(), Unusable> {
    check_quantity(line.quantity, &format!("{field}.quantity"))?;
    check_amount(line.unit_price, &format!("{field}.unit_price"))?;
    // 10^9 × 10^15 does not fit an i64, so the product is taken in i128.
    let total = i128::from(line.quantity) * i128::from(line.unit_price);
    if total > i128::from(money::AMOUNT_MAX) {
        return Err(Unusable::new(format!(
            "`{field}` comes to more than the largest amount taken ({AMOUNT_MAX_TEXT}) \
             (quantity × price)"
        )));
    }
    Ok(())
}

/// A quantity, refused when negative or above [`QUANTITY_MAX`].
fn check_quantity(quantity: i64, field: &str) -> Result<i64, Unusable> {
    let quantity = not_negative(quantity, field)?;
    if quantity > QUANTITY_MAX {
        return Err(Unusable::new(format!(
            "`{field}` is above the largest quantity taken ({QUANTITY_MAX_TEXT})"
        )));
    }
    Ok(quantity)
}

/// The reason for an amount above [`money::AMOUNT_MAX`].
fn too_large(field: &str) -> Unusable {
    Unusable::new(format!(
        "`{field}` is above the largest amount taken ({AMOUNT_MAX_TEXT})"
    ))
}

/// `sum + amount`, refused (naming the list `field`) when above [`money::AMOUNT_MAX`]:
/// each part may be within the bound while the parts together are not.
fn add_within(sum: i64, amount: i64, field: &str) -> Result<i64, Unusable> {
    sum.checked_add(amount)
        .filter(|total| money::within_amount_max(*total))
        .ok_or_else(|| {
            Unusable::new(format!(
                "`{field}` add up to more than the largest amount taken ({AMOUNT_MAX_TEXT})"
            ))
        })
}

/// Why a correctly signed payload cannot become an attribution event. The reason names
/// the field, e.g. `` `total_price` is missing``, ``currency `XYZ` in `currency` is not
/// a known ISO 4217 code``, ``event type `charge.failed` does not match the webhook's
/// topic (`charge.succeeded`)``.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{reason}")]
pub struct Unusable {
    /// Why, naming the field.
    pub reason: String,
}

impl Unusable {
    fn new(reason: impl Into<String>) -> Self {
        Self {
            reason: reason.into(),
        }
    }
}

/// The attribution event `payload` describes, or why there is none.
pub fn normalize(payload: &StrippedPayload) -> Result<Normalized, Unusable> {
    let body = payload
        .body
        .as_object()
        .ok_or_else(|| Unusable::new("payload is not a JSON object"))?;
    let event = Event {
        topic: payload.topic,
        event_id: &payload.event_id,
        body,
    };
    let normalized = match payload.topic.provider() {
        Provider::Shopify => shopify::normalize(&event),
        Provider::Stripe => stripe::normalize(&event),
        Provider::Paypal => paypal::normalize(&event),
        Provider::Woocommerce => woocommerce::normalize(&event),
        // No webhook topic is Viscount's own (see `domain::own`).
        Provider::Viscount => Err(Unusable::new(
            "Viscount's own events are taken from the bus, not from webhooks",
        )),
    }?;
    normalized.check_bounds()?;
    Ok(normalized)
}

/// A stripped payload, as the provider readers see it.
struct Event<'a> {
    topic: super::Topic,
    event_id: &'a str,
    body: &'a Map<String, Value>,
}

impl Event<'_> {
    /// A [`Normalized`] for this event with the parts every provider fills the same way.
    fn normalized(
        &self,
        external_id: String,
        order_ref: Option<String>,
        amount: Money,
        occurred_at_ms: i64,
    ) -> Normalized {
        Normalized {
            provider_event_id: self.event_id.to_owned(),
            kind: self.topic.kind(),
            external_id,
            order_ref,
            amount,
            line_items: Vec::new(),
            occurred_at_ms,
            channel_fields: ChannelFields::default(),
            customer_ref: customer_ref(self.body),
        }
    }

    /// Refuses a body whose own event type (Stripe `type`, PayPal `event_type`) is not
    /// the topic's: a `charge.failed` posted to the `charge.succeeded` webhook must not
    /// count as a payment.
    fn check_event_type(&self, field: &str) -> Result<(), Unusable> {
        let expected = self.topic.provider_name();
        let found = text(self.body.get(field)).ok_or_else(|| missing(field))?;
        if found == expected {
            return Ok(());
        }
        // Only a plausible event name is repeated back; anything else may be any text.
        let plausible = found.len() <= 64
            && found
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b));
        Err(Unusable::new(if plausible {
            format!("event type `{found}` does not match the webhook's topic (`{expected}`)")
        } else {
            format!("`{field}` does not match the webhook's topic (`{expected}`)")
        }))
    }
}

/// The value at `path` under `object`; JSON `null` counts as absent (Shopify writes
/// `null` for what an order does not have).
fn at<'a>(object: &'a Map<String, Value>, path: &[&str]) -> Option<&'a Value> {
    let (last, parents) = path.split_last()?;
    let mut current = object;
    for parent in parents {
        current = current.get(*parent)?.as_object()?;
    }
    current.get(*last).filter(|value| !value.is_null())
}

fn missing(field: &str) -> Unusable {
    Unusable::new(format!("`{field}` is missing"))
}

/// The keyed email hash [`super::payload::strip`] stored, when it looks like one.
fn customer_ref(body: &Map<String, Value>) -> Option<String> {
    let found = body.get(keys::CUSTOMER_REF)?.as_str()?;
    let is_hash = found.len() == 64 && found.bytes().all(|b| b.is_ascii_hexdigit());
    is_hash.then(|| found.to_ascii_lowercase())
}

/// A trimmed, non-empty string.
fn text(value: Option<&Value>) -> Option<&str> {
    value
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|text| !text.is_empty())
}

/// An id: a whole JSON number or a string of 1 to [`payload::ID_MAX_CHARS`] characters
/// without control characters.
fn id(value: Option<&Value>, field: &str) -> Result<String, Unusable> {
    match value.ok_or_else(|| missing(field))? {
        Value::Number(number) if number.is_u64() || number.is_i64() => Ok(number.to_string()),
        Value::String(text) => {
            let text = text.trim();
            if text.is_empty() {
                Err(Unusable::new(format!("`{field}` is empty")))
            } else if text.chars().count() > payload::ID_MAX_CHARS {
                Err(Unusable::new(format!(
                    "`{field}` is longer than {} characters",
                    payload::ID_MAX_CHARS
                )))
            } else if text.chars().any(char::is_control) {
                Err(Unusable::new(format!(
                    "`{field}` contains control characters"
                )))
            } else {
                Ok(text.to_owned())
            }
        }
        _ => Err(Unusable::new(format!(
            "`{field}` is not an id (a string or a whole number)"
        ))),
    }
}

/// An optional reference (an order id a payment names): like [`id`], but anything
/// unusable is simply no reference, since payments without one are normal.
fn reference(value: Option<&Value>) -> Option<String> {
    value.and_then(|value| id(Some(value), "").ok())
}

/// An ISO 4217 code of [`CURRENCIES`], upper case (Stripe writes `usd`).
fn currency(value: Option<&Value>, field: &str) -> Result<String, Unusable> {
    let found = value
        .ok_or_else(|| missing(field))?
        .as_str()
        .map(str::trim)
        .filter(|code| code.len() == 3 && code.bytes().all(|b| b.is_ascii_alphabetic()))
        .ok_or_else(|| Unusable::new(format!("`{field}` is not a three-letter currency code")))?;
    let code = found.to_ascii_uppercase();
    if CURRENCIES.contains(&code.as_str()) {
        Ok(code)
    } else {
        Err(Unusable::new(format!(
            "currency `{code}` in `{field}` is not a known ISO 4217 code"
        )))
    }
}

/// The text of a decimal amount: a JSON string as written, or a JSON number as
/// serde_json prints it (an integer exactly; a fraction as the shortest text that reads
/// back as the same double, which is the sender's own text for prices like `12.5`).
fn decimal_text<'a>(value: &'a Value, field: &str) -> Result<std::borrow::Cow<'a, str>, Unusable> {
    match value {
        Value::String(text) => Ok(std::borrow::Cow::Borrowed(text.as_str())),
        Value::Number(number) => Ok(std::borrow::Cow::Owned(number.to_string())),
        _ => Err(not_a_decimal(field)),
    }
}

fn not_a_decimal(field: &str) -> Unusable {
    Unusable::new(format!("`{field}` is not a decimal amount"))
}

/// A decimal amount in `currency`'s minor units, exactly (see [`money::parse_decimal`]).
fn decimal(value: Option<&Value>, field: &str, currency: &str) -> Result<i64, Unusable> {
    let text = decimal_text(value.ok_or_else(|| missing(field))?, field)?;
    money::parse_decimal(&text, currency)
        .map(|money| money.amount)
        .map_err(|error| money_reason(error, field, currency))
}

/// A line item's unit price: like [`decimal`], but rounded to the minor unit where the
/// storefront divided (WooCommerce's `price` is `subtotal / quantity`).
fn unit_price(value: Option<&Value>, field: &str, currency: &str) -> Result<i64, Unusable> {
    let text = decimal_text(value.ok_or_else(|| missing(field))?, field)?;
    let amount = money::parse_decimal_rounded(&text, currency)
        .map(|money| money.amount)
        .map_err(|error| money_reason(error, field, currency))?;
    not_negative(amount, field)
}

fn money_reason(error: MoneyError, field: &str, currency: &str) -> Unusable {
    Unusable::new(match error {
        MoneyError::Empty => format!("`{field}` is empty"),
        MoneyError::NotADecimal => format!("`{field}` is not a decimal amount"),
        MoneyError::TooPrecise { exponent } => {
            format!("`{field}` has more decimal places than {currency} has ({exponent})")
        }
        MoneyError::TooLarge => too_large(field).reason,
        MoneyError::UnknownCurrency => {
            format!("currency `{currency}` of `{field}` is not a known ISO 4217 code")
        }
    })
}

/// `amount`, refused when below zero.
fn not_negative(amount: i64, field: &str) -> Result<i64, Unusable> {
    if amount < 0 {
        Err(Unusable::new(format!("`{field}` is negative")))
    } else {
        Ok(amount)
    }
}

/// A whole, non-negative JSON number.
fn whole_number(value: Option<&Value>, field: &str) -> Result<i64, Unusable> {
    let number = value
        .ok_or_else(|| missing(field))?
        .as_i64()
        .ok_or_else(|| Unusable::new(format!("`{field}` is not a whole number")))?;
    not_negative(number, field)
}

/// An amount written as whole minor units (Stripe's), at most [`money::AMOUNT_MAX`].
/// A number beyond `i64` (`1e30`, `92233720368547758070`) is not a whole number.
fn whole_amount(value: Option<&Value>, field: &str) -> Result<i64, Unusable> {
    check_amount(whole_number(value, field)?, field)
}

/// A moment as epoch milliseconds: RFC 3339 text (`2019-06-04T13:53:06-04:00`,
/// `2014-10-23T17:23:52Z`), WooCommerce's offset-less `_gmt` text (UTC), or a JSON
/// number of Unix seconds (Stripe's `created`).
fn timestamp_ms(value: Option<&Value>, field: &str) -> Result<i64, Unusable> {
    let not_a_time = || Unusable::new(format!("`{field}` is not a timestamp"));
    let moment = match value.ok_or_else(|| missing(field))? {
        Value::Number(number) => {
            let seconds = number.as_i64().ok_or_else(not_a_time)?;
            OffsetDateTime::from_unix_timestamp(seconds).map_err(|_| not_a_time())?
        }
        Value::String(text) => {
            let text = text.trim();
            OffsetDateTime::parse(text, &Rfc3339)
                .or_else(|_| {
                    time::PrimitiveDateTime::parse(
                        text,
                        format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]"),
                    )
                    .map(time::PrimitiveDateTime::assume_utc)
                })
                .map_err(|_| not_a_time())?
        }
        _ => return Err(not_a_time()),
    };
    i64::try_from(moment.unix_timestamp_nanos() / 1_000_000).map_err(|_| not_a_time())
}

/// The first of `fields` that is present, read as a timestamp; the last one's name is
/// used when none is.
fn first_timestamp_ms(body: &Map<String, Value>, fields: &[&str]) -> Result<i64, Unusable> {
    for field in fields {
        if let Some(value) = at(body, &field.split('.').collect::<Vec<_>>()) {
            return timestamp_ms(Some(value), field);
        }
    }
    Err(missing(fields.last().copied().unwrap_or("timestamp")))
}

/// The entries of a list, refused when over `max` (the stripped payload keeps one
/// extra entry to show that); an absent list is empty.
fn list<'a>(value: Option<&'a Value>, field: &str, max: usize) -> Result<&'a [Value], Unusable> {
    let Some(value) = value else {
        return Ok(&[]);
    };
    let items = value
        .as_array()
        .ok_or_else(|| Unusable::new(format!("`{field}` is not a list")))?;
    if items.len() > max {
        return Err(Unusable::new(format!(
            "`{field}` has more than {max} entries"
        )));
    }
    Ok(items)
}

/// An order's lines (`sku`, `quantity`, `price`, as Shopify and WooCommerce both name
/// them).
fn line_items(body: &Map<String, Value>, currency: &str) -> Result<Vec<LineItem>, Unusable> {
    list(
        body.get("line_items"),
        "line_items",
        payload::LINE_ITEMS_MAX,
    )?
    .iter()
    .enumerate()
    .map(|(index, item)| {
        let field = |name: &str| format!("line_items[{index}].{name}");
        let item = item
            .as_object()
            .ok_or_else(|| Unusable::new(format!("`line_items[{index}]` is not an object")))?;
        let line = LineItem {
            sku: sku(item.get("sku")),
            quantity: whole_number(at(item, &["quantity"]), &field("quantity"))?,
            // Bounded as it is parsed, under the payload's name (`price`).
            unit_price: unit_price(at(item, &["price"]), &field("price"), currency)?,
        };
        // The quantity's bound, and the line's total.
        check_line(&line, &format!("line_items[{index}]"))?;
        Ok(line)
    })
    .collect()
}

/// A line's sku, when it has a usable one (a line without is still a line).
fn sku(value: Option<&Value>) -> Option<String> {
    text(value)
        .filter(|sku| sku.chars().count() <= payload::SKU_MAX_CHARS)
        .filter(|sku| !sku.chars().any(char::is_control))
        .map(str::to_owned)
}

/// The UTM part of channel fields, from an object holding `utm_source`, `utm_medium`
/// and `utm_campaign`; the placeholders WooCommerce's attribution writes for "nothing"
/// (`(direct)`, `(none)`, `(not set)`) count as nothing, so the taxonomy sees a direct
/// visit as one.
fn utm_fields(utm: Option<&Value>) -> ChannelFields {
    let utm = utm.and_then(Value::as_object);
    let field = |name: &str| {
        utm.and_then(|utm| text(utm.get(name)))
            .filter(|value| !matches!(*value, "(direct)" | "(none)" | "(not set)"))
            .map(str::to_owned)
    };
    ChannelFields {
        utm_source: field("utm_source"),
        utm_medium: field("utm_medium"),
        utm_campaign: field("utm_campaign"),
        referring_site: None,
        source_name: None,
    }
}

#[cfg(test)]
mod tests;
