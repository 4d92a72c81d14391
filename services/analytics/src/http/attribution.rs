//! `GET /api/v1/attribution/revenue/realtime`, `GET /api/v1/attribution/channels`,
//! `POST /api/v1/attribution/spend`, `POST /api/v1/attribution/mmm`.

use axum::Router;
use axum::extract::State;
use axum::routing::{get, post};
use contracts::Money;
use contracts::ingestion::Channel;
use platform::auth::Principal;
use platform::http::{Json, Problem, Query};
use serde::{Deserialize, Serialize};

use super::{ApiResult, one_tenant, parse_time, period};
use crate::app::{AnalyticsApp, ChannelDay, MmmAnswer, Realtime, RevenueQuery, SpendItem};
use crate::domain::attribution::Model;
use crate::domain::period::{DAY, Grain, Period};

pub(super) fn routes() -> Router<AnalyticsApp> {
    Router::new()
        .route("/api/v1/attribution/revenue/realtime", get(realtime))
        .route("/api/v1/attribution/channels", get(channels))
        .route("/api/v1/attribution/spend", post(put_spend))
        .route("/api/v1/attribution/mmm", post(mmm))
}

/// The longest period a revenue question may cover.
const MAX_SPAN: i64 = 366 * DAY;
/// Most spend items in one request.
const MAX_SPEND_ITEMS: usize = 10_000;

#[derive(Deserialize)]
struct RevenueParams {
    tenant: Option<String>,
    model: Option<String>,
    from: Option<String>,
    to: Option<String>,
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

#[tracing::instrument(skip_all)]
async fn realtime(
    State(app): State<AnalyticsApp>,
    caller: Principal,
    Query(params): Query<RevenueParams>,
) -> ApiResult<Json<Realtime>> {
    let query = revenue_query(&app, &caller, &params, DAY)?;
    Ok(Json(app.realtime(&query).await?))
}

#[derive(Serialize)]
struct ChannelsBody {
    tenant: String,
    model: &'static str,
    items: Vec<ChannelDay>,
}

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

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SpendBody {
    tenant: Option<String>,
    items: Vec<SpendLine>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SpendLine {
    day: String,
    channel: String,
    amount: Money,
}

#[derive(Serialize)]
struct SpendAccepted {
    tenant: String,
    accepted: usize,
}

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

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MmmBody {
    tenant: Option<String>,
    from: Option<String>,
    to: Option<String>,
    currency: Option<String>,
}

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
