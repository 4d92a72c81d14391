//! `GET /api/v1/attribution/revenue/realtime`, `GET /api/v1/attribution/channels`,
//! `POST /api/v1/attribution/spend`, `POST /api/v1/attribution/mmm`.

use axum::extract::State;
use contracts::Money;
use contracts::ingestion::Channel;
use platform::auth::Principal;
use platform::http::api::{ApiRouter, problems, routes};
use platform::http::{Json, Problem, Query};
use serde::{Deserialize, Serialize};
use utoipa::openapi::schema::Object;
use utoipa::{IntoParams, ToSchema};

use super::{ApiResult, names_schema, one_tenant, parse_time, period};
use crate::app::{AnalyticsApp, ChannelDay, MmmAnswer, Realtime, RevenueQuery, SpendItem};
use crate::domain::attribution::Model;
use crate::domain::period::{DAY, Grain, Period};

/// `/api/v1/attribution/...`.
pub(super) fn api() -> ApiRouter<AnalyticsApp> {
    ApiRouter::new()
        .routes(routes!(realtime))
        .routes(routes!(realtime_seed_alias))
        .routes(routes!(channels))
        .routes(routes!(put_spend))
        .routes(routes!(mmm))
}

/// The longest period a revenue question may cover.
const MAX_SPAN: i64 = 366 * DAY;
/// Most spend items in one request.
const MAX_SPEND_ITEMS: usize = 10_000;

/// The attribution models' names.
fn model_names() -> Object {
    names_schema(Model::ALL.map(Model::as_str))
}

/// The query of the revenue questions.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct RevenueParams {
    /// The tenant (an admin's choice, `viscount` when absent; a tenant key's own).
    tenant: Option<String>,
    /// The attribution model (`last_touch` when absent).
    #[param(schema_with = model_names)]
    model: Option<String>,
    /// The period's start: RFC 3339 or a `YYYY-MM-DD` day; by default a day (realtime) or
    /// 30 days (channels) before `to`.
    #[param(format = DateTime)]
    from: Option<String>,
    /// The period's end (exclusive): RFC 3339 or a `YYYY-MM-DD` day; now when absent. At
    /// most 366 days after `from`.
    #[param(format = DateTime)]
    to: Option<String>,
    /// The ISO 4217 currency; needed when the period has revenue in several.
    #[param(pattern = "^[A-Za-z]{3}$")]
    currency: Option<String>,
}

fn model(raw: Option<&str>) -> ApiResult<Model> {
    match raw {
        None => Ok(Model::LastTouch),
        Some(name) => Model::parse(name).ok_or_else(|| {
            let known: Vec<&str> = Model::ALL.iter().map(|m| m.as_str()).collect();
            Problem::invalid_field("model", format!("must be one of {}", known.join(", ")))
        }),
    }
}

fn currency(raw: Option<&str>) -> ApiResult<Option<String>> {
    raw.map(|code| {
        Money::price(0, code)
            .map(|money| money.currency)
            .map_err(|_| Problem::invalid_field("currency", "must be a known ISO 4217 code"))
    })
    .transpose()
}

fn revenue_query(
    app: &AnalyticsApp,
    caller: &Principal,
    params: &RevenueParams,
    default_span: i64,
) -> ApiResult<RevenueQuery> {
    Ok(RevenueQuery {
        tenant: one_tenant(caller, params.tenant.as_deref())?,
        model: model(params.model.as_deref())?,
        period: period(
            params.from.as_deref(),
            params.to.as_deref(),
            app.clock.now_millis(),
            default_span,
            MAX_SPAN,
        )?,
        currency: currency(params.currency.as_deref())?,
    })
}

