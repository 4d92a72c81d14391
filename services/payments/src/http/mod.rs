//! Payments' HTTP surface: API.md's Payments table; invoices and credit notes are in
//! `invoices`.
//!
//! Card fields are read as raw JSON values and checked here, so a malformed card
//! number is reported by field name without the framework echoing the value back in
//! its error text. No handler logs its input.
//!
//! A card comes either as its raw fields (the sandbox only) or as a `token` the
//! provider's script made in the browser; with a provider that takes no card numbers
//! (Stripe) raw fields are refused by name, before anything of them is read.

mod fraud;
mod invoices;
mod webhooks;

use axum::extract::{Path, State};
use axum::middleware::{from_fn, from_fn_with_state};
use axum::response::Response;
use axum::{Extension, Router};
use platform::auth::{Authenticator, Policy, Principal, PrincipalKind};
use platform::http::api::{ApiRouter, UtoipaMethodRouterExt, problems, routes};
use platform::http::{
    ClientIp, Fields, Json, List, PageQuery, Problem, Query, created, no_content,
};
use platform::idempotency::{Idempotency, IdempotencyStore, idempotent};
use platform::tasks::Tasks;
use serde::Deserialize;
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};

use crate::app::{
    CardSource, NewPayment, PaymentMethodView, PaymentSource, PaymentView, PaymentsApp,
    PaymentsError, RAW_CARDS_REFUSED, RefundOutcome, TransactionView,
};
use crate::domain::{
    CardDetails, CardNumber, CardTokenRef, Country, Cvc, ExpMonth, ExpYear, Expiry, FailureReason,
    Invalid, Money, PaymentOrigin, payable,
};

/// The scope a service client needs to create payments, read them and refund.
pub const SCOPE_WRITE: &str = "payments:write";

/// Who manages payments: admins, and service clients holding [`SCOPE_WRITE`] (they
/// create payments, read any and refund). Owners see their own.
pub const POLICY: Policy = Policy::managed_by(SCOPE_WRITE);

/// Creating a payment needs an `Idempotency-Key`; the card fields (and a token, which
/// may be a single-use stand-in for them) stay out of its stored fingerprint.
const CREATE_IDEMPOTENCY: Idempotency =
    Idempotency::required().redacting(&["/method/card_number", "/method/cvc", "/method/token"]);

/// The routes and their documentation, declared without values. Creating a payment
/// needs an `Idempotency-Key`; a refund honours one when sent.
///
/// What goes to the provider and then to the database — creating a payment, a refund,
/// saving a card — runs to its end on the service's tasks ([`platform::tasks::detach`]),
/// with its idempotency record: a caller that hangs up mid-refund no longer leaves money
/// refunded at the provider with no ledger entry, nor a key claimed with no answer.
pub fn api() -> ApiRouter<PaymentsApp> {
    ApiRouter::new()
        .routes(routes!(create_payment).map(|route| {
            route
                .route_layer(from_fn_with_state(CREATE_IDEMPOTENCY, idempotent))
                .route_layer(from_fn(platform::tasks::detach))
                .route_layer(from_fn(platform::auth::require_caller))
        }))
        .routes(routes!(get_payment))
        .routes(routes!(refund).map(|route| {
            route
                .route_layer(from_fn_with_state(Idempotency::optional(), idempotent))
                .route_layer(from_fn(platform::tasks::detach))
                .route_layer(from_fn(platform::auth::require_caller))
        }))
        .routes(routes!(list_payment_methods))
        .routes(
            routes!(save_payment_method).map(|route| route.layer(from_fn(platform::tasks::detach))),
        )
        .routes(routes!(get_payment_method, delete_payment_method))
        .routes(routes!(transactions))
        .merge(invoices::api())
        .merge(fraud::api())
        .merge(webhooks::api())
}

/// The routes with the service's state, behind the authentication middleware.
pub fn router(app: PaymentsApp, authenticator: Authenticator, tasks: Tasks) -> Router {
    let idempotency = IdempotencyStore::new(app.db().clone());
    let (routes, _) = api().split_for_parts();
    routes
        .with_state(app)
        .layer(Extension(idempotency))
        .layer(Extension(tasks))
        .layer(from_fn_with_state(
            authenticator,
            platform::auth::authenticate,
        ))
}

