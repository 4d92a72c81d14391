//! Inventory's HTTP surface: API.md's Inventory table, plus commit, per-sku thresholds,
//! a sku's movement ledger and many skus' availability at once (seed 003). Handlers
//! check who may call, turn bodies into validated domain inputs, call the app and
//! render what it returns. Each route is declared with its OpenAPI description
//! ([`api`]).

use axum::Router;
use axum::extract::{Path, State};
use axum::middleware::from_fn_with_state;
use axum::response::Response;
use platform::auth::{Authenticator, Policy, Principal};
use platform::http::api::{ApiRouter, problems, routes};
use platform::http::{Fields, Json, List, PageQuery, Problem, Query, created};
use serde::{Deserialize, Serialize};
use utoipa::openapi::schema::{ObjectBuilder, Type};
use utoipa::{IntoParams, ToSchema};

use crate::app::{Availability, InventoryApp, InventoryError, StockView};
use crate::domain::{
    LedgerEntry, LowStock, MovementKind, Quantity, Reservation, ReservationStatus, Sku, Text,
    Warehouse, WarehouseCode,
};

/// The scope a service client needs to reserve, release and commit.
pub const SCOPE_WRITE: &str = "inventory:write";

/// Who manages reservations: admins, and service clients holding [`SCOPE_WRITE`].
/// Warehouses, adjustments and thresholds stay admin-only.
pub const POLICY: Policy = Policy::managed_by(SCOPE_WRITE);

/// The routes and their documentation, declared without values.
pub fn api() -> ApiRouter<InventoryApp> {
    ApiRouter::new()
        .routes(routes!(low_stock))
        .routes(routes!(availability))
        .routes(routes!(adjust))
        .routes(routes!(reserve))
        .routes(routes!(release))
        .routes(routes!(commit))
        .routes(routes!(get_reservation))
        .routes(routes!(stock))
        .routes(routes!(ledger))
        .routes(routes!(set_threshold))
        .routes(routes!(list_warehouses, create_warehouse))
        .routes(routes!(get_warehouse))
}

/// The routes with the service's state, behind the authentication middleware.
pub fn router(app: InventoryApp, authenticator: Authenticator) -> Router {
    let (routes, _) = api().split_for_parts();
    routes.with_state(app).layer(from_fn_with_state(
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

/// A sku's stock: totals and per warehouse (zero for a sku never adjusted).
#[utoipa::path(
    get,
    path = "/api/v1/inventory/{sku}",
    params(("sku" = String, Path, description = "The sku", pattern = r"^[A-Za-z0-9._-]{1,64}$")),
    responses(
        (status = 200, description = "The sku's stock", body = StockView),
        problems::Invalid,
    ),
    security(()),
)]
#[tracing::instrument(skip_all)]
async fn stock(
    State(app): State<InventoryApp>,
    Path(sku): Path<String>,
) -> ApiResult<Json<StockView>> {
    Ok(Json(app.stock(&sku_from_path(sku)?).await?))
}

/// The ledger's `warehouse` filter (the paging is [`PageQuery`]'s, documented beside it).
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct LedgerQuery {
    /// Only movements in this warehouse, by id or code (an unknown one is 422).
    #[serde(default)]
    warehouse: Option<String>,
    #[serde(flatten)]
    #[param(ignore)]
    page: PageQuery,
}

/// The ledger's kind names, as [`MovementKind::as_str`] spells them.
fn movement_kind() -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .description(Some(
            "Which change it was: an operator's adjustment, units reserved, released, \
             expired or committed for an order, or units returned on hand",
        ))
        .enum_values(Some(MovementKind::ALL.map(MovementKind::as_str)))
}

/// One movement of a sku's stock in one warehouse, as the ledger records it.
#[derive(Serialize, ToSchema)]
struct LedgerEntryView {
    /// Id.
    id: String,
    /// The sku.
    sku: Sku,
    /// The warehouse whose level moved.
    warehouse_id: String,
    /// Which change it was.
    #[schema(schema_with = movement_kind)]
    kind: &'static str,
    /// Change of on-hand units.
    on_hand_delta: i64,
    /// Change of reserved units.
    reserved_delta: i64,
    /// Why: an operator's reason, or what the system did.
    reason: String,
    /// Who: a user or client id, or `system`.
    actor: String,
    /// The order or return it concerns (null for an adjustment).
    reference: Option<String>,
    /// When, RFC 3339.
    #[schema(format = DateTime)]
    at: String,
}

