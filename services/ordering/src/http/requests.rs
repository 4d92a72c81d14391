//! Request bodies and queries as the API takes them, each turned into validated domain
//! input here (`try_into_domain`), with every invalid field named at once; handlers and
//! the application never check them again.

use std::time::Duration;

use axum::http::HeaderMap;
use platform::http::{Fields, PageQuery, Problem};
use serde::Deserialize;

use crate::domain::{
    self, CartQuantity, MAX_LINES, Money, OrderSource, OrderStatus, PaymentMethod, PlaceOrder,
    Quantity, Sku,
};

/// Longest `Prefer: wait` honoured, in seconds.
pub const MAX_WAIT_SECS: u64 = 30;

type ApiResult<T> = Result<T, Problem>;

/// `PUT /carts/{id}/items`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct CartItemBody {
    sku: String,
    quantity: i64,
}

impl CartItemBody {
    pub(super) fn try_into_domain(self) -> ApiResult<(Sku, CartQuantity)> {
        let mut fields = Fields::default();
        let sku = fields.check("sku", Sku::try_from(self.sku));
        let quantity = fields.check("quantity", CartQuantity::try_from(self.quantity));
        match (sku, quantity) {
            (Some(sku), Some(quantity)) => Ok((sku, quantity)),
            _ => Err(fields.into_problem()),
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LineBody {
    sku: String,
    quantity: i64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AddressBody {
    name: String,
    line1: String,
    #[serde(default)]
    line2: Option<String>,
    city: String,
    postal_code: String,
    country: String,
}

/// `attribution` of `POST /orders`: an unknown field is named `attribution.<field>`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AttributionBody {
    #[serde(default)]
    utm_source: Option<String>,
    #[serde(default)]
    utm_medium: Option<String>,
    #[serde(default)]
    utm_campaign: Option<String>,
    #[serde(default)]
    referrer: Option<String>,
}

/// `POST /orders`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct OrderBody {
    #[serde(default)]
    cart_id: Option<String>,
    #[serde(default)]
    items: Option<Vec<LineBody>>,
    shipping_address: AddressBody,
    payment: serde_json::Value,
    #[serde(default)]
    attribution: Option<AttributionBody>,
}

impl OrderBody {
    pub(super) fn try_into_domain(self) -> ApiResult<PlaceOrder> {
        let mut fields = Fields::default();
        let source = match (self.cart_id, self.items) {
            (Some(cart_id), None) => Some(OrderSource::Cart(cart_id)),
            (None, Some(items)) => {
                if items.is_empty() || items.len() > MAX_LINES {
                    fields.push("items", format!("must hold 1 to {MAX_LINES} lines"));
                }
                let mut lines = Vec::with_capacity(items.len());
                for (i, line) in items.into_iter().enumerate() {
                    let sku = fields.check(&format!("items[{i}].sku"), Sku::try_from(line.sku));
                    let quantity = fields.check(
                        &format!("items[{i}].quantity"),
                        Quantity::try_from(line.quantity),
                    );
                    if let (Some(sku), Some(quantity)) = (sku, quantity) {
                        lines.push((sku, quantity));
                    }
                }
                Some(OrderSource::Items(lines))
            }
            _ => {
                fields.push("items", "give either cart_id or items");
                None
            }
        };
        let a = self.shipping_address;
        let address = match domain::shipping_address(
            a.name,
            a.line1,
            a.line2,
            a.city,
            a.postal_code,
            a.country,
        ) {
            Ok(address) => Some(address),
            Err(errors) => {
                for (field, invalid) in errors {
                    fields.push(&format!("shipping_address.{field}"), invalid.to_string());
                }
                None
            }
        };
        if !self.payment.is_object() {
            fields.push("payment", "must be an object");
        }
        let attribution = match self.attribution {
            None => None,
            Some(a) => domain::attribution(a.utm_source, a.utm_medium, a.utm_campaign, a.referrer)
                .unwrap_or_else(|errors| {
                    for (field, invalid) in errors {
                        fields.push(&format!("attribution.{field}"), invalid.to_string());
                    }
                    None
                }),
        };
        match (source, address, fields.is_ok()) {
            (Some(source), Some(shipping_address), true) => Ok(PlaceOrder {
                source,
                shipping_address,
                payment: PaymentMethod::new(self.payment),
                attribution,
            }),
            _ => Err(fields.into_problem()),
        }
    }
}

/// `GET /orders` filters.
#[derive(Deserialize)]
pub(super) struct ListQuery {
    #[serde(default)]
    status: Option<String>,
    #[serde(flatten)]
    pub(super) page: PageQuery,
}

impl ListQuery {
    /// The status filter, if any.
    pub(super) fn status(&self) -> ApiResult<Option<OrderStatus>> {
        match self.status.as_deref() {
            None | Some("") => Ok(None),
            Some(raw) => OrderStatus::parse(raw)
                .map(Some)
                .ok_or_else(|| Problem::invalid_field("status", "is not an order status")),
        }
    }
}

/// `POST /orders/{id}/cancel` (the body may be left out).
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct CancelBody {
    #[serde(default)]
    reason: Option<String>,
}

impl CancelBody {
    /// The reason given, or `default` when none is.
    pub(super) fn reason_or(self, default: impl FnOnce() -> String) -> String {
        given_reason(self.reason).unwrap_or_else(default)
    }
}

/// `POST /orders/{id}/refund` (the body may be left out).
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RefundBody {
    #[serde(default)]
    amount: Option<Money>,
}

impl RefundBody {
    /// The amount to refund (none: all that is left); a given one must be positive.
    pub(super) fn try_into_domain(self) -> ApiResult<Option<Money>> {
        if let Some(amount) = &self.amount
            && amount.amount <= 0
        {
            return Err(Problem::invalid_field("amount.amount", "must be positive"));
        }
        Ok(self.amount)
    }
}

/// `PUT /orders/{id}/status`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct StatusBody {
    status: String,
    #[serde(default)]
    reason: Option<String>,
}

impl StatusBody {
    /// The status asked for and the reason (a default one names it).
    pub(super) fn try_into_domain(self) -> ApiResult<(OrderStatus, String)> {
        let next = OrderStatus::parse(&self.status)
            .ok_or_else(|| Problem::invalid_field("status", "is not an order status"))?;
        let reason =
            given_reason(self.reason).unwrap_or_else(|| format!("set to {next} by an admin"));
        Ok((next, reason))
    }
}

/// A reason as given: trimmed, at most 200 characters, none if blank.
fn given_reason(reason: Option<String>) -> Option<String> {
    reason
        .map(|r| r.trim().chars().take(200).collect::<String>())
        .filter(|r| !r.is_empty())
}

/// A JSON body that may be left out entirely (then every field takes its default).
pub(super) fn optional_body<T: serde::de::DeserializeOwned + Default>(
    bytes: &[u8],
) -> ApiResult<T> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    platform::http::extract::parse_json(bytes)
}

