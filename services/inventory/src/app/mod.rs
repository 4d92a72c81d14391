//! Inventory's operations, one file per idea: `warehouses`, `stock` (reading and
//! adjusting levels, restocking returns), `ledger` (reading a sku's movements),
//! `reservations` (holding, committing, releasing and expiring stock for orders) and
//! `alerts` (low-stock crossings and the totals announced to the catalog). Each change
//! runs in one transaction with its ledger rows and events; the `*_in` forms run inside
//! a transaction the caller owns (the event consumer's, which also holds the inbox row).

mod alerts;
mod ledger;
mod reservations;
mod stock;
mod warehouses;

use std::sync::Arc;

use platform::bus::Outbox;
use platform::db::Db;
use platform::live::LiveSection;
use platform::time::Clock;

pub use reservations::ClosedReservations;

use crate::config::InventoryConfig;
use crate::domain::{Level, ReservationStatus, Shortage, Sku, StockLevel, Totals};

/// Why an inventory operation failed.
#[derive(Debug, thiserror::Error)]
pub enum InventoryError {
    /// No warehouse with that id or code.
    #[error("warehouse not found")]
    UnknownWarehouse,
    /// The warehouse code is taken.
    #[error("a warehouse with this code already exists")]
    WarehouseCodeTaken,
    /// Not enough free stock for these skus; nothing was reserved.
    #[error(transparent)]
    Insufficient(Shortage),
    /// The adjustment would take on-hand below what is reserved.
    #[error("on_hand would fall below the {0} units reserved")]
    BelowReserved(i64),
    /// The adjustment would take on-hand below zero.
    #[error("on_hand would fall below zero")]
    BelowZero,
    /// No reservation for the order.
    #[error("no reservation for this order")]
    NoReservation,
    /// The reservation is no longer active.
    #[error("the reservation is {0}")]
    ReservationClosed(ReservationStatus),
    /// The database failed.
    #[error(transparent)]
    Sql(#[from] platform::db::Error),
}

/// A sku's stock across warehouses, as the API shows it.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct StockView {
    /// The sku.
    pub sku: Sku,
    /// Units on hand.
    pub on_hand: i64,
    /// Units reserved.
    pub reserved: i64,
    /// Units free to reserve (on hand less reserved).
    pub available: i64,
    /// Per warehouse.
    pub locations: Vec<LocationView>,
}

/// A sku's totals over every warehouse, as the availability answer shows them.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct Availability {
    /// The sku.
    pub sku: Sku,
    /// Units free to reserve (on hand less reserved).
    pub available: i64,
    /// Units on hand.
    pub on_hand: i64,
    /// Units reserved.
    pub reserved: i64,
}

/// Stock in one warehouse.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct LocationView {
    /// The warehouse.
    pub warehouse_id: String,
    /// Units on hand.
    pub on_hand: i64,
    /// Units reserved.
    pub reserved: i64,
}

impl StockView {
    fn new(sku: &Sku, levels: &[Level]) -> Self {
        let totals = Totals::of(levels);
        Self {
            sku: sku.clone(),
            on_hand: totals.on_hand,
            reserved: totals.reserved,
            available: totals.available(),
            locations: levels
                .iter()
                .map(|l| LocationView {
                    warehouse_id: l.warehouse_id.clone(),
                    on_hand: l.on_hand,
                    reserved: l.reserved,
                })
                .collect(),
        }
    }
}

impl From<&StockLevel> for StockView {
    fn from(stock: &StockLevel) -> Self {
        Self::new(stock.sku(), stock.levels())
    }
}

/// The inventory service's operations.
#[derive(Clone)]
pub struct InventoryApp {
    pub(crate) db: Db,
    pub(crate) outbox: Outbox,
    pub(crate) clock: Clock,
    pub(crate) config: InventoryConfig,
    /// The same section followed live; only the default low-stock threshold is read
    /// from it (the other settings take effect at the next start).
    pub(crate) live: Arc<LiveSection<InventoryConfig>>,
}

impl InventoryApp {
    /// The service's database.
    pub fn db(&self) -> &Db {
        &self.db
    }

    /// The service's configuration as it started (its live settings are read through
    /// their own accessors, such as [`InventoryApp::default_low_stock_threshold`]).
    pub fn config(&self) -> &InventoryConfig {
        &self.config
    }

    /// The low-stock threshold of skus without their own, as configured now: an
    /// operator's change applies to the next stock change and listing.
    pub fn default_low_stock_threshold(&self) -> i64 {
        self.live.get().default_low_stock_threshold
    }
}
