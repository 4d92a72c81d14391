//! Inventory's HTTP surface: API.md's Inventory table, plus commit and per-sku
//! thresholds. Handlers check who may call, turn bodies into validated domain inputs,
//! call the app and render what it returns.

use axum::Router;
use axum::extract::{Path, State};
use axum::middleware::from_fn_with_state;
use axum::response::Response;
use axum::routing::{get, post, put};
use platform::auth::{Authenticator, Policy, Principal};
use platform::http::{Fields, Json, List, PageQuery, Problem, Query, created};
use serde::{Deserialize, Serialize};

use crate::app::{InventoryApp, InventoryError, StockView};
use crate::domain::{LowStock, Quantity, Reservation, Sku, Text, Warehouse, WarehouseCode};

/// The scope a service client needs to reserve, release and commit.
pub const SCOPE_WRITE: &str = "inventory:write";

/// Who manages reservations: admins, and service clients holding [`SCOPE_WRITE`].
/// Warehouses, adjustments and thresholds stay admin-only.
pub const POLICY: Policy = Policy::managed_by(SCOPE_WRITE);

/// The routes, behind the authentication middleware.
pub fn router(app: InventoryApp, authenticator: Authenticator) -> Router {
    Router::new()
        .route("/api/v1/inventory/low-stock", get(low_stock))
        .route("/api/v1/inventory/adjust", post(adjust))
        .route("/api/v1/inventory/reserve", post(reserve))
        .route("/api/v1/inventory/release", post(release))
        .route("/api/v1/inventory/commit", post(commit))
        .route(
            "/api/v1/inventory/reservations/{order_id}",
            get(get_reservation),
        )
        .route("/api/v1/inventory/{sku}", get(stock))
        .route("/api/v1/inventory/{sku}/threshold", put(set_threshold))
        .route(
            "/api/v1/warehouses",
            get(list_warehouses).post(create_warehouse),
        )
        .route("/api/v1/warehouses/{id}", get(get_warehouse))
        .with_state(app)
        .layer(from_fn_with_state(
            authenticator,
            platform::auth::authenticate,
        ))
}

impl From<InventoryError> for Problem {
    fn from(err: InventoryError) -> Self {
        match &err {
            InventoryError::UnknownWarehouse => {
                Problem::invalid_field("warehouse_id", "no such warehouse")
            }
            InventoryError::WarehouseCodeTaken => {
                Problem::conflict("warehouse-code-taken", err.to_string())
            }
            InventoryError::Insufficient(short) => {
                Problem::conflict("insufficient-stock", err.to_string())
                    .with("short_skus", short.names())
            }
            InventoryError::BelowReserved(_) | InventoryError::BelowZero => {
                Problem::conflict("stock-conflict", err.to_string())
            }
            InventoryError::NoReservation => Problem::not_found("reservation"),
            InventoryError::ReservationClosed(_) => {
                Problem::conflict("reservation-closed", err.to_string())
            }
            InventoryError::Sql(_) => Problem::unexpected(&err),
        }
    }
}

type ApiResult<T> = Result<T, Problem>;

fn sku_from_path(raw: String) -> ApiResult<Sku> {
    Sku::try_from(raw).map_err(|e| Problem::invalid_field("sku", e.to_string()))
}