impl From<PaymentsError> for Problem {
    fn from(err: PaymentsError) -> Self {
        match &err {
            PaymentsError::NotFound => Problem::not_found("payment"),
            PaymentsError::OrderHasPayment => {
                Problem::conflict("order-has-payment", err.to_string())
            }
            PaymentsError::UnknownPaymentMethod | PaymentsError::PaymentMethodExpired => {
                Problem::invalid_field("method.payment_method_id", err.to_string())
            }
            PaymentsError::UnknownCardToken => {
                Problem::invalid_field("method.token", err.to_string())
            }
            PaymentsError::RawCardRefused => {
                Problem::invalid_field("method.card_number", err.to_string())
            }
            PaymentsError::NothingCaptured => Problem::conflict("not-captured", err.to_string()),
            PaymentsError::OverRefund { refundable } => {
                Problem::conflict("over-refund", err.to_string()).with("refundable", *refundable)
            }
            PaymentsError::InvalidAmount(message) => Problem::invalid_field("amount", *message),
            PaymentsError::Mismatch(_) => Problem::conflict("payment-mismatch", err.to_string()),
            PaymentsError::WrongStatus(_) => Problem::conflict("payment-status", err.to_string()),
            PaymentsError::Provider(decline) if decline.reason == FailureReason::ProviderError => {
                tracing::warn!(detail = %decline.detail, "payment provider error");
                Problem::unavailable("the payment provider is unavailable")
            }
            PaymentsError::Provider(decline) => {
                Problem::conflict("payment-declined", decline.detail.clone()).with(
                    "reason",
                    serde_json::to_value(decline.reason).unwrap_or_default(),
                )
            }
            PaymentsError::Unanswered(decline, _) => {
                tracing::warn!(detail = %decline.detail, "payment provider did not answer");
                Problem::unavailable(err.to_string())
            }
            PaymentsError::CallPending(_) => {
                Problem::conflict("provider-call-pending", err.to_string())
            }
            PaymentsError::ReviewNotFound => Problem::not_found("fraud review"),
            PaymentsError::AlreadyDecided(_) => {
                Problem::conflict("review-decided", err.to_string())
            }
            PaymentsError::Sql(_) => Problem::unexpected(&err),
        }
    }
}

type ApiResult<T> = Result<T, Problem>;

/// An id of another service (order, user): 1 to 64 visible characters.
fn foreign_id(raw: &str) -> Result<String, Invalid> {
    let trimmed = raw.trim();
    if trimmed.is_empty() || trimmed.len() > 64 || trimmed.chars().any(char::is_control) {
        return Err(Invalid("must be 1 to 64 characters"));
    }
    Ok(trimmed.to_owned())
}

/// A card field given as a JSON string (or, leniently, a number of digits). The value
/// is never put in the error.
fn text_of(value: Option<&Value>) -> Result<String, Invalid> {
    match value {
        None => Err(Invalid("is required")),
        Some(Value::String(text)) => Ok(text.clone()),
        Some(Value::Number(number)) if number.is_u64() => Ok(number.to_string()),
        Some(_) => Err(Invalid("must be a string of digits")),
    }
}

/// A provider's card token given as a JSON string. The value is never put in the
/// error.
fn token_of(value: &Value) -> Result<CardTokenRef, Invalid> {
    match value {
        Value::String(text) => CardTokenRef::try_from(text.as_str()),
        _ => Err(Invalid(
            "must be a string (a token of the payment provider)",
        )),
    }
}

/// A whole number given as a JSON number (or a string of digits).
fn integer_of(value: Option<&Value>) -> Result<i64, Invalid> {
    let number = match value {
        None => return Err(Invalid("is required")),
        Some(Value::Number(number)) => number.as_i64(),
        Some(Value::String(text)) => text.trim().parse().ok(),
        Some(_) => None,
    };
    number.ok_or(Invalid("must be a whole number"))
}

/// The raw card fields of a request body.
#[derive(Default)]
struct RawCard {
    card_number: Option<Value>,
    exp_month: Option<Value>,
    exp_year: Option<Value>,
    cvc: Option<Value>,
}