/// Revenue by channel over a period.
///
/// A tenant's net revenue, conversions and refunds per channel under one attribution
/// model (admins, tenant keys).
#[utoipa::path(
    get,
    path = "/api/v1/attribution/revenue/realtime",
    params(RevenueParams),
    responses(
        (status = 200, description = "Revenue by channel", body = Realtime),
        problems::Unauthorized, problems::Forbidden, problems::NotFound, problems::Invalid,
    ),
)]
#[tracing::instrument(skip_all)]
async fn realtime(
    State(app): State<AnalyticsApp>,
    caller: Principal,
    Query(params): Query<RevenueParams>,
) -> ApiResult<Json<Realtime>> {
    let query = revenue_query(&app, &caller, &params, DAY)?;
    Ok(Json(app.realtime(&query).await?))
}

/// Revenue by channel over a period (seed 004's path).
///
/// The same as `GET /api/v1/attribution/revenue/realtime` (admins, tenant keys).
#[utoipa::path(
    get,
    path = "/api/attribution/revenue/realtime",
    params(RevenueParams),
    responses(
        (status = 200, description = "Revenue by channel", body = Realtime),
        problems::Unauthorized, problems::Forbidden, problems::NotFound, problems::Invalid,
    ),
)]
async fn realtime_seed_alias(
    state: State<AnalyticsApp>,
    caller: Principal,
    params: Query<RevenueParams>,
) -> ApiResult<Json<Realtime>> {
    realtime(state, caller, params).await
}

/// Channel performance per day.
#[derive(Serialize, ToSchema)]
struct ChannelsBody {
    /// The tenant.
    tenant: String,
    /// The attribution model.
    #[schema(schema_with = model_names)]
    model: &'static str,
    /// Per day and channel.
    items: Vec<ChannelDay>,
}

/// Channel performance per whole day.
///
/// A tenant's revenue, conversions, average order value and refunds per channel and
/// day, under one attribution model (admins, tenant keys).
#[utoipa::path(
    get,
    path = "/api/v1/attribution/channels",
    params(RevenueParams),
    responses(
        (status = 200, description = "Channel performance per day", body = ChannelsBody),
        problems::Unauthorized, problems::Forbidden, problems::NotFound, problems::Invalid,
    ),
)]
#[tracing::instrument(skip_all)]
async fn channels(
    State(app): State<AnalyticsApp>,
    caller: Principal,
    Query(params): Query<RevenueParams>,
) -> ApiResult<Json<ChannelsBody>> {
    let mut query = revenue_query(&app, &caller, &params, 30 * DAY)?;
    // Channel performance is by whole days: the period grows to the days it touches.
    query.period = Period {
        from: Grain::Day.bucket(query.period.from),
        to: Grain::Day.bucket(query.period.to + DAY - 1),
    };
    let items = app.channel_days(&query).await?;
    Ok(Json(ChannelsBody {
        tenant: query.tenant,
        model: query.model.as_str(),
        items,
    }))
}

/// Daily marketing spend.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"items": [{"day": "2026-03-01", "channel": "paid_search", "amount": {"amount": 25000, "currency": "USD"}}]}))]
struct SpendBody {
    /// The tenant (an admin's choice, `viscount` when absent; a tenant key's own).
    tenant: Option<String>,
    /// 1 to 10,000 days of one channel each; a day and channel sent again replaces it.
    #[schema(min_items = 1, max_items = 10000)]
    items: Vec<SpendLine>,
}

/// One day's spend on one channel.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct SpendLine {
    /// The day, `YYYY-MM-DD`.
    #[schema(format = Date)]
    day: String,
    /// The channel.
    #[schema(value_type = Channel)]
    channel: String,
    /// What was spent: zero or more minor units, in a known currency.
    amount: Money,
}

/// How much spend was recorded.
#[derive(Serialize, ToSchema)]
struct SpendAccepted {
    /// The tenant.
    tenant: String,
    /// Items recorded.
    accepted: usize,
}