#[tracing::instrument(skip_all)]
async fn stock(
    State(app): State<InventoryApp>,
    Path(sku): Path<String>,
) -> ApiResult<Json<StockView>> {
    Ok(Json(app.stock(&sku_from_path(sku)?).await?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AdjustBody {
    sku: String,
    warehouse_id: String,
    delta: i64,
    reason: String,
}

#[tracing::instrument(skip_all)]
async fn adjust(
    State(app): State<InventoryApp>,
    caller: Principal,
    Json(body): Json<AdjustBody>,
) -> ApiResult<Json<StockView>> {
    caller.require_admin()?;
    let mut fields = Fields::default();
    let sku = fields.check("sku", Sku::try_from(body.sku));
    let reason = fields.check("reason", Text::<200>::try_from(body.reason));
    if body.delta == 0 || body.delta.unsigned_abs() > 1_000_000_000 {
        fields.push(
            "delta",
            "must be a non-zero number of units, at most 1000000000 either way",
        );
    }
    let (Some(sku), Some(reason), true) = (sku, reason, fields.is_ok()) else {
        return Err(fields.into_problem());
    };
    Ok(Json(
        app.adjust(
            &caller.subject,
            &sku,
            &body.warehouse_id,
            body.delta,
            &reason,
        )
        .await?,
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ThresholdBody {
    low_stock_threshold: i64,
}

#[tracing::instrument(skip_all)]
async fn set_threshold(
    State(app): State<InventoryApp>,
    caller: Principal,
    Path(sku): Path<String>,
    Json(body): Json<ThresholdBody>,
) -> ApiResult<Json<StockView>> {
    caller.require_admin()?;
    let sku = sku_from_path(sku)?;
    if !(0..=1_000_000_000).contains(&body.low_stock_threshold) {
        return Err(Problem::invalid_field(
            "low_stock_threshold",
            "must be between 0 and 1000000000",
        ));
    }
    Ok(Json(
        app.set_threshold(&sku, body.low_stock_threshold).await?,
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LineBody {
    sku: String,
    quantity: i64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ReserveBody {
    order_id: String,
    items: Vec<LineBody>,
    ttl_seconds: Option<i64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct OrderBody {
    order_id: String,
}

/// A reservation as the API shows it.
#[derive(Serialize)]
struct ReservationView {
    id: String,
    order_id: String,
    status: &'static str,
    expires_at: String,
    items: Vec<AllocationView>,
}

#[derive(Serialize)]
struct AllocationView {
    sku: Sku,
    warehouse_id: String,
    quantity: u32,
}

impl From<Reservation> for ReservationView {
    fn from(r: Reservation) -> Self {
        Self {
            id: r.id().to_owned(),
            order_id: r.order_id().to_owned(),
            status: r.status().as_str(),
            expires_at: platform::time::rfc3339(r.expires_at()),
            items: r
                .lines()
                .iter()
                .map(|line| AllocationView {
                    sku: line.sku.clone(),
                    warehouse_id: line.warehouse_id.clone(),
                    quantity: line.quantity,
                })
                .collect(),
        }
    }
}

fn order_id(raw: &str) -> ApiResult<&str> {
    let trimmed = raw.trim();
    if trimmed.is_empty() || trimmed.len() > 64 || trimmed.chars().any(char::is_control) {
        return Err(Problem::invalid_field(
            "order_id",
            "must be 1 to 64 characters",
        ));
    }
    Ok(trimmed)
}

#[tracing::instrument(skip_all)]
async fn reserve(
    State(app): State<InventoryApp>,
    caller: Principal,
    Json(body): Json<ReserveBody>,
) -> ApiResult<Response> {
    POLICY.require_manage(&caller)?;
    let mut fields = Fields::default();
    let order = order_id(&body.order_id).map_err(|_| ()).ok();
    if order.is_none() {
        fields.push("order_id", "must be 1 to 64 characters");
    }
    if body.items.is_empty() || body.items.len() > 100 {
        fields.push("items", "must hold 1 to 100 lines");
    }
    let mut items = Vec::with_capacity(body.items.len());
    for (i, line) in body.items.into_iter().enumerate() {
        let sku = fields.check(&format!("items[{i}].sku"), Sku::try_from(line.sku));
        let quantity = fields.check(
            &format!("items[{i}].quantity"),
            Quantity::try_from(line.quantity),
        );
        if let (Some(sku), Some(quantity)) = (sku, quantity) {
            items.push((sku, quantity));
        }
    }
    let config = app.config();
    let ttl = body
        .ttl_seconds
        .unwrap_or(config.default_reservation_ttl_secs);
    if !(1..=config.max_reservation_ttl_secs).contains(&ttl) {
        fields.push(
            "ttl_seconds",
            format!("must be between 1 and {}", config.max_reservation_ttl_secs),
        );
    }
    let (Some(order), true) = (order, fields.is_ok()) else {
        return Err(fields.into_problem());
    };
    let reservation = app.reserve(&caller.subject, order, &items, ttl).await?;
    Ok(created(
        &format!("/api/v1/inventory/reservations/{order}"),
        ReservationView::from(reservation),
    ))
}

#[tracing::instrument(skip_all)]
async fn get_reservation(
    State(app): State<InventoryApp>,
    caller: Principal,
    Path(order): Path<String>,
) -> ApiResult<Json<ReservationView>> {
    POLICY.require_manage(&caller)?;
    Ok(Json(app.reservation(order_id(&order)?).await?.into()))
}

#[tracing::instrument(skip_all)]
async fn release(
    State(app): State<InventoryApp>,
    caller: Principal,
    Json(body): Json<OrderBody>,
) -> ApiResult<Json<ReservationView>> {
    POLICY.require_manage(&caller)?;
    Ok(Json(
        app.release(&caller.subject, order_id(&body.order_id)?)
            .await?
            .into(),
    ))
}

#[tracing::instrument(skip_all)]
async fn commit(
    State(app): State<InventoryApp>,
    caller: Principal,
    Json(body): Json<OrderBody>,
) -> ApiResult<Json<ReservationView>> {
    POLICY.require_manage(&caller)?;
    Ok(Json(
        app.commit(&caller.subject, order_id(&body.order_id)?)
            .await?
            .into(),
    ))
}

#[derive(Serialize)]
struct LowStockView {
    sku: Sku,
    on_hand: i64,
    reserved: i64,
    available: i64,
    low_stock_threshold: i64,
}

impl From<LowStock> for LowStockView {
    fn from(low: LowStock) -> Self {
        Self {
            available: low.totals.available(),
            on_hand: low.totals.on_hand,
            reserved: low.totals.reserved,
            low_stock_threshold: low.threshold,
            sku: low.sku,
        }
    }
}

#[tracing::instrument(skip_all)]
async fn low_stock(
    State(app): State<InventoryApp>,
    caller: Principal,
    Query(query): Query<PageQuery>,
) -> ApiResult<Json<List<LowStockView>>> {
    caller.require_admin()?;
    let page = query.page()?;
    let rows = app
        .low_stock(page.after.as_deref(), page.fetch_limit())
        .await?;
    let list = List::from_rows(rows, &page, |r| r.sku.as_str().to_owned());
    Ok(Json(List {
        items: list.items.into_iter().map(LowStockView::from).collect(),
        next_cursor: list.next_cursor,
    }))
}

/// A warehouse as the API shows it.
#[derive(Serialize)]
struct WarehouseView {
    id: String,
    code: String,
    name: String,
}

impl From<Warehouse> for WarehouseView {
    fn from(w: Warehouse) -> Self {
        Self {
            id: w.id,
            code: w.code.as_str().to_owned(),
            name: w.name,
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct WarehouseBody {
    code: String,
    name: String,
}

#[tracing::instrument(skip_all)]
async fn create_warehouse(
    State(app): State<InventoryApp>,
    caller: Principal,
    Json(body): Json<WarehouseBody>,
) -> ApiResult<Response> {
    caller.require_admin()?;
    let mut fields = Fields::default();
    let code = fields.check("code", WarehouseCode::try_from(body.code));
    let name = fields.check("name", Text::<100>::try_from(body.name));
    let (Some(code), Some(name)) = (code, name) else {
        return Err(fields.into_problem());
    };
    let warehouse = app.create_warehouse(code, name).await?;
    Ok(created(
        &format!("/api/v1/warehouses/{}", warehouse.id),
        WarehouseView::from(warehouse),
    ))
}

#[tracing::instrument(skip_all)]
async fn get_warehouse(
    State(app): State<InventoryApp>,
    caller: Principal,
    Path(id): Path<String>,
) -> ApiResult<Json<WarehouseView>> {
    caller.require_admin()?;
    match app.warehouse(&id).await {
        Ok(warehouse) => Ok(Json(warehouse.into())),
        Err(InventoryError::UnknownWarehouse) => Err(Problem::not_found("warehouse")),
        Err(err) => Err(err.into()),
    }
}

#[tracing::instrument(skip_all)]
async fn list_warehouses(
    State(app): State<InventoryApp>,
    caller: Principal,
    Query(query): Query<PageQuery>,
) -> ApiResult<Json<List<WarehouseView>>> {
    caller.require_admin()?;
    let page = query.page()?;
    let rows = app
        .warehouses(page.after.as_deref(), page.fetch_limit())
        .await?;
    let list = List::from_rows(rows, &page, |w| w.id.clone());
    Ok(Json(List {
        items: list.items.into_iter().map(WarehouseView::from).collect(),
        next_cursor: list.next_cursor,
    }))
}