/// Checks a card, recording errors against `prefix` + the field name.
fn card_from(fields: &mut Fields, prefix: &str, raw: &RawCard, now: i64) -> Option<CardDetails> {
    let name = |field: &str| format!("{prefix}{field}");
    let number = fields.check(
        &name("card_number"),
        text_of(raw.card_number.as_ref()).and_then(|t| CardNumber::try_from(t.as_str())),
    );
    let month = fields.check(
        &name("exp_month"),
        integer_of(raw.exp_month.as_ref()).and_then(ExpMonth::try_from),
    );
    let year = fields.check(
        &name("exp_year"),
        integer_of(raw.exp_year.as_ref()).and_then(ExpYear::try_from),
    );
    let expiry = match (month, year) {
        (Some(month), Some(year)) => {
            fields.check(&name("exp_year"), Expiry::current(month, year, now))
        }
        _ => None,
    };
    let cvc = fields.check(
        &name("cvc"),
        text_of(raw.cvc.as_ref()).and_then(|t| Cvc::try_from(t.as_str())),
    );
    Some(CardDetails {
        number: number?,
        expiry: expiry?,
        cvc: cvc?,
    })
}

/// A card given now, as a provider's token or (when the provider takes them) its raw
/// fields: exactly one of `token` and `card_number`. Errors are recorded against
/// `prefix` + the field name.
fn card_source_from(
    fields: &mut Fields,
    prefix: &str,
    token: Option<Value>,
    raw: &RawCard,
    now: i64,
    takes_raw_cards: bool,
) -> Option<CardSource> {
    let name = |field: &str| format!("{prefix}{field}");
    let Some(token) = token else {
        if takes_raw_cards {
            return card_from(fields, prefix, raw, now).map(CardSource::Raw);
        }
        // Nothing of the card is read: not even a malformed number is echoed back as
        // one, since none should have been sent.
        if raw.card_number.is_some() {
            fields.push(&name("card_number"), RAW_CARDS_REFUSED);
        } else {
            fields.push(
                &name("token"),
                "is required: the card as the payment provider's script tokenized it",
            );
        }
        return None;
    };
    if raw.card_number.is_some() {
        fields.push(
            &name("token"),
            "give either `token` or `card_number`, not both",
        );
        if !takes_raw_cards {
            fields.push(&name("card_number"), RAW_CARDS_REFUSED);
        }
    }
    for (field, given) in [
        ("exp_month", raw.exp_month.is_some()),
        ("exp_year", raw.exp_year.is_some()),
        ("cvc", raw.cvc.is_some()),
    ] {
        if given {
            fields.push(
                &name(field),
                "is only allowed with `card_number`: a token carries its card's expiry",
            );
        }
    }
    fields
        .check(&name("token"), token_of(&token))
        .map(CardSource::Token)
}

/// `method` of a new payment: `{method: "card", token}` (a provider's token),
/// `{method: "card", card_number, exp_month, exp_year, cvc}` (the sandbox only) or
/// `{method: "saved", payment_method_id}`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"method": "card", "token": "pm_card_visa"}))]
struct MethodBody {
    /// `card` (a token or the card's fields follow) or `saved` (a saved card's id
    /// follows).
    #[schema(pattern = "^(card|saved)$")]
    method: String,
    /// With `card`, instead of the card's fields: the card as the payment provider's
    /// script tokenized it in the browser (Stripe.js: a PaymentMethod id `pm_...` or a
    /// token `tok_...`), 1 to 255 printable ASCII characters without spaces. The
    /// sandbox takes its own tokens and Stripe's test tokens (`tok_visa`,
    /// `pm_card_visa`, `tok_chargeDeclined`…). Not with `card_number`.
    #[serde(default)]
    #[schema(value_type = Option<String>, min_length = 1, max_length = 255, pattern = "^[!-~]{1,255}$")]
    token: Option<Value>,
    /// The card number (12 to 19 digits, Luhn-valid), with `card` and no `token`;
    /// refused (422) with a provider that takes no card numbers (Stripe), where the
    /// browser tokenizes the card.
    #[serde(default)]
    #[schema(value_type = Option<String>, pattern = "^[0-9]{12,19}$")]
    card_number: Option<Value>,
    /// 1 to 12, with `card`.
    #[serde(default)]
    #[schema(value_type = Option<i64>, minimum = 1, maximum = 12)]
    exp_month: Option<Value>,
    /// Four digits, not in the past (a past one is 422), with `card`.
    #[serde(default)]
    #[schema(value_type = Option<i64>, minimum = 1000, maximum = 9999)]
    exp_year: Option<Value>,
    /// 3 or 4 digits, with `card`.
    #[serde(default)]
    #[schema(value_type = Option<String>, pattern = "^[0-9]{3,4}$")]
    cvc: Option<Value>,
    /// A saved card of the payer, with `saved`.
    #[serde(default)]
    payment_method_id: Option<String>,
    /// The card's billing country, ISO 3166-1 alpha-2 (either case), with either:
    /// compared with the shipping country by the fraud rules.
    #[serde(default)]
    #[schema(pattern = "^[A-Za-z]{2}$")]
    billing_country: Option<String>,
}

