//! Request bodies and queries as the API takes them, each turned into validated domain
//! input here (`try_into_domain`), with every invalid field named at once; handlers and
//! the application never check them again.

use std::time::Duration;

use axum::http::HeaderMap;
use platform::http::{Fields, PageQuery, Problem};
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};

use super::views::Status;

use crate::domain::{
    self, CartQuantity, MAX_LINES, Money, OrderSource, OrderStatus, PaymentMethod, PlaceOrder,
    Quantity, Sku,
};

/// Longest `Prefer: wait` honoured, in seconds.
pub const MAX_WAIT_SECS: u64 = 30;

type ApiResult<T> = Result<T, Problem>;

/// `PUT /carts/{id}/items`: how many of a sku the cart holds (0 removes the line).
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"sku": "DEMO-00005", "quantity": 2}))]
pub(super) struct CartItemBody {
    /// The sku: 1 to 64 of `A-Z a-z 0-9 - _ .`.
    #[schema(min_length = 1, max_length = 64, pattern = "^[A-Za-z0-9._-]{1,64}$")]
    sku: String,
    /// 0 (remove the line) to 1000.
    #[schema(minimum = 0, maximum = 1000)]
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

/// One line of an order given by its items.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct LineBody {
    /// The sku: 1 to 64 of `A-Z a-z 0-9 - _ .`.
    #[schema(min_length = 1, max_length = 64, pattern = "^[A-Za-z0-9._-]{1,64}$")]
    sku: String,
    /// 1 to 1000.
    #[schema(minimum = 1, maximum = 1000)]
    quantity: i64,
}

/// Where the order goes. Texts are trimmed and may not hold control characters.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct AddressBody {
    /// The recipient, up to 200 characters.
    #[schema(
        min_length = 1,
        max_length = 200,
        pattern = r"^[^\u0000-\u001F\u007F-\u009F]*[^\s\u0000-\u001F\u007F-\u009F][^\u0000-\u001F\u007F-\u009F]*$"
    )]
    name: String,
    /// Street and number, up to 200 characters.
    #[schema(
        min_length = 1,
        max_length = 200,
        pattern = r"^[^\u0000-\u001F\u007F-\u009F]*[^\s\u0000-\u001F\u007F-\u009F][^\u0000-\u001F\u007F-\u009F]*$"
    )]
    line1: String,
    /// A second line, up to 200 characters (blank is none).
    #[serde(default)]
    #[schema(max_length = 200, pattern = r"^[^\u0000-\u001F\u007F-\u009F]*$")]
    line2: Option<String>,
    /// Up to 100 characters.
    #[schema(
        min_length = 1,
        max_length = 100,
        pattern = r"^[^\u0000-\u001F\u007F-\u009F]*[^\s\u0000-\u001F\u007F-\u009F][^\u0000-\u001F\u007F-\u009F]*$"
    )]
    city: String,
    /// Up to 20 characters.
    #[schema(
        min_length = 1,
        max_length = 20,
        pattern = r"^[^\u0000-\u001F\u007F-\u009F]*[^\s\u0000-\u001F\u007F-\u009F][^\u0000-\u001F\u007F-\u009F]*$"
    )]
    postal_code: String,
    /// ISO 3166-1 alpha-2 (any case).
    #[schema(pattern = "^[A-Za-z]{2}$", example = "US")]
    country: String,
}

/// `attribution` of `POST /orders`: an unknown field is named `attribution.<field>`.
/// Each value given is 1 to 500 characters once trimmed, without control characters.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct AttributionBody {
    /// `utm_source` of the landing page.
    #[serde(default)]
    #[schema(
        min_length = 1,
        max_length = 500,
        pattern = r"^[^\u0000-\u001F\u007F-\u009F]*[^\s\u0000-\u001F\u007F-\u009F][^\u0000-\u001F\u007F-\u009F]*$"
    )]
    utm_source: Option<String>,
    /// `utm_medium`.
    #[serde(default)]
    #[schema(
        min_length = 1,
        max_length = 500,
        pattern = r"^[^\u0000-\u001F\u007F-\u009F]*[^\s\u0000-\u001F\u007F-\u009F][^\u0000-\u001F\u007F-\u009F]*$"
    )]
    utm_medium: Option<String>,
    /// `utm_campaign`.
    #[serde(default)]
    #[schema(
        min_length = 1,
        max_length = 500,
        pattern = r"^[^\u0000-\u001F\u007F-\u009F]*[^\s\u0000-\u001F\u007F-\u009F][^\u0000-\u001F\u007F-\u009F]*$"
    )]
    utm_campaign: Option<String>,
    /// The page the customer came from: an absolute http(s) URL.
    #[serde(default)]
    #[schema(
        max_length = 500,
        format = "uri",
        pattern = r"^[Hh][Tt][Tt][Pp][Ss]?://[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*(:[0-9]{1,4})?([/?#][^\s\u0000-\u001F\u007F-\u009F]*)?$"
    )]
    referrer: Option<String>,
}