impl From<LedgerEntry> for LedgerEntryView {
    fn from(e: LedgerEntry) -> Self {
        Self {
            id: e.id,
            sku: e.sku,
            warehouse_id: e.warehouse_id,
            kind: e.kind.as_str(),
            on_hand_delta: e.on_hand_delta,
            reserved_delta: e.reserved_delta,
            reason: e.reason,
            actor: e.actor,
            reference: e.reference,
            at: platform::time::rfc3339(e.at),
        }
    }
}

/// A sku's stock ledger, newest first: every movement of its levels (admins).
///
/// Adjustments, reservations and their release, expiry or commit, and returns, each
/// with its deltas, reason and actor; in one warehouse when `warehouse` names one. A
/// sku never moved has an empty ledger.
#[utoipa::path(
    get,
    path = "/api/v1/inventory/{sku}/ledger",
    params(
        ("sku" = String, Path, description = "The sku", pattern = r"^[A-Za-z0-9._-]{1,64}$"),
        LedgerQuery, PageQuery,
    ),
    responses(
        (status = 200, description = "One page of the sku's movements, newest first", body = List<LedgerEntryView>),
        problems::Unauthorized, problems::Forbidden, problems::Invalid,
    ),
)]
#[tracing::instrument(skip_all)]
async fn ledger(
    State(app): State<InventoryApp>,
    caller: Principal,
    Path(sku): Path<String>,
    Query(query): Query<LedgerQuery>,
) -> ApiResult<Json<List<LedgerEntryView>>> {
    caller.require_admin()?;
    let sku = sku_from_path(sku)?;
    let page = query.page.page()?;
    let warehouse = query
        .warehouse
        .as_deref()
        .map(str::trim)
        .filter(|w| !w.is_empty());
    let rows = app
        .ledger(&sku, warehouse, page.after.as_deref(), page.fetch_limit())
        .await
        .map_err(|err| match err {
            InventoryError::UnknownWarehouse => {
                Problem::invalid_field("warehouse", "no such warehouse")
            }
            err => err.into(),
        })?;
    let list = List::from_rows(rows, &page, |e| e.id.clone());
    Ok(Json(List {
        items: list.items.into_iter().map(LedgerEntryView::from).collect(),
        next_cursor: list.next_cursor,
    }))
}

/// Most skus one availability request may ask for.
const MAX_AVAILABILITY_SKUS: usize = 200;

/// Which skus to read.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct AvailabilityQuery {
    /// Comma-separated skus, 1 to 200 (`a,b,c`).
    #[param(pattern = r"^\s*[A-Za-z0-9._-]{1,64}\s*(,\s*[A-Za-z0-9._-]{1,64}\s*){0,199}$")]
    skus: String,
}

/// The answer for many skus.
#[derive(Serialize, ToSchema)]
struct AvailabilityList {
    /// One per sku asked, in the order asked (a repeat once; an unknown sku with zeros).
    items: Vec<Availability>,
}

/// Many skus' totals at once: available, on hand and reserved over every warehouse.
#[utoipa::path(
    get,
    path = "/api/v1/inventory/availability",
    params(AvailabilityQuery),
    responses(
        (status = 200, description = "Each sku's totals", body = AvailabilityList),
        problems::Invalid,
    ),
    security(()),
)]
#[tracing::instrument(skip_all)]
async fn availability(
    State(app): State<InventoryApp>,
    Query(query): Query<AvailabilityQuery>,
) -> ApiResult<Json<AvailabilityList>> {
    let mut skus = Vec::new();
    for raw in query.skus.split(',') {
        let sku = Sku::try_from(raw.to_owned())
            .map_err(|e| Problem::invalid_field("skus", format!("{:?} {e}", raw.trim())))?;
        skus.push(sku);
    }
    if skus.len() > MAX_AVAILABILITY_SKUS {
        return Err(Problem::invalid_field(
            "skus",
            format!("at most {MAX_AVAILABILITY_SKUS} skus at once"),
        ));
    }
    Ok(Json(AvailabilityList {
        items: app.availability(&skus).await?,
    }))
}