/// An optional country code; a wrong one is an error of `field`.
fn country(fields: &mut Fields, field: &str, raw: Option<String>) -> Option<String> {
    fields
        .check(field, raw.map(Country::try_from).transpose())
        .flatten()
        .map(Country::into_string)
}

fn source_from(
    fields: &mut Fields,
    method: MethodBody,
    now: i64,
    takes_raw_cards: bool,
) -> Option<PaymentSource> {
    match method.method.as_str() {
        "card" => {
            if method.payment_method_id.is_some() {
                fields.push(
                    "method.payment_method_id",
                    "is only allowed with method `saved`",
                );
            }
            let raw = RawCard {
                card_number: method.card_number,
                exp_month: method.exp_month,
                exp_year: method.exp_year,
                cvc: method.cvc,
            };
            card_source_from(fields, "method.", method.token, &raw, now, takes_raw_cards)
                .map(PaymentSource::Card)
        }
        "saved" => {
            for (field, given) in [
                ("method.token", method.token.is_some()),
                ("method.card_number", method.card_number.is_some()),
                ("method.exp_month", method.exp_month.is_some()),
                ("method.exp_year", method.exp_year.is_some()),
                ("method.cvc", method.cvc.is_some()),
            ] {
                if given {
                    fields.push(field, "is only allowed with method `card`");
                }
            }
            let id = method.payment_method_id.unwrap_or_default();
            if !platform::ids::is_uuid(id.trim()) {
                fields.push("method.payment_method_id", "must be a saved card's id");
                return None;
            }
            Some(PaymentSource::Saved(id.trim().to_owned()))
        }
        _ => {
            fields.push("method.method", "must be `card` or `saved`");
            None
        }
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct CreatePaymentBody {
    /// The order it pays (1 to 64 characters).
    #[schema(min_length = 1, max_length = 64)]
    order_id: String,
    /// What to authorize: more than zero, in a known currency.
    amount: Money,
    /// How to pay.
    method: MethodBody,
    /// The owner, when a service or an admin pays on a user's behalf.
    #[serde(default)]
    user_id: Option<String>,
    /// Where the order ships, ISO 3166-1 alpha-2 (either case); ordering sends its
    /// order's shipping country. Compared with the billing country by the fraud rules.
    #[serde(default)]
    #[schema(pattern = "^[A-Za-z]{2}$")]
    shipping_country: Option<String>,
}

/// Authorizes a payment for an order (the saga's step 3; also for admins).
#[utoipa::path(
    post,
    path = "/api/v1/payments",
    request_body = CreatePaymentBody,
    params(("Idempotency-Key" = String, Header, pattern = "^[ -~\t]{1,255}$", description = "Required: a repeat with the same body gets the stored answer.")),
    responses(
        (status = 201, description = "Authorized, or declined (its `status` and `failure_reason` say)", body = PaymentView,
            headers(("Location" = String, description = "The new payment"))),
        problems::BadRequest, problems::Unauthorized, problems::Forbidden, problems::Conflict,
        problems::Invalid, problems::Unavailable,
    ),
)]
#[tracing::instrument(skip_all)]
async fn create_payment(
    State(app): State<PaymentsApp>,
    caller: Principal,
    client: ClientIp,
    Json(body): Json<CreatePaymentBody>,
) -> ApiResult<Response> {
    // A user pays for themself; a service client only when it manages payments.
    if caller.kind == PrincipalKind::Client {
        POLICY.require_manage(&caller)?;
    }
    let mut fields = Fields::default();
    let owner = match body.user_id {
        Some(user) if user.trim() != caller.subject => {
            if !POLICY.may_manage(&caller) {
                return Err(Problem::forbidden(
                    "only admins and services may pay on another user's behalf",
                ));
            }
            fields.check("user_id", foreign_id(&user))
        }
        _ => Some(caller.subject.clone()),
    };
    let order_id = fields.check("order_id", foreign_id(&body.order_id));
    let amount = fields.check("amount", payable(body.amount.amount, &body.amount.currency));
    let billing_country = country(
        &mut fields,
        "method.billing_country",
        body.method.billing_country.clone(),
    );
    let shipping_country = country(&mut fields, "shipping_country", body.shipping_country);
    let source = source_from(
        &mut fields,
        body.method,
        app.clock().now_millis(),
        app.takes_raw_cards(),
    );
    let (Some(user_id), Some(order_id), Some(amount), Some(source), true) =
        (owner, order_id, amount, source, fields.is_ok())
    else {
        return Err(fields.into_problem());
    };
    let payment = app
        .create_payment(NewPayment {
            order_id,
            user_id,
            amount,
            source,
            origin: PaymentOrigin {
                client: client.0.is_some().then(|| client.key()),
                billing_country,
                shipping_country,
            },
        })
        .await?;
    Ok(created(
        &format!("/api/v1/payments/{}", payment.id),
        payment,
    ))
}