/// `payment` of `POST /orders`, as payments takes it: ordering passes the object on
/// unread (the card goes to payments and nowhere else), so this type only documents it.
#[derive(ToSchema)]
#[schema(example = json!({"method": "card", "card_number": "4242424242424242", "exp_month": 12, "exp_year": 2030, "cvc": "123"}))]
#[expect(
    dead_code,
    reason = "documents the object payments reads; ordering never builds one"
)]
struct PaymentBody {
    /// `card` (a token or the card's fields follow) or `saved` (a saved card's id
    /// follows).
    #[schema(pattern = "^(card|saved)$")]
    method: String,
    /// With `card`, instead of the card's fields: the card as the payment provider's
    /// script tokenized it in the browser (Stripe.js: a PaymentMethod id `pm_...` or
    /// a token `tok_...`; the sandbox also takes Stripe's test tokens such as
    /// `tok_visa` and `tok_chargeDeclined`), 1 to 255 printable ASCII characters
    /// without spaces. Not with `card_number`.
    #[schema(min_length = 1, max_length = 255, pattern = "^[!-~]{1,255}$")]
    token: Option<String>,
    /// The card number (12 to 19 digits, Luhn-valid), with `card` and no `token`.
    /// Refused (422) when payments uses Stripe: the browser tokenizes the card with
    /// Stripe.js and Viscount never handles the number.
    #[schema(pattern = "^[0-9]{12,19}$")]
    card_number: Option<String>,
    /// 1 to 12, with `card`.
    #[schema(minimum = 1, maximum = 12)]
    exp_month: Option<i64>,
    /// Four digits, not in the past, with `card`.
    #[schema(minimum = 1000, maximum = 9999)]
    exp_year: Option<i64>,
    /// 3 or 4 digits, with `card`.
    #[schema(pattern = "^[0-9]{3,4}$")]
    cvc: Option<String>,
    /// One of the payer's saved cards, with `saved`.
    #[schema(format = "uuid")]
    payment_method_id: Option<String>,
    /// The card's billing country, ISO 3166-1 alpha-2 (either case), with either:
    /// payments' fraud rules compare it with the shipping address's country.
    #[schema(pattern = "^[A-Za-z]{2}$")]
    billing_country: Option<String>,
}

/// `POST /orders`: either `cart_id` or `items`, where it goes and how it is paid.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "items": [{"sku": "DEMO-00005", "quantity": 1}],
    "shipping_address": {"name": "Ann", "line1": "1 Main St", "city": "Springfield",
                         "postal_code": "12345", "country": "US"},
    "payment": {"method": "card", "card_number": "4242424242424242", "exp_month": 12,
                "exp_year": 2030, "cvc": "123"},
    "attribution": {"utm_source": "newsletter", "utm_medium": "email"}
}))]
pub(super) struct OrderBody {
    /// One of the caller's carts (emptied by the order); not with `items`.
    #[serde(default)]
    #[schema(format = "uuid")]
    cart_id: Option<String>,
    /// 1 to 100 lines (a sku given twice is one line); not with `cart_id`.
    #[serde(default)]
    #[schema(min_items = 1, max_items = 100)]
    items: Option<Vec<LineBody>>,
    /// Where the order goes.
    shipping_address: AddressBody,
    /// How it is paid; payments checks the card.
    #[schema(value_type = PaymentBody)]
    payment: serde_json::Value,
    /// Where the customer came from, when the storefront knows.
    #[serde(default)]
    attribution: Option<AttributionBody>,
    /// Loyalty points to redeem as a discount (held when the order is placed, spent
    /// when it is confirmed, given back when it is cancelled); their worth comes off
    /// the total and must be less than the items cost (something is left to pay).
    #[serde(default)]
    #[schema(minimum = 1, maximum = 1_000_000_000)]
    loyalty_points: Option<i64>,
}

