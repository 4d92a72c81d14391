//! Stock: a sku's level in each warehouse, adjusting it with a reason, its ledger of
//! movements, and the skus at or under their low-stock threshold.

use std::sync::Arc;

use crate::http::render::view;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Redirect};
use serde::{Deserialize, Serialize};
use serde_json::{Value as Json, json};

use crate::app::{Call, Console};
use crate::http::forms::FieldErrors;
use crate::http::render::{PageError, PageResult, base, ok};
use crate::http::shop::{List, encode};
use crate::http::visitor::Visitor;

#[derive(Debug, Default, Deserialize, Serialize)]
pub(super) struct StockQuery {
    #[serde(default)]
    sku: String,
    #[serde(default)]
    cursor: String,
}

/// An adjustment form, as typed.
#[derive(Debug, Default, Deserialize, Serialize)]
pub(super) struct AdjustForm {
    #[serde(default)]
    sku: String,
    #[serde(default)]
    warehouse_id: String,
    #[serde(default)]
    delta: String,
    #[serde(default)]
    reason: String,
}

async fn stock_page(
    console: &Console,
    visitor: &Visitor,
    query: &StockQuery,
    form: &AdjustForm,
    errors: FieldErrors,
    notice: Option<&str>,
) -> PageResult {
    let sku = query.sku.trim();
    let (warehouses, low) = tokio::join!(
        visitor.ask::<List<Json>>(
            console,
            Call::get("/api/v1/warehouses?limit=100"),
            "warehouses"
        ),
        visitor.ask::<List<Json>>(
            console,
            Call::get("/api/v1/inventory/low-stock?limit=20"),
            "low stock"
        ),
    );
    let mut errors = errors;
    let (level, ledger) = if sku.is_empty() {
        (None, None)
    } else {
        let mut ledger_path = format!("/api/v1/inventory/{}/ledger?limit=20", encode(sku));
        if !query.cursor.is_empty() {
            ledger_path.push_str(&format!("&cursor={}", encode(&query.cursor)));
        }
        let (level, ledger) = tokio::join!(
            visitor.send(
                console,
                Call::get(format!("/api/v1/inventory/{}", encode(sku)))
            ),
            visitor.send(console, Call::get(ledger_path)),
        );
        match (level, ledger) {
            (Ok(level), Ok(ledger)) => (
                Some(level.json::<Json>("stock").map_err(PageError::Api)?),
                Some(
                    ledger
                        .json::<List<Json>>("ledger")
                        .map_err(PageError::Api)?,
                ),
            ),
            // A sku that is not one is the form's error, not the page's.
            (Err(problem), _) | (_, Err(problem)) if problem.status == 422 => {
                errors.push("sku", problem.field("sku").unwrap_or("Not a sku."));
                (None, None)
            }
            (Err(problem), _) | (_, Err(problem)) => return Err(visitor.failed(problem)),
        }
    };
    let next_page = ledger
        .as_ref()
        .and_then(|l| l.next_cursor.as_ref())
        .map(|cursor| format!("/admin/stock?sku={}&cursor={}", encode(sku), encode(cursor)));
    ok(
        "admin/stock.html",
        view!(base(visitor); sku => sku, level => level, ledger => ledger.map(|l| l.items),
            next_page => next_page, warehouses => warehouses?.items,
            low_stock => low?.items, form => form, errors => errors, notice => notice),
    )
}

/// `GET /admin/stock?sku=`.
#[tracing::instrument(skip_all)]
pub(super) async fn show(
    State(console): State<Arc<Console>>,
    visitor: Visitor,
    Query(query): Query<StockQuery>,
) -> PageResult {
    visitor.admin()?;
    let form = AdjustForm {
        sku: query.sku.clone(),
        ..AdjustForm::default()
    };
    stock_page(
        &console,
        &visitor,
        &query,
        &form,
        FieldErrors::default(),
        None,
    )
    .await
}

/// `POST /admin/stock/adjust`.
#[tracing::instrument(skip_all)]
pub(super) async fn adjust(
    State(console): State<Arc<Console>>,
    visitor: Visitor,
    axum::Form(form): axum::Form<AdjustForm>,
) -> PageResult {
    visitor.admin()?;
    let query = StockQuery {
        sku: form.sku.trim().to_owned(),
        cursor: String::new(),
    };
    let mut errors = FieldErrors::default();
    let delta = errors.number(
        &form.delta,
        "delta",
        "Enter a whole number, negative to remove stock.",
    );
    if delta == Some(0) {
        errors.push("delta", "Enter a change other than 0.");
    }
    if form.reason.trim().is_empty() {
        errors.push("reason", "Say why the stock changes.");
    }
    if !errors.is_empty() {
        return stock_page(&console, &visitor, &query, &form, errors, None).await;
    }
    let body = json!({
        "sku": form.sku.trim(), "warehouse_id": form.warehouse_id,
        "delta": delta, "reason": form.reason.trim(),
    });
    match visitor
        .send(&console, Call::post("/api/v1/inventory/adjust", &body))
        .await
    {
        Ok(_) => Ok(
            Redirect::to(&format!("/admin/stock?sku={}", encode(form.sku.trim()))).into_response(),
        ),
        Err(problem) if matches!(problem.status, 409 | 422) => {
            stock_page(
                &console,
                &visitor,
                &query,
                &form,
                FieldErrors::from_problem(&problem, &[]),
                None,
            )
            .await
        }
        Err(problem) => Err(visitor.failed(problem)),
    }
}