/// A payment: its owner's, or any for admins and payment services.
#[utoipa::path(
    get,
    path = "/api/v1/payments/{id}",
    params(("id" = String, Path, description = "The payment's id")),
    responses(
        (status = 200, description = "The payment", body = PaymentView),
        problems::Unauthorized, problems::NotFound,
    ),
)]
#[tracing::instrument(skip_all)]
async fn get_payment(
    State(app): State<PaymentsApp>,
    caller: Principal,
    Path(id): Path<String>,
) -> ApiResult<Json<PaymentView>> {
    if !platform::ids::is_uuid(&id) {
        return Err(Problem::not_found("payment"));
    }
    let payment = app.payment(&id).await?;
    // The owner, an admin, or a service holding the write scope (it created or
    // refunds them); anyone else learns nothing, not even that it exists.
    if !POLICY.may_see(&caller, &payment.user_id) {
        return Err(Problem::not_found("payment"));
    }
    Ok(Json(payment))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct RefundBody {
    /// Absent: everything captured and not yet refunded.
    #[serde(default)]
    amount: Option<Money>,
}

/// Refunds part or the rest of what was captured; never more than that in total.
#[utoipa::path(
    post,
    path = "/api/v1/payments/{id}/refund",
    request_body = RefundBody,
    params(("id" = String, Path, description = "The payment's id"), ("Idempotency-Key" = Option<String>, Header, nullable = false, pattern = "^[ -~\t]{1,255}$", description = "Optional: a repeat with the same body gets the stored answer.")),
    responses(
        (status = 200, description = "Refunded", body = RefundOutcome),
        problems::Unauthorized, problems::Forbidden, problems::NotFound, problems::Conflict,
        problems::Invalid, problems::Unavailable,
    ),
)]
#[tracing::instrument(skip_all)]
async fn refund(
    State(app): State<PaymentsApp>,
    caller: Principal,
    Path(id): Path<String>,
    headers: axum::http::HeaderMap,
    Json(body): Json<RefundBody>,
) -> ApiResult<Json<RefundOutcome>> {
    POLICY.require_manage(&caller)?;
    if !platform::ids::is_uuid(&id) {
        return Err(Problem::not_found("payment"));
    }
    let amount = body
        .amount
        .map(|m| payable(m.amount, &m.currency))
        .transpose()
        .map_err(|e| Problem::invalid_field("amount", e.to_string()))?;
    // A retry with the same key after an error (the middleware forgets a key whose
    // answer was a 5xx) is the same refund at the provider, never a second one.
    let key = headers
        .get(platform::idempotency::HEADER)
        .and_then(|v| v.to_str().ok());
    Ok(Json(
        app.refund_once(&id, amount, &caller.subject, key).await?,
    ))
}

/// Saved cards belong to people signed in, not to service clients.
fn require_user(caller: &Principal) -> ApiResult<()> {
    if caller.kind != PrincipalKind::User {
        return Err(Problem::forbidden("saved cards belong to signed-in users"));
    }
    Ok(())
}