/// Records a tenant's daily spend per channel, all items or none (admins, tenant keys).
#[utoipa::path(
    post,
    path = "/api/v1/attribution/spend",
    request_body = SpendBody,
    responses(
        (status = 200, description = "Recorded", body = SpendAccepted),
        problems::BadRequest, problems::Unauthorized, problems::Forbidden, problems::NotFound,
        problems::Invalid,
    ),
)]
#[tracing::instrument(skip_all)]
async fn put_spend(
    State(app): State<AnalyticsApp>,
    caller: Principal,
    Json(body): Json<SpendBody>,
) -> ApiResult<Json<SpendAccepted>> {
    let tenant = one_tenant(&caller, body.tenant.as_deref())?;
    if body.items.is_empty() || body.items.len() > MAX_SPEND_ITEMS {
        return Err(Problem::invalid_field(
            "items",
            format!("must hold 1 to {MAX_SPEND_ITEMS} items"),
        ));
    }
    let mut items = Vec::with_capacity(body.items.len());
    for (index, line) in body.items.iter().enumerate() {
        let field = |name: &str| format!("items[{index}].{name}");
        let day = parse_time(&field("day"), &line.day)?;
        if day % DAY != 0 || line.day.len() != 10 {
            return Err(Problem::invalid_field(
                &field("day"),
                "must be a YYYY-MM-DD day",
            ));
        }
        let channel = Channel::parse(&line.channel)
            .ok_or_else(|| Problem::invalid_field(&field("channel"), "is not a channel"))?;
        let amount = Money::price(line.amount.amount, &line.amount.currency)
            .map_err(|why| Problem::invalid_field(&field("amount"), why.to_string()))?;
        items.push(SpendItem {
            day,
            channel,
            amount,
        });
    }
    let accepted = app.put_spend(&tenant, &items).await?;
    Ok(Json(SpendAccepted { tenant, accepted }))
}

/// What the marketing-mix model covers.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"from": "2025-03-01T00:00:00Z", "to": "2026-03-01T00:00:00Z", "currency": "USD"}))]
struct MmmBody {
    /// The tenant (an admin's choice, `viscount` when absent; a tenant key's own).
    tenant: Option<String>,
    /// The first day: RFC 3339 or `YYYY-MM-DD`; 365 days before `to` when absent.
    #[schema(format = DateTime)]
    from: Option<String>,
    /// The end (exclusive), at most three years after `from`; today when absent.
    #[schema(format = DateTime)]
    to: Option<String>,
    /// The ISO 4217 currency; needed when the period has revenue in several.
    #[schema(pattern = "^[A-Za-z]{3}$")]
    currency: Option<String>,
}

/// Fits the Bayesian marketing-mix model.
///
/// Over a tenant's daily revenue and spend: each channel's contribution and ROI with
/// its 90 % interval (admins, tenant keys).
#[utoipa::path(
    post,
    path = "/api/v1/attribution/mmm",
    request_body = MmmBody,
    responses(
        (status = 200, description = "The model's answer", body = MmmAnswer),
        problems::BadRequest, problems::Unauthorized, problems::Forbidden, problems::NotFound,
        problems::Invalid,
    ),
)]
#[tracing::instrument(skip_all)]
async fn mmm(
    State(app): State<AnalyticsApp>,
    caller: Principal,
    Json(body): Json<MmmBody>,
) -> ApiResult<Json<MmmAnswer>> {
    let tenant = one_tenant(&caller, body.tenant.as_deref())?;
    let period = match (&body.from, &body.to) {
        (None, None) => None,
        (from, to) => {
            let period = period(
                from.as_deref(),
                to.as_deref(),
                Grain::Day.bucket(app.clock.now_millis()),
                365 * DAY,
                3 * 366 * DAY,
            )?;
            Some(Period {
                from: Grain::Day.bucket(period.from),
                to: Grain::Day.bucket(period.to + DAY - 1),
            })
        }
    };
    let currency = currency(body.currency.as_deref())?;
    Ok(Json(
        app.marketing_mix(&tenant, period, currency.as_deref())
            .await?,
    ))
}
