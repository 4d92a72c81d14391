//! Payments' HTTP surface: API.md's Payments table; invoices and credit notes are in
//! `invoices`.
//!
//! Card fields are read as raw JSON values and checked here, so a malformed card
//! number is reported by field name without the framework echoing the value back in
//! its error text. No handler logs its input.

mod fraud;
mod invoices;

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
    NewPayment, PaymentMethodView, PaymentSource, PaymentView, PaymentsApp, PaymentsError,
    RefundOutcome, TransactionView,
};
use crate::domain::{
    CardDetails, CardNumber, Country, Cvc, ExpMonth, ExpYear, Expiry, FailureReason, Invalid,
    Money, PaymentOrigin, payable,
};

/// The scope a service client needs to create payments, read them and refund.
pub const SCOPE_WRITE: &str = "payments:write";

/// Who manages payments: admins, and service clients holding [`SCOPE_WRITE`] (they
/// create payments, read any and refund). Owners see their own.
pub const POLICY: Policy = Policy::managed_by(SCOPE_WRITE);

/// Creating a payment needs an `Idempotency-Key`; the card fields stay out of its
/// stored fingerprint.
const CREATE_IDEMPOTENCY: Idempotency =
    Idempotency::required().redacting(&["/method/card_number", "/method/cvc"]);

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

/// `method` of a new payment: `{method: "card", card_number, exp_month, exp_year,
/// cvc}` or `{method: "saved", payment_method_id}`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"method": "card", "card_number": "4242424242424242", "exp_month": 12, "exp_year": 2030, "cvc": "123"}))]
struct MethodBody {
    /// `card` (the card's fields follow) or `saved` (a saved card's id follows).
    #[schema(pattern = "^(card|saved)$")]
    method: String,
    /// The card number (12 to 19 digits, Luhn-valid), with `card`.
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

fn source_from(fields: &mut Fields, method: MethodBody, now: i64) -> Option<PaymentSource> {
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
            card_from(fields, "method.", &raw, now).map(PaymentSource::Card)
        }
        "saved" => {
            for (field, given) in [
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
    let source = source_from(&mut fields, body.method, app.clock().now_millis());
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
    Ok(Json(app.refund(&id, amount, &caller.subject).await?))
}

/// Saved cards belong to people signed in, not to service clients.
fn require_user(caller: &Principal) -> ApiResult<()> {
    if caller.kind != PrincipalKind::User {
        return Err(Problem::forbidden("saved cards belong to signed-in users"));
    }
    Ok(())
}

/// A card to save: all four fields are required.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"card_number": "4242424242424242", "exp_month": 12, "exp_year": 2030, "cvc": "123"}))]
struct CardBody {
    /// 12 to 19 digits, Luhn-valid.
    #[serde(default)]
    #[schema(value_type = String, pattern = "^[0-9]{12,19}$")]
    card_number: Option<Value>,
    /// 1 to 12.
    #[serde(default)]
    #[schema(value_type = i64, minimum = 1, maximum = 12)]
    exp_month: Option<Value>,
    /// Four digits, not in the past.
    #[serde(default)]
    #[schema(value_type = i64, minimum = 1000, maximum = 9999)]
    exp_year: Option<Value>,
    /// 3 or 4 digits.
    #[serde(default)]
    #[schema(value_type = String, pattern = "^[0-9]{3,4}$")]
    cvc: Option<Value>,
}

/// Saves a card for the signed-in user (a provider token and the last four digits).
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
        card_from(&mut fields, "", &raw, app.clock().now_millis()),
        fields.is_ok(),
    ) else {
        return Err(fields.into_problem());
    };
    let method = app.save_card(&caller.subject, &card).await?;
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
        (status = 204, description = "Forgotten"),
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
