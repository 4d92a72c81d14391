//! External storefronts: tenants (made with their API key shown once), each tenant's
//! sources (the webhook secrets of Shopify, Stripe, PayPal, WooCommerce), the events
//! ingested from them, and the dead events that could not be normalized (replayable).

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::{Path, Query, State};
use serde::Deserialize;
use serde_json::{Value as Json, json};

use crate::app::{Call, Console};
use crate::http::forms::{FieldErrors, confirm_page, confirmed};
use crate::http::render::{PageError, PageResult, base, ok, view};
use crate::http::shop::{List, encode, link};
use crate::http::visitor::Visitor;

/// The providers a source may be.
const PROVIDERS: [&str; 4] = ["shopify", "stripe", "paypal", "woocommerce"];

#[derive(Deserialize, Default)]
pub(super) struct TenantsQuery {
    #[serde(default)]
    tenant: String,
    #[serde(default)]
    cursor: String,
    #[serde(default)]
    dead_cursor: String,
}

async fn tenants_page(
    console: &Console,
    visitor: &Visitor,
    query: &TenantsQuery,
    errors: FieldErrors,
    notice: Option<String>,
    created: Option<Json>,
) -> PageResult {
    let tenants = super::tenants(console, visitor).await?;
    let tenant = if query.tenant.is_empty() {
        tenants
            .first()
            .and_then(|t| t["id"].as_str())
            .unwrap_or("viscount")
            .to_owned()
    } else {
        query.tenant.clone()
    };
    let page = |cursor: &str| {
        let mut api = form_urlencoded::Serializer::new(String::new());
        api.append_pair("tenant", &tenant)
            .append_pair("limit", "20");
        if !cursor.is_empty() {
            api.append_pair("cursor", cursor);
        }
        api.finish()
    };
    let (events, dead) = tokio::join!(
        visitor.ask::<List<Json>>(
            console,
            Call::get(format!("/api/v1/ingestion/events?{}", page(&query.cursor))),
            "events"
        ),
        visitor.ask::<List<Json>>(
            console,
            Call::get(format!(
                "/api/v1/ingestion/dead-events?{}",
                page(&query.dead_cursor)
            )),
            "dead events"
        ),
    );
    let (events, dead) = (events?, dead?);
    // Each list pages on its own: the next page of one keeps where the other is.
    let at = |cursor: &str, dead_cursor: &str| {
        link(
            "/admin/tenants",
            &[
                ("tenant", &tenant),
                ("cursor", cursor),
                ("dead_cursor", dead_cursor),
            ],
        )
    };
    let next_events = events
        .next_cursor
        .as_ref()
        .map(|c| at(c, &query.dead_cursor));
    let next_dead = dead.next_cursor.as_ref().map(|c| at(&query.cursor, c));
    ok(
        "admin/tenants.html",
        view!(base(visitor); tenants => tenants, tenant => tenant, events => events.items,
              dead => dead.items, next_events => next_events, next_dead => next_dead,
              providers => PROVIDERS, errors => errors, notice => notice, created => created),
    )
}

/// `GET /admin/tenants?tenant=`.
#[tracing::instrument(skip_all)]
pub(super) async fn tenants(
    State(console): State<Arc<Console>>,
    visitor: Visitor,
    Query(query): Query<TenantsQuery>,
) -> PageResult {
    visitor.admin()?;
    tenants_page(
        &console,
        &visitor,
        &query,
        FieldErrors::default(),
        None,
        None,
    )
    .await
}

#[derive(Deserialize)]
pub(super) struct TenantForm {
    #[serde(default, rename = "tenant_name")]
    name: String,
}