/// `Prefer: wait=N` (RFC 7240), capped at [`MAX_WAIT_SECS`].
pub(super) fn preferred_wait(headers: &HeaderMap) -> Option<Duration> {
    headers
        .get_all("prefer")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|pref| {
            let (name, value) = pref.trim().split_once('=')?;
            (name.trim().eq_ignore_ascii_case("wait"))
                .then(|| value.trim().trim_matches('"').parse::<u64>().ok())
                .flatten()
        })
        .next()
        .map(|secs| Duration::from_secs(secs.min(MAX_WAIT_SECS)))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An order body of one line with `attribution`, read as the API reads it.
    fn order_with(attribution: serde_json::Value) -> ApiResult<PlaceOrder> {
        let body = serde_json::json!({
            "items": [{"sku": "A-1", "quantity": 1}],
            "shipping_address": {"name": "Ann", "line1": "1 Main St", "city": "Springfield",
                                 "postal_code": "12345", "country": "US"},
            "payment": {"method": "card"},
            "attribution": attribution,
        });
        let bytes = serde_json::to_vec(&body).expect("json");
        platform::http::extract::parse_json::<OrderBody>(&bytes)?.try_into_domain()
    }

    fn problem_fields(problem: &Problem) -> Vec<&str> {
        problem.errors.iter().map(|e| e.field.as_str()).collect()
    }

    #[test]
    fn an_orders_attribution_is_optional_and_checked_field_by_field() {
        let placed =
            order_with(serde_json::json!({"utm_source": "newsletter", "utm_medium": "email"}))
                .unwrap_or_else(|p| panic!("{p:?}"));
        let attribution = placed.attribution.expect("kept");
        assert_eq!(attribution.utm_source.as_deref(), Some("newsletter"));
        assert_eq!(attribution.utm_medium.as_deref(), Some("email"));
        assert_eq!(attribution.referrer, None);
        for absent in [serde_json::Value::Null, serde_json::json!({})] {
            let placed = order_with(absent).unwrap_or_else(|p| panic!("{p:?}"));
            assert!(placed.attribution.is_none());
        }

        let bad = order_with(serde_json::json!({"referrer": "not a url", "utm_campaign": ""}))
            .expect_err("invalid");
        assert_eq!(bad.status, 422);
        assert_eq!(
            problem_fields(&bad),
            ["attribution.utm_campaign", "attribution.referrer"]
        );
        let unknown = order_with(serde_json::json!({"utm_source": "x", "gclid": "abc"}))
            .expect_err("unknown field");
        assert_eq!(unknown.status, 422);
        assert_eq!(problem_fields(&unknown), ["attribution.gclid"]);
        let wrong_type =
            order_with(serde_json::json!({"utm_source": 7})).expect_err("not a string");
        assert_eq!(problem_fields(&wrong_type), ["attribution.utm_source"]);
    }

    #[test]
    fn prefer_wait_is_read_and_capped() {
        let mut headers = HeaderMap::new();
        assert_eq!(preferred_wait(&headers), None);
        headers.insert("prefer", "respond-async, wait=5".parse().expect("header"));
        assert_eq!(preferred_wait(&headers), Some(Duration::from_secs(5)));
        headers.insert("prefer", "wait=600".parse().expect("header"));
        assert_eq!(
            preferred_wait(&headers),
            Some(Duration::from_secs(MAX_WAIT_SECS))
        );
        headers.insert("prefer", "wait=soon".parse().expect("header"));
        assert_eq!(preferred_wait(&headers), None);
    }

    #[test]
    fn reasons_are_trimmed_capped_and_blank_is_none() {
        assert_eq!(
            given_reason(Some("  late  ".into())).as_deref(),
            Some("late")
        );
        assert_eq!(given_reason(Some("   ".into())), None);
        assert_eq!(
            given_reason(Some("x".repeat(300))).map(|r| r.len()),
            Some(200)
        );
    }
}