/// A card to save: a provider's `token`, or (the sandbox only) all four card fields.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"token": "pm_card_visa"}))]
struct CardBody {
    /// The card as the payment provider's script tokenized it in the browser
    /// (Stripe.js: `pm_...` or `tok_...`); not with `card_number`.
    #[serde(default)]
    #[schema(value_type = Option<String>, min_length = 1, max_length = 255, pattern = "^[!-~]{1,255}$")]
    token: Option<Value>,
    /// 12 to 19 digits, Luhn-valid, without `token`; refused (422) with a provider
    /// that takes no card numbers (Stripe).
    #[serde(default)]
    #[schema(value_type = Option<String>, pattern = "^[0-9]{12,19}$")]
    card_number: Option<Value>,
    /// 1 to 12, with `card_number`.
    #[serde(default)]
    #[schema(value_type = Option<i64>, minimum = 1, maximum = 12)]
    exp_month: Option<Value>,
    /// Four digits, not in the past, with `card_number`.
    #[serde(default)]
    #[schema(value_type = Option<i64>, minimum = 1000, maximum = 9999)]
    exp_year: Option<Value>,
    /// 3 or 4 digits, with `card_number`.
    #[serde(default)]
    #[schema(value_type = Option<String>, pattern = "^[0-9]{3,4}$")]
    cvc: Option<Value>,
}

/// Saves a card for the signed-in user: what the provider answered for it (its id
/// for the card, brand, last four digits and expiry), never what was typed.
#[utoipa::path(
    post,
    path = "/api/v1/payment-methods",
    request_body = CardBody,
    responses(
        (status = 201, description = "Saved", body = PaymentMethodView,
            headers(("Location" = String, description = "The saved card"))),
        problems::Unauthorized, problems::Forbidden, problems::Conflict, problems::Invalid,
        problems::Unavailable,
    ),
)]
#[tracing::instrument(skip_all)]
async fn save_payment_method(
    State(app): State<PaymentsApp>,
    caller: Principal,
    Json(body): Json<CardBody>,
) -> ApiResult<Response> {
    require_user(&caller)?;
    let mut fields = Fields::default();
    let raw = RawCard {
        card_number: body.card_number,
        exp_month: body.exp_month,
        exp_year: body.exp_year,
        cvc: body.cvc,
    };
    let (Some(card), true) = (
        card_source_from(
            &mut fields,
            "",
            body.token,
            &raw,
            app.clock().now_millis(),
            app.takes_raw_cards(),
        ),
        fields.is_ok(),
    ) else {
        return Err(fields.into_problem());
    };
    let method = match app.save_card(&caller.subject, &card).await {
        Ok(method) => method,
        Err(err @ PaymentsError::UnknownCardToken) => {
            return Err(Problem::invalid_field("token", err.to_string()));
        }
        Err(err @ PaymentsError::RawCardRefused) => {
            return Err(Problem::invalid_field("card_number", err.to_string()));
        }
        Err(err) => return Err(err.into()),
    };
    Ok(created(
        &format!("/api/v1/payment-methods/{}", method.id),
        method,
    ))
}

/// The signed-in user's saved cards.
#[utoipa::path(
    get,
    path = "/api/v1/payment-methods",
    params(PageQuery),
    responses(
        (status = 200, description = "One page of saved cards", body = List<PaymentMethodView>),
        problems::Unauthorized, problems::Forbidden, problems::Invalid,
    ),
)]
#[tracing::instrument(skip_all)]
async fn list_payment_methods(
    State(app): State<PaymentsApp>,
    caller: Principal,
    Query(query): Query<PageQuery>,
) -> ApiResult<Json<List<PaymentMethodView>>> {
    require_user(&caller)?;
    let page = query.page()?;
    let rows = app
        .payment_methods(&caller.subject, page.after.as_deref(), page.fetch_limit())
        .await?;
    Ok(Json(List::from_rows(rows, &page, |m| m.id.clone())))
}

