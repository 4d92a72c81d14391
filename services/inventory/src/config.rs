//! Inventory's configuration (`[inventory]`, `VISCOUNT_INVENTORY__*`).
//!
//! `default_low_stock_threshold` applies while the service runs (coordination's
//! `PUT /api/v1/config/inventory`; read through `InventoryApp::default_low_stock_threshold`);
//! the other settings take effect at the next start.

use serde::Deserialize;

/// Inventory's settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct InventoryConfig {
    /// Threshold of skus without their own (live).
    pub default_low_stock_threshold: i64,
    /// Reservation lifetime when the caller gives none.
    pub default_reservation_ttl_secs: i64,
    /// Longest reservation lifetime a caller may ask for.
    pub max_reservation_ttl_secs: i64,
    /// How often expired reservations are released.
    pub expiry_sweep_interval_ms: u64,
    /// How often changed stock totals are announced (`inventory.stock.updated`, one
    /// per changed sku per pass): the most the catalog's `in_stock` lags behind.
    pub stock_totals_interval_ms: u64,
    /// Days a released, expired or returned reservation (with its lines) is kept after
    /// it closed; the retention sweep (`[retention]`) deletes it then. The stock
    /// ledger keeps every movement it made.
    pub reservation_retention_days: u32,
    /// Days a committed reservation is kept after its commit. Longer: while its order
    /// may still be cancelled before shipment, the reservation says which units to put
    /// back on hand.
    pub committed_reservation_retention_days: u32,
}

impl Default for InventoryConfig {
    fn default() -> Self {
        Self {
            default_low_stock_threshold: 5,
            default_reservation_ttl_secs: 15 * 60,
            max_reservation_ttl_secs: 24 * 3600,
            expiry_sweep_interval_ms: 1000,
            stock_totals_interval_ms: 500,
            reservation_retention_days: 7,
            committed_reservation_retention_days: 90,
        }
    }
}