/// An operator's change of on-hand units in one warehouse.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"sku": "DEMO-00005", "warehouse_id": "MAIN", "delta": 25, "reason": "stock count"}))]
struct AdjustBody {
    /// The sku: 1 to 64 of `A-Z a-z 0-9 - _ .`.
    #[schema(min_length = 1, max_length = 64, pattern = r"^[A-Za-z0-9._-]{1,64}$")]
    sku: String,
    /// The warehouse, by id or code (an unknown one is 422).
    #[schema(min_length = 1)]
    warehouse_id: String,
    /// Units to add (positive) or remove (negative); not zero.
    #[schema(minimum = -1_000_000_000, maximum = 1_000_000_000)]
    delta: i64,
    /// Why, for the ledger: 1 to 200 characters, no control characters.
    #[schema(
        min_length = 1,
        max_length = 200,
        pattern = r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$"
    )]
    reason: String,
}

/// Adds or removes on-hand units in one warehouse (admins); never below what is reserved.
#[utoipa::path(
    post,
    path = "/api/v1/inventory/adjust",
    request_body = AdjustBody,
    responses(
        (status = 200, description = "The sku's stock after the change", body = StockView),
        problems::BadRequest, problems::Unauthorized, problems::Forbidden, problems::Conflict,
        problems::Invalid,
    ),
)]
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

/// A sku's own low-stock threshold.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"low_stock_threshold": 10}))]
struct ThresholdBody {
    /// Available units at or under which the sku is low on stock.
    #[schema(minimum = 0, maximum = 1_000_000_000)]
    low_stock_threshold: i64,
}

/// Sets a sku's low-stock threshold (admins), instead of the default one.
#[utoipa::path(
    put,
    path = "/api/v1/inventory/{sku}/threshold",
    params(("sku" = String, Path, description = "The sku", pattern = r"^[A-Za-z0-9._-]{1,64}$")),
    request_body = ThresholdBody,
    responses(
        (status = 200, description = "The sku's stock", body = StockView),
        problems::BadRequest, problems::Unauthorized, problems::Forbidden, problems::Invalid,
    ),
)]
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

/// One line of a reservation request.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct LineBody {
    /// The sku: 1 to 64 of `A-Z a-z 0-9 - _ .`.
    #[schema(min_length = 1, max_length = 64, pattern = r"^[A-Za-z0-9._-]{1,64}$")]
    sku: String,
    /// Units to hold (the same sku on several lines adds up).
    #[schema(minimum = 1, maximum = 1_000_000)]
    quantity: i64,
}

/// Stock to hold for an order.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"order_id": "0190f5d2-7c3a-7b4e-9a51-2f0c8e1d4b6a", "items": [{"sku": "DEMO-00005", "quantity": 2}], "ttl_seconds": 900}))]
struct ReserveBody {
    /// The order: 1 to 64 characters, no control characters.
    #[schema(
        min_length = 1,
        max_length = 64,
        pattern = r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$"
    )]
    order_id: String,
    /// 1 to 100 lines.
    #[schema(min_items = 1, max_items = 100)]
    items: Vec<LineBody>,
    /// How long the hold lasts unless committed or released: 1 second to the configured
    /// maximum (a day by default); the configured default (15 minutes) when absent.
    #[schema(minimum = 1, maximum = 86_400)]
    ttl_seconds: Option<i64>,
}

/// An order's reservation to release or commit.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"order_id": "0190f5d2-7c3a-7b4e-9a51-2f0c8e1d4b6a"}))]
struct OrderBody {
    /// The order: 1 to 64 characters, no control characters.
    #[schema(
        min_length = 1,
        max_length = 64,
        pattern = r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$"
    )]
    order_id: String,
}

/// A reservation as the API shows it.
#[derive(Serialize, ToSchema)]
struct ReservationView {
    /// Id.
    id: String,
    /// The order it holds stock for.
    order_id: String,
    /// Where it is in its life.
    #[schema(schema_with = reservation_status)]
    status: &'static str,
    /// When an active reservation is released unless committed, RFC 3339.
    expires_at: String,
    /// What is held, per sku and warehouse.
    items: Vec<AllocationView>,
}

/// A reservation's status names, as [`ReservationStatus::as_str`] spells them.
fn reservation_status() -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .enum_values(Some(ReservationStatus::ALL.map(ReservationStatus::as_str)))
}

/// Units of one sku held in one warehouse.
#[derive(Serialize, ToSchema)]
struct AllocationView {
    /// The sku.
    sku: Sku,
    /// The warehouse holding them.
    warehouse_id: String,
    /// How many.
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

/// Holds stock for every line of an order, or for none (services and admins).
///
/// A repeat for the same order answers the reservation made first.
#[utoipa::path(
    post,
    path = "/api/v1/inventory/reserve",
    request_body = ReserveBody,
    responses(
        (status = 201, description = "Reserved (or the order's earlier reservation)", body = ReservationView,
            headers(("Location" = String, description = "The order's reservation"))),
        problems::BadRequest, problems::Unauthorized, problems::Forbidden,
        (status = 409, description = "Not enough free stock (`short_skus` names them), nothing reserved",
            content_type = "application/problem+json", body = Problem),
        problems::Invalid,
    ),
)]
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