impl OrderBody {
    pub(super) fn try_into_domain(self) -> ApiResult<PlaceOrder> {
        let mut fields = Fields::default();
        let source = match (self.cart_id, self.items) {
            // Cart ids are UUIDs; anything else is no cart's (and never reaches the
            // database, where a NUL would fail PostgreSQL's text).
            (Some(cart_id), None) if !platform::ids::is_uuid(cart_id.trim()) => {
                fields.push("cart_id", "is not a cart's id");
                None
            }
            (Some(cart_id), None) => Some(OrderSource::Cart(cart_id.trim().to_owned())),
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
        let loyalty_points = match self.loyalty_points {
            None => None,
            Some(points) => match u32::try_from(points) {
                Ok(points) if (1..=1_000_000_000).contains(&points) => Some(points),
                _ => {
                    fields.push("loyalty_points", "must be between 1 and 1000000000");
                    None
                }
            },
        };
        match (source, address, fields.is_ok()) {
            (Some(source), Some(shipping_address), true) => Ok(PlaceOrder {
                source,
                shipping_address,
                payment: PaymentMethod::new(self.payment),
                attribution,
                loyalty_points,
            }),
            _ => Err(fields.into_problem()),
        }
    }
}

/// `GET /orders` filters (the paging is [`PageQuery`]'s, documented beside it).
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(super) struct ListQuery {
    /// Only orders in this status.
    #[serde(default)]
    #[param(value_type = Option<Status>)]
    status: Option<String>,
    #[serde(flatten)]
    #[param(ignore)]
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
#[derive(Deserialize, Default, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"reason": "ordered by mistake"}))]
pub(super) struct CancelBody {
    /// Why (kept in the history; trimmed to 200 characters). Absent: who cancelled.
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
#[derive(Deserialize, Default, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"amount": {"amount": 500, "currency": "USD"}}))]
pub(super) struct RefundBody {
    /// More than zero, in the order's currency. Absent: all that is left.
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
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"status": "shipped", "reason": "handed to the courier"}))]
pub(super) struct StatusBody {
    /// The status to move to; only moves the order's state machine allows.
    #[schema(value_type = Status)]
    status: String,
    /// Why (kept in the history; trimmed to 200 characters). Absent: names the status.
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

/// A reason as given: control characters left out (a NUL would fail PostgreSQL's
/// text, and none belongs in a history line), trimmed, at most 200 characters, none if
/// blank.
fn given_reason(reason: Option<String>) -> Option<String> {
    reason
        .map(|r| {
            let printable: String = r.chars().filter(|c| !c.is_control()).collect();
            printable.trim().chars().take(200).collect::<String>()
        })
        .filter(|r| !r.is_empty())
}

/// A JSON body that may be left out entirely, or be `null` (then every field takes its
/// default).
pub(super) fn optional_body<T: serde::de::DeserializeOwned + Default>(
    bytes: &[u8],
) -> ApiResult<T> {
    if bytes.trim_ascii().is_empty() || bytes.trim_ascii() == b"null" {
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
    fn loyalty_points_are_optional_and_positive() {
        let with_points = |points: serde_json::Value| {
            let body = serde_json::json!({
                "items": [{"sku": "A-1", "quantity": 1}],
                "shipping_address": {"name": "Ann", "line1": "1 Main St", "city": "Springfield",
                                     "postal_code": "12345", "country": "US"},
                "payment": {"method": "card"},
                "loyalty_points": points,
            });
            let bytes = serde_json::to_vec(&body).expect("json");
            platform::http::extract::parse_json::<OrderBody>(&bytes)?.try_into_domain()
        };
        let placed = with_points(serde_json::json!(250)).unwrap_or_else(|p| panic!("{p:?}"));
        assert_eq!(placed.loyalty_points, Some(250));
        let none = with_points(serde_json::Value::Null).unwrap_or_else(|p| panic!("{p:?}"));
        assert_eq!(none.loyalty_points, None);
        for bad in [0, -5, 1_000_000_001, i64::MAX] {
            let problem = with_points(serde_json::json!(bad)).expect_err("refused");
            assert_eq!(problem_fields(&problem), ["loyalty_points"], "{bad}");
        }
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
        assert_eq!(
            given_reason(Some("la\u{0}te\n".into())).as_deref(),
            Some("late")
        );
        assert_eq!(given_reason(Some("\u{0}\u{7}".into())), None);
    }

    #[test]
    fn a_left_out_or_null_body_takes_the_defaults() {
        for body in [&b""[..], b"  \n", b"null", b" null "] {
            let cancel = optional_body::<CancelBody>(body).unwrap_or_else(|p| panic!("{p:?}"));
            assert_eq!(cancel.reason_or(|| "default".into()), "default");
        }
        let given = optional_body::<CancelBody>(br#"{"reason": "late"}"#).expect("a body");
        assert_eq!(given.reason_or(|| "default".into()), "late");
        let Err(unknown) = optional_body::<CancelBody>(br#"{"why": "late"}"#) else {
            panic!("an unknown field is refused");
        };
        assert_eq!(unknown.status, 422);
    }

    #[test]
    fn a_cart_id_must_be_a_cart_s_id() {
        let body = serde_json::json!({
            "cart_id": "nope\u{0}",
            "shipping_address": {"name": "Ann", "line1": "1 Main St", "city": "Springfield",
                                 "postal_code": "12345", "country": "US"},
            "payment": {"method": "card"},
        });
        let bytes = serde_json::to_vec(&body).expect("json");
        let problem = platform::http::extract::parse_json::<OrderBody>(&bytes)
            .and_then(OrderBody::try_into_domain)
            .expect_err("not a cart id");
        assert_eq!(problem_fields(&problem), ["cart_id"]);
    }
}
