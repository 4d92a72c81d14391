//! Payments' HTTP surface: API.md's Payments table.
//!
//! Card fields are read as raw JSON values and checked here, so a malformed card
//! number is reported by field name without the framework echoing the value back in
//! its error text. No handler logs its input.

use axum::Router;
use axum::extract::{Path, Request, State};
use axum::handler::Handler;
use axum::middleware::{Next, from_fn, from_fn_with_state};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use platform::auth::{Authenticator, Policy, Principal, PrincipalKind};
use platform::http::{Fields, Json, List, PageQuery, Problem, Query, created, no_content};
use platform::idempotency::{Idempotency, idempotent};
use platform::tasks::Tasks;
use serde::Deserialize;
use serde_json::Value;

use crate::app::{
    NewPayment, PaymentMethodView, PaymentSource, PaymentView, PaymentsApp, PaymentsError,
    RefundOutcome, TransactionView,
};
use crate::domain::{
    CardDetails, CardNumber, Cvc, ExpMonth, ExpYear, Expiry, FailureReason, Invalid, Money, payable,
};

/// The scope a service client needs to create payments, read them and refund.
pub const SCOPE_WRITE: &str = "payments:write";

/// Who manages payments: admins, and service clients holding [`SCOPE_WRITE`] (they
/// create payments, read any and refund). Owners see their own.
pub const POLICY: Policy = Policy::managed_by(SCOPE_WRITE);

/// The routes, behind the authentication middleware. Creating a payment needs an
/// `Idempotency-Key`; a refund honours one when sent.
///
/// What goes to the provider and then to the database — creating a payment, a refund,
/// saving a card — runs on `tasks` to its end ([`platform::tasks::detach`]), with its
/// idempotency record: a caller that hangs up mid-refund no longer leaves money refunded
/// at the provider with no ledger entry, nor a key claimed with no answer.
pub fn router(app: PaymentsApp, authenticator: Authenticator, tasks: Tasks) -> Router {
    let db = app.db().clone();
    let detached = from_fn_with_state(tasks, platform::tasks::detach);
    Router::new()
        .route(
            "/api/v1/payments",
            post(create_payment)
                .route_layer(from_fn_with_state(
                    Idempotency::required(db.clone())
                        .redacting(&["/method/card_number", "/method/cvc"]),
                    idempotent,
                ))
                .route_layer(detached.clone())
                .route_layer(from_fn(require_caller)),
        )
        .route("/api/v1/payments/{id}", get(get_payment))
        .route(
            "/api/v1/payments/{id}/refund",
            post(refund)
                .route_layer(from_fn_with_state(Idempotency::optional(db), idempotent))
                .route_layer(detached.clone())
                .route_layer(from_fn(require_caller)),
        )
        .route(
            "/api/v1/payment-methods",
            get(list_payment_methods).post(save_payment_method.layer(detached)),
        )
        .route(
            "/api/v1/payment-methods/{id}",
            get(get_payment_method).delete(delete_payment_method),
        )
        .route("/api/v1/transactions", get(transactions))
        .with_state(app)
        .layer(from_fn_with_state(
            authenticator,
            platform::auth::authenticate,
        ))
}

/// 401 before an idempotency key is claimed for a caller that is not signed in.
async fn require_caller(request: Request, next: Next) -> Response {
    if request.extensions().get::<Principal>().is_none() {
        return Problem::unauthorized("authentication required").into_response();
    }
    next.run(request).await
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
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MethodBody {
    method: String,
    #[serde(default)]
    card_number: Option<Value>,
    #[serde(default)]
    exp_month: Option<Value>,
    #[serde(default)]
    exp_year: Option<Value>,
    #[serde(default)]
    cvc: Option<Value>,
    #[serde(default)]
    payment_method_id: Option<String>,
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

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreatePaymentBody {
    order_id: String,
    amount: Money,
    method: MethodBody,
    /// The owner, when a service or an admin pays on a user's behalf.
    #[serde(default)]
    user_id: Option<String>,
}

#[tracing::instrument(skip_all)]
async fn create_payment(
    State(app): State<PaymentsApp>,
    caller: Principal,
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
        })
        .await?;
    Ok(created(
        &format!("/api/v1/payments/{}", payment.id),
        payment,
    ))
}

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

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RefundBody {
    /// Absent: everything captured and not yet refunded.
    #[serde(default)]
    amount: Option<Money>,
}

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

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CardBody {
    #[serde(default)]
    card_number: Option<Value>,
    #[serde(default)]
    exp_month: Option<Value>,
    #[serde(default)]
    exp_year: Option<Value>,
    #[serde(default)]
    cvc: Option<Value>,
}

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
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TransactionsQuery {
    limit: Option<u32>,
    cursor: Option<String>,
    payment_id: Option<String>,
}

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
