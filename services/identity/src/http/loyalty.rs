//! Loyalty points over HTTP: a user's balance, held points and history (their own, or
//! anyone's for admins), and the reservation ordering makes with the customer's own
//! credentials while placing an order.

use axum::extract::{Path, State};
use axum::response::Response;
use contracts::Money;
use platform::auth::Principal;
use platform::http::api::{ApiRouter, problems, routes};
use platform::http::{Fields, Json, List, PageQuery, Problem, Query, created, no_content};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::users::user_id;
use super::{ApiResult, HttpState};
use crate::app::{LoyaltyError, LoyaltyStatement};
use crate::domain::Invalid;
use crate::domain::loyalty::{self, LoyaltyEntry, Reservation};

/// `/users/{me,id}/loyalty` and `/users/{id}/loyalty/reservations`.
pub(super) fn api() -> ApiRouter<HttpState> {
    ApiRouter::new()
        .routes(routes!(my_loyalty))
        .routes(routes!(user_loyalty))
        .routes(routes!(reserve_loyalty))
        .routes(routes!(release_loyalty))
}

impl From<LoyaltyError> for Problem {
    fn from(err: LoyaltyError) -> Self {
        match err {
            LoyaltyError::Forbidden => Problem::forbidden(err.to_string()),
            LoyaltyError::NotFound => Problem::not_found("user"),
            LoyaltyError::NoReservation => Problem::not_found("loyalty reservation"),
            LoyaltyError::NoRate(_) => Problem::invalid_field("currency", err.to_string()),
            LoyaltyError::Insufficient { available } => {
                Problem::conflict("insufficient-loyalty-points", err.to_string())
                    .with("field", "points")
                    .with("available", available)
            }
            LoyaltyError::Conflict => {
                Problem::conflict("loyalty-reservation-conflict", err.to_string())
            }
            LoyaltyError::Sql(_) => Problem::unexpected(&err),
        }
    }
}

/// How points are earned and redeemed in one currency.
#[derive(Debug, Serialize, ToSchema)]
struct RateView {
    /// ISO 4217 code.
    currency: String,
    /// Points earned per whole currency unit paid.
    earn_per_unit: u32,
    /// Minor units one point is worth at checkout.
    point_value_minor: u32,
}

/// One line of the history.
#[derive(Debug, Serialize, ToSchema)]
struct LoyaltyEntryView {
    /// Id.
    id: String,
    /// What happened: `earned` (a delivered order), `reversed` (a refund), `reserved`
    /// (held by an order being placed), `released` (given back: the order was
    /// cancelled or never came), `redeemed` (spent by a confirmed order), `restored`
    /// (the refunded share of what an order spent, given back).
    #[schema(value_type = String, pattern = "^(earned|reversed|reserved|released|redeemed|restored)$")]
    kind: &'static str,
    /// Signed points, from the customer's side: gained (+) or given up (-).
    points: i64,
    /// The order.
    order_id: String,
    /// When, RFC 3339.
    at: String,
}

impl From<LoyaltyEntry> for LoyaltyEntryView {
    fn from(entry: LoyaltyEntry) -> Self {
        Self {
            id: entry.id,
            kind: entry.kind.as_str(),
            points: entry.points,
            order_id: entry.order_id,
            at: platform::time::rfc3339(entry.at),
        }
    }
}

/// A user's points.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({
    "balance": 120, "reserved": 20, "available": 100,
    "currency_rates": [{"currency": "USD", "earn_per_unit": 1, "point_value_minor": 1}],
    "history": {"items": [{"id": "01936f0e-8f5a-7cc2-b1d4-6f1a2b3c4d5e", "kind": "earned",
        "points": 120, "order_id": "01936f0e-1111-7cc2-b1d4-6f1a2b3c4d5e",
        "at": "2026-12-05T14:03:11.512Z"}], "next_cursor": null}
}))]
struct LoyaltyView {
    /// Earned minus reversed minus spent; negative when a refund reversed points
    /// already spent (they were earned on money that came back): nothing can be
    /// redeemed until it is positive again.
    balance: i64,
    /// Held by orders being placed.
    reserved: i64,
    /// What can be redeemed now: balance minus reserved, never below zero.
    available: i64,
    /// The rates in force (empty when loyalty is off).
    currency_rates: Vec<RateView>,
    /// The history, newest first, a page at a time.
    history: List<LoyaltyEntryView>,
}

/// Reads `id`'s points and one page of history for `caller`.
async fn statement_of(
    s: &HttpState,
    caller: &Principal,
    id: &str,
    query: PageQuery,
) -> ApiResult<Json<LoyaltyView>> {
    let page = query.page()?;
    let LoyaltyStatement { balance, entries } = s
        .app
        .loyalty(caller, id, page.after.as_deref(), page.fetch_limit())
        .await?;
    let list = List::from_rows(entries, &page, |e| e.id.clone());
    let config = &s.app.config.loyalty;
    let currency_rates = if config.enabled {
        config
            .rates
            .iter()
            .map(|(currency, rate)| RateView {
                currency: currency.to_ascii_uppercase(),
                earn_per_unit: rate.earn_per_unit,
                point_value_minor: rate.point_value_minor,
            })
            .collect()
    } else {
        Vec::new()
    };
    Ok(Json(LoyaltyView {
        balance: balance.balance,
        reserved: balance.reserved,
        available: balance.available(),
        currency_rates,
        history: List {
            items: list.items.into_iter().map(LoyaltyEntryView::from).collect(),
            next_cursor: list.next_cursor,
        },
    }))
}