/// One of the signed-in user's saved cards.
#[utoipa::path(
    get,
    path = "/api/v1/payment-methods/{id}",
    params(("id" = String, Path, description = "The saved card's id")),
    responses(
        (status = 200, description = "The saved card", body = PaymentMethodView),
        problems::Unauthorized, problems::Forbidden, problems::NotFound,
    ),
)]
#[tracing::instrument(skip_all)]
async fn get_payment_method(
    State(app): State<PaymentsApp>,
    caller: Principal,
    Path(id): Path<String>,
) -> ApiResult<Json<PaymentMethodView>> {
    require_user(&caller)?;
    if !platform::ids::is_uuid(&id) {
        return Err(Problem::not_found("payment method"));
    }
    match app.payment_method(&caller.subject, &id).await {
        Ok(method) => Ok(Json(method)),
        Err(PaymentsError::UnknownPaymentMethod) => Err(Problem::not_found("payment method")),
        Err(err) => Err(err.into()),
    }
}

/// Forgets one of the signed-in user's saved cards.
#[utoipa::path(
    delete,
    path = "/api/v1/payment-methods/{id}",
    params(("id" = String, Path, description = "The saved card's id")),
    responses(
        (status = 204, description = "Forgotten, and detached from the customer at the provider"),
        problems::Unauthorized, problems::Forbidden, problems::NotFound,
    ),
)]
#[tracing::instrument(skip_all)]
async fn delete_payment_method(
    State(app): State<PaymentsApp>,
    caller: Principal,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    require_user(&caller)?;
    if !platform::ids::is_uuid(&id) || !app.delete_payment_method(&caller.subject, &id).await? {
        return Err(Problem::not_found("payment method"));
    }
    Ok(no_content())
}

/// `GET /api/v1/transactions` query: paging plus an optional payment.
#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct TransactionsQuery {
    /// Items per page, 1 to 100 (20 when absent).
    #[param(minimum = 1, maximum = 100)]
    limit: Option<u32>,
    /// Where the previous page ended (its `next_cursor`).
    cursor: Option<String>,
    /// Only this payment's rows.
    payment_id: Option<String>,
}

/// The ledger: every authorization, capture, void and refund (admins).
#[utoipa::path(
    get,
    path = "/api/v1/transactions",
    params(TransactionsQuery),
    responses(
        (status = 200, description = "One page of ledger rows", body = List<TransactionView>),
        problems::Unauthorized, problems::Forbidden, problems::Invalid,
    ),
)]
#[tracing::instrument(skip_all)]
async fn transactions(
    State(app): State<PaymentsApp>,
    caller: Principal,
    Query(query): Query<TransactionsQuery>,
) -> ApiResult<Json<List<TransactionView>>> {
    caller.require_admin()?;
    let page = PageQuery {
        limit: query.limit,
        cursor: query.cursor,
    }
    .page()?;
    let rows = app
        .transactions(
            query.payment_id.as_deref().filter(|id| !id.is_empty()),
            page.after.as_deref(),
            page.fetch_limit(),
        )
        .await?;
    Ok(Json(List::from_rows(rows, &page, |t| t.id.clone())))
}

#[cfg(test)]
mod tests {
    use platform::http::FieldError;
    use serde_json::json;

    use super::*;

    /// 2026-11-22T10:00:00Z.
    const NOW: i64 = 1_795_341_600_000;

    fn method(body: Value) -> MethodBody {
        serde_json::from_value(body).expect("method body")
    }

    /// The source, or the fields named in the 422 with their messages.
    fn source(body: Value, takes_raw_cards: bool) -> Result<PaymentSource, Vec<FieldError>> {
        let mut fields = Fields::default();
        let source = source_from(&mut fields, method(body), NOW, takes_raw_cards);
        match (source, fields.is_ok()) {
            (Some(source), true) => Ok(source),
            _ => Err(fields.into_problem().errors),
        }
    }

    fn named(errors: &[FieldError]) -> Vec<&str> {
        errors.iter().map(|e| e.field.as_str()).collect()
    }

    fn raw_card() -> Value {
        json!({"method": "card", "card_number": "4242424242424242", "exp_month": 12,
               "exp_year": 2030, "cvc": "123"})
    }

    #[test]
    fn a_token_pays_with_either_provider() {
        for takes_raw_cards in [true, false] {
            for token in [
                "tok_visa",
                "pm_card_visa",
                "pm_1NaBc",
                "sbx_tok_ok_visa_4242_122030_ab",
            ] {
                let got = source(json!({"method": "card", "token": token}), takes_raw_cards);
                assert!(
                    matches!(&got, Ok(PaymentSource::Card(CardSource::Token(t))) if t.as_str() == token),
                    "{token}: {got:?}"
                );
            }
        }
        let with_country = source(
            json!({"method": "card", "token": "tok_visa", "billing_country": "us"}),
            false,
        );
        assert!(with_country.is_ok(), "{with_country:?}");
    }