/// `POST /admin/tenants`: a new tenant, its API key shown once.
#[tracing::instrument(skip_all)]
pub(super) async fn create_tenant(
    State(console): State<Arc<Console>>,
    visitor: Visitor,
    axum::Form(form): axum::Form<TenantForm>,
) -> PageResult {
    visitor.admin()?;
    let query = TenantsQuery::default();
    match visitor
        .submit(
            &console,
            Call::post("/api/v1/tenants", &json!({"name": form.name.trim()})),
        )
        .await?
    {
        Ok(answer) => {
            let created: Json = answer.json("tenant").map_err(PageError::Api)?;
            let query = TenantsQuery {
                tenant: created["id"].as_str().unwrap_or_default().to_owned(),
                ..query
            };
            let mut response = tenants_page(
                &console,
                &visitor,
                &query,
                FieldErrors::default(),
                None,
                Some(created),
            )
            .await?;
            response.headers_mut().insert(
                http::header::CACHE_CONTROL,
                http::HeaderValue::from_static("no-store"),
            );
            Ok(response)
        }
        Err(problem) if problem.status == 422 => {
            let errors = FieldErrors::from_problem(&problem, &[("name", "tenant_name")]);
            tenants_page(&console, &visitor, &query, errors, None, None).await
        }
        Err(problem) => Err(visitor.failed(problem)),
    }
}

#[derive(Deserialize)]
pub(super) struct SourceForm {
    #[serde(default)]
    provider: String,
    #[serde(default)]
    secret: String,
    #[serde(default)]
    webhook_id: String,
    #[serde(default)]
    certificate_pem: String,
}

/// `POST /admin/tenants/{id}/sources`: sets one provider's webhook secret.
#[tracing::instrument(skip_all)]
pub(super) async fn set_source(
    State(console): State<Arc<Console>>,
    visitor: Visitor,
    Path(id): Path<String>,
    axum::Form(form): axum::Form<SourceForm>,
) -> PageResult {
    visitor.admin()?;
    let query = TenantsQuery {
        tenant: id.clone(),
        ..TenantsQuery::default()
    };
    if !PROVIDERS.contains(&form.provider.as_str()) {
        let mut errors = FieldErrors::default();
        errors.push("provider", "Pick a provider.");
        return tenants_page(&console, &visitor, &query, errors, None, None).await;
    }
    let body = if form.provider == "paypal" {
        let mut body = json!({"webhook_id": form.webhook_id.trim()});
        if !form.certificate_pem.trim().is_empty() {
            body["certificate_pem"] = json!(form.certificate_pem.trim());
        }
        body
    } else {
        json!({"secret": form.secret})
    };
    let path = format!("/api/v1/tenants/{}/sources/{}", encode(&id), form.provider);
    match visitor.send(&console, Call::put(path, &body)).await {
        Ok(_) => {
            let notice = format!(
                "The {} source is set.",
                crate::domain::format::words(&form.provider)
            );
            tenants_page(
                &console,
                &visitor,
                &query,
                FieldErrors::default(),
                Some(notice),
                None,
            )
            .await
        }
        Err(problem) if problem.status == 422 => {
            tenants_page(
                &console,
                &visitor,
                &query,
                FieldErrors::from_problem(&problem, &[]),
                None,
                None,
            )
            .await
        }
        Err(problem) => Err(visitor.failed(problem)),
    }
}

/// `POST /admin/dead-events/{id}/replay`, after confirmation.
#[tracing::instrument(skip_all)]
pub(super) async fn replay_dead_event(
    State(console): State<Arc<Console>>,
    visitor: Visitor,
    Path(id): Path<String>,
    axum::Form(fields): axum::Form<BTreeMap<String, String>>,
) -> PageResult {
    visitor.admin()?;
    let tenant = fields.get("tenant").cloned().unwrap_or_default();
    let back = format!("/admin/tenants?tenant={}", encode(&tenant));
    if !confirmed(&fields) {
        return confirm_page(
            &visitor,
            "Replay this event?",
            "It is normalized again and, if it now reads, stored as an ingested event.",
            &format!("/admin/dead-events/{}/replay", encode(&id)),
            &fields,
            "Yes, replay it",
            &back,
        );
    }
    let query = TenantsQuery {
        tenant,
        ..TenantsQuery::default()
    };
    match visitor
        .send(
            &console,
            Call::new(
                http::Method::POST,
                format!("/api/v1/ingestion/dead-events/{}/replay", encode(&id)),
            ),
        )
        .await
    {
        Ok(_) => {
            tenants_page(
                &console,
                &visitor,
                &query,
                FieldErrors::default(),
                Some("Replayed.".into()),
                None,
            )
            .await
        }
        Err(problem) => {
            tenants_page(
                &console,
                &visitor,
                &query,
                FieldErrors::from_problem(&problem, &[]),
                None,
                None,
            )
            .await
        }
    }
}