/// The caller's loyalty points: balance, held, available, the rates, and the history
/// newest first.
#[utoipa::path(
    get,
    path = "/api/v1/users/me/loyalty",
    params(PageQuery),
    responses(
        (status = 200, description = "The points and one page of history", body = LoyaltyView),
        problems::Unauthorized, problems::Forbidden, problems::NotFound, problems::Invalid,
    ),
)]
#[tracing::instrument(skip_all)]
async fn my_loyalty(
    State(s): State<HttpState>,
    caller: Principal,
    Query(query): Query<PageQuery>,
) -> ApiResult<Json<LoyaltyView>> {
    let id = caller.subject.clone();
    statement_of(&s, &caller, &id, query).await
}

/// A user's loyalty points: the caller's own, or any for admins.
#[utoipa::path(
    get,
    path = "/api/v1/users/{id}/loyalty",
    params(("id" = String, Path, description = "The user's id"), PageQuery),
    responses(
        (status = 200, description = "The points and one page of history", body = LoyaltyView),
        problems::Unauthorized, problems::Forbidden, problems::NotFound, problems::Invalid,
    ),
)]
#[tracing::instrument(skip_all)]
async fn user_loyalty(
    State(s): State<HttpState>,
    caller: Principal,
    Path(id): Path<String>,
    Query(query): Query<PageQuery>,
) -> ApiResult<Json<LoyaltyView>> {
    user_id(&id)?;
    statement_of(&s, &caller, &id, query).await
}

/// Points to hold for an order being placed.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"order_id": "01936f0e-1111-7cc2-b1d4-6f1a2b3c4d5e", "points": 500, "currency": "USD"}))]
struct ReservationBody {
    /// The order (its id is decided before it is stored; asking again for it answers
    /// the same).
    #[schema(min_length = 1, max_length = 64)]
    order_id: String,
    /// How many points, 1 to 1000000000.
    #[schema(minimum = 1, maximum = 1_000_000_000)]
    points: i64,
    /// The order's currency, ISO 4217.
    #[schema(pattern = "^[A-Z]{3}$")]
    currency: String,
}

/// An order id: 1 to 64 visible ASCII characters.
fn order_id(raw: String) -> Result<String, Invalid> {
    if (1..=64).contains(&raw.len()) && raw.bytes().all(|b| b.is_ascii_graphic()) {
        Ok(raw)
    } else {
        Err(Invalid("must be 1 to 64 visible ASCII characters"))
    }
}

/// Points held for an order, and what they take off it.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"points": 500, "discount": {"amount": 500, "currency": "USD"}}))]
struct ReservationView {
    /// Points held.
    points: i64,
    /// What they are worth off the order.
    discount: Money,
}

impl From<Reservation> for ReservationView {
    fn from(held: Reservation) -> Self {
        Self {
            points: held.points,
            discount: Money {
                amount: held.discount_minor,
                currency: held.currency,
            },
        }
    }
}

/// Holds points of the user for an order being placed (the user themself, as
/// ordering calls it with the customer's credentials, or an admin). Held points are
/// spent when the order is confirmed and given back when it is cancelled or has not
/// come within the reservation's lifetime. The same order asking again gets the same
/// answer.
#[utoipa::path(
    post,
    path = "/api/v1/users/{id}/loyalty/reservations",
    params(("id" = String, Path, description = "The user's id")),
    request_body = ReservationBody,
    responses(
        (status = 201, description = "Held (or held before for this order)", body = ReservationView),
        problems::Unauthorized, problems::Forbidden, problems::NotFound, problems::Conflict,
        problems::Invalid,
    ),
)]
#[tracing::instrument(skip_all)]
async fn reserve_loyalty(
    State(s): State<HttpState>,
    caller: Principal,
    Path(id): Path<String>,
    Json(body): Json<ReservationBody>,
) -> ApiResult<Response> {
    user_id(&id)?;
    let mut fields = Fields::default();
    let order = fields.check("order_id", order_id(body.order_id));
    let points = fields.check("points", loyalty::reservation_points(body.points));
    let currency = fields.check("currency", Money::price(0, &body.currency));
    let (Some(order), Some(points), Some(currency)) = (order, points, currency) else {
        return Err(fields.into_problem());
    };
    let held = s
        .app
        .reserve_loyalty(&caller, &id, &order, points, &currency.currency)
        .await?;
    let location = format!("/api/v1/users/{id}/loyalty");
    Ok(created(&location, ReservationView::from(held)))
}

/// Gives back the points an order holds before it exists (ordering calls it when
/// placing the order failed after the hold). Points a confirmed order spent come back
/// only by cancelling it (409 here).
#[utoipa::path(
    delete,
    path = "/api/v1/users/{id}/loyalty/reservations/{order_id}",
    params(
        ("id" = String, Path, description = "The user's id"),
        ("order_id" = String, Path, description = "The order the points are held for"),
    ),
    responses(
        (status = 204, description = "Given back (or given back before)"),
        problems::Unauthorized, problems::Forbidden, problems::NotFound, problems::Conflict,
    ),
)]
#[tracing::instrument(skip_all)]
async fn release_loyalty(
    State(s): State<HttpState>,
    caller: Principal,
    Path((id, order)): Path<(String, String)>,
) -> ApiResult<Response> {
    user_id(&id)?;
    let order = order_id(order).map_err(|_| Problem::not_found("loyalty reservation"))?;
    s.app.release_loyalty(&caller, &id, &order).await?;
    Ok(no_content())
}