    #[test]
    fn a_token_is_printable_ascii_without_spaces() {
        let long = "t".repeat(256);
        for bad in [
            json!(""),
            json!("tok visa"),
            json!("tok_\u{e9}"),
            json!(long),
            json!(42),
            json!(["tok_visa"]),
        ] {
            let got = source(json!({"method": "card", "token": bad}), true);
            let Err(errors) = got else {
                panic!("{bad}: {got:?}");
            };
            assert_eq!(named(&errors), ["method.token"], "{bad}");
            if let Value::String(text) = &bad {
                assert!(
                    text.is_empty() || !errors[0].message.contains(text.as_str()),
                    "the token is echoed: {errors:?}"
                );
            }
        }
    }

    #[test]
    fn a_token_and_card_fields_do_not_go_together() {
        let mut both = raw_card();
        both["token"] = json!("tok_visa");
        let errors = source(both.clone(), true).expect_err("both");
        assert_eq!(
            named(&errors),
            [
                "method.token",
                "method.exp_month",
                "method.exp_year",
                "method.cvc"
            ]
        );
        let errors = source(both, false).expect_err("both");
        assert!(named(&errors).contains(&"method.card_number"), "{errors:?}");
        let errors = source(
            json!({"method": "card", "token": "tok_visa", "cvc": "123"}),
            true,
        )
        .expect_err("token with a cvc");
        assert_eq!(named(&errors), ["method.cvc"]);
        let errors = source(
            json!({"method": "saved", "token": "tok_visa",
                   "payment_method_id": "0192f1d6-0000-7000-8000-000000000000"}),
            true,
        )
        .expect_err("saved with a token");
        assert_eq!(named(&errors), ["method.token"]);
    }

    #[test]
    fn raw_cards_are_refused_by_a_provider_that_takes_none() {
        assert!(matches!(
            source(raw_card(), true),
            Ok(PaymentSource::Card(CardSource::Raw(_)))
        ));
        let errors = source(raw_card(), false).expect_err("refused");
        assert_eq!(named(&errors), ["method.card_number"]);
        assert!(
            errors[0].message.contains("Stripe.js") && errors[0].message.contains("token"),
            "{errors:?}"
        );
        // Even a malformed number is refused as a number, never checked or echoed.
        let mut typo = raw_card();
        typo["card_number"] = json!("4242424242424241");
        let errors = source(typo, false).expect_err("refused");
        assert_eq!(named(&errors), ["method.card_number"]);
        assert!(!errors[0].message.contains("4242"), "{errors:?}");
        // Neither a token nor a number: the token is what is missing.
        let errors = source(json!({"method": "card"}), false).expect_err("nothing");
        assert_eq!(named(&errors), ["method.token"]);
        let errors = source(json!({"method": "card"}), true).expect_err("nothing");
        assert!(named(&errors).contains(&"method.card_number"), "{errors:?}");
    }

    #[test]
    fn saved_cards_take_a_token_the_same_way() {
        let mut fields = Fields::default();
        let raw = RawCard::default();
        let got = card_source_from(
            &mut fields,
            "",
            Some(json!("pm_card_visa")),
            &raw,
            NOW,
            false,
        );
        assert!(matches!(got, Some(CardSource::Token(_))) && fields.is_ok());
        let raw = RawCard {
            card_number: Some(json!("4242424242424242")),
            ..RawCard::default()
        };
        let mut fields = Fields::default();
        assert!(card_source_from(&mut fields, "", None, &raw, NOW, false).is_none());
        assert_eq!(named(&fields.into_problem().errors), ["card_number"]);
    }

    #[test]
    fn provider_refusals_of_a_card_name_their_field() {
        let unknown = Problem::from(PaymentsError::UnknownCardToken);
        assert_eq!(unknown.status, 422);
        assert_eq!(named(&unknown.errors), ["method.token"]);
        let raw = Problem::from(PaymentsError::RawCardRefused);
        assert_eq!(raw.status, 422);
        assert_eq!(named(&raw.errors), ["method.card_number"]);
    }
}