/// An order's reservation, whatever its status (services and admins).
#[utoipa::path(
    get,
    path = "/api/v1/inventory/reservations/{order_id}",
    params(("order_id" = String, Path, description = "The order: 1 to 64 characters, no control characters",
        max_length = 64, pattern = r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$")),
    responses(
        (status = 200, description = "The reservation", body = ReservationView),
        problems::Unauthorized, problems::Forbidden, problems::NotFound, problems::Invalid,
    ),
)]
#[tracing::instrument(skip_all)]
async fn get_reservation(
    State(app): State<InventoryApp>,
    caller: Principal,
    Path(order): Path<String>,
) -> ApiResult<Json<ReservationView>> {
    POLICY.require_manage(&caller)?;
    Ok(Json(app.reservation(order_id(&order)?).await?.into()))
}

/// Releases an order's active reservation: its units are free again (services and admins).
#[utoipa::path(
    post,
    path = "/api/v1/inventory/release",
    request_body = OrderBody,
    responses(
        (status = 200, description = "Released", body = ReservationView),
        problems::BadRequest, problems::Unauthorized, problems::Forbidden, problems::NotFound,
        problems::Conflict, problems::Invalid,
    ),
)]
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

/// Commits an order's active reservation: its units leave stock (services and admins).
#[utoipa::path(
    post,
    path = "/api/v1/inventory/commit",
    request_body = OrderBody,
    responses(
        (status = 200, description = "Committed", body = ReservationView),
        problems::BadRequest, problems::Unauthorized, problems::Forbidden, problems::NotFound,
        problems::Conflict, problems::Invalid,
    ),
)]
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

/// A sku at or under its low-stock threshold.
#[derive(Serialize, ToSchema)]
struct LowStockView {
    /// The sku.
    sku: Sku,
    /// Units on hand, in all warehouses.
    on_hand: i64,
    /// Units reserved.
    reserved: i64,
    /// Units free to reserve.
    available: i64,
    /// Its threshold (its own, or the default).
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

/// The skus whose available units are at or under their threshold (admins).
#[utoipa::path(
    get,
    path = "/api/v1/inventory/low-stock",
    params(PageQuery),
    responses(
        (status = 200, description = "One page of skus low on stock, by sku", body = List<LowStockView>),
        problems::Unauthorized, problems::Forbidden, problems::Invalid,
    ),
)]
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
#[derive(Serialize, ToSchema)]
struct WarehouseView {
    /// Id.
    id: String,
    /// Short unique code, uppercase.
    code: String,
    /// Name.
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

/// A new warehouse.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"code": "MAIN", "name": "Main warehouse"}))]
struct WarehouseBody {
    /// Short unique code: 1 to 32 of `A-Z 0-9 - _` (stored uppercase).
    #[schema(min_length = 1, max_length = 32, pattern = r"^[A-Za-z0-9_-]{1,32}$")]
    code: String,
    /// Name: 1 to 100 characters, no control characters.
    #[schema(
        min_length = 1,
        max_length = 100,
        pattern = r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$"
    )]
    name: String,
}

/// Creates a warehouse (admins).
#[utoipa::path(
    post,
    path = "/api/v1/warehouses",
    request_body = WarehouseBody,
    responses(
        (status = 201, description = "Created", body = WarehouseView,
            headers(("Location" = String, description = "The new warehouse"))),
        problems::BadRequest, problems::Unauthorized, problems::Forbidden, problems::Conflict,
        problems::Invalid,
    ),
)]
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

/// A warehouse, by id or code (admins).
#[utoipa::path(
    get,
    path = "/api/v1/warehouses/{id}",
    params(("id" = String, Path, description = "The warehouse's id or code")),
    responses(
        (status = 200, description = "The warehouse", body = WarehouseView),
        problems::Unauthorized, problems::Forbidden, problems::NotFound,
    ),
)]
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

/// The warehouses, by id (admins).
#[utoipa::path(
    get,
    path = "/api/v1/warehouses",
    params(PageQuery),
    responses(
        (status = 200, description = "One page of warehouses", body = List<WarehouseView>),
        problems::Unauthorized, problems::Forbidden, problems::Invalid,
    ),
)]
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
