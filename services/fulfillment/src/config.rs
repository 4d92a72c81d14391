//! Fulfillment's configuration (`[fulfillment]`, `VISCOUNT_FULFILLMENT__*`): rates,
//! the return window, the local courier's secret and the senders' addresses.

use std::collections::BTreeMap;

use platform::config::{ExposeSecret, Secret};
use serde::Deserialize;

/// The local courier's webhook secret when none is configured. For development and
/// tests only: anyone who reads this source can sign tracking updates with it, so a
/// deployment sets `VISCOUNT_FULFILLMENT__LOCAL_COURIER_SECRET`.
pub const DEV_LOCAL_COURIER_SECRET: &str = "viscount-dev-local-courier-secret";

/// Fulfillment's settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct FulfillmentConfig {
    /// ISO 4217 currency of carrier rates (`USD`).
    pub currency: String,
    /// Weight of one unit in grams (500). The catalog keeps no weights, so every unit
    /// of every sku weighs this much when parcels are priced.
    pub unit_weight_grams: u32,
    /// Days after delivery within which a return may be opened (30).
    pub return_window_days: u32,
    /// Secret the local courier signs its tracking webhooks with (HMAC-SHA256). The
    /// default, [`DEV_LOCAL_COURIER_SECRET`], is for development only.
    pub local_courier_secret: Secret,
    /// The local courier's public tracking page, with `{tracking_number}` replaced
    /// (none by default).
    pub local_courier_tracking_url: Option<String>,
    /// Where parcels leave from: the label's sender and the rate's origin, for every
    /// warehouse without an entry in `warehouses`.
    pub ship_from: ShipFrom,
    /// Sender addresses by warehouse id (`[fulfillment.warehouses.<id>]`).
    pub warehouses: BTreeMap<String, ShipFrom>,
}

impl Default for FulfillmentConfig {
    fn default() -> Self {
        Self {
            currency: "USD".into(),
            unit_weight_grams: 500,
            return_window_days: 30,
            local_courier_secret: Secret::from(DEV_LOCAL_COURIER_SECRET),
            local_courier_tracking_url: None,
            ship_from: ShipFrom::default(),
            warehouses: BTreeMap::new(),
        }
    }
}

impl FulfillmentConfig {
    /// The sender address of parcels from `warehouse_id`.
    pub fn ship_from(&self, warehouse_id: &str) -> &ShipFrom {
        self.warehouses.get(warehouse_id).unwrap_or(&self.ship_from)
    }

    /// Checks the rules the settings must follow.
    pub fn check(&self) -> Result<(), InvalidConfig> {
        if contracts::Money::price(0, &self.currency).is_err() {
            return Err(InvalidConfig("currency must be a known ISO 4217 code"));
        }
        if !(1..=1_000_000).contains(&self.unit_weight_grams) {
            return Err(InvalidConfig(
                "unit_weight_grams must be between 1 and 1000000",
            ));
        }
        if !(1..=3650).contains(&self.return_window_days) {
            return Err(InvalidConfig(
                "return_window_days must be between 1 and 3650",
            ));
        }
        if self.local_courier_secret.expose_secret().len() < 16 {
            return Err(InvalidConfig(
                "local_courier_secret must be at least 16 bytes",
            ));
        }
        Ok(())
    }
}

/// A sender address.
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct ShipFrom {
    /// Sender name.
    pub name: String,
    /// Street and number.
    pub line1: String,
    /// City.
    pub city: String,
    /// Postal code (rates compare its prefix with the recipient's).
    pub postal_code: String,
    /// ISO 3166-1 alpha-2 country.
    pub country: String,
}

impl Default for ShipFrom {
    fn default() -> Self {
        Self {
            name: "Viscount Fulfillment".into(),
            line1: "1 Warehouse Way".into(),
            city: "Springfield".into(),
            postal_code: "12300".into(),
            country: "US".into(),
        }
    }
}

/// The `[fulfillment]` configuration breaks a rule.
#[derive(Debug, thiserror::Error)]
#[error("invalid fulfillment configuration: {0}")]
pub struct InvalidConfig(pub &'static str);

#[cfg(test)]
mod tests {
    use platform::config::ConfigSource;

    use super::*;

    #[test]
    fn the_courier_secret_is_read_from_its_variable_and_never_printed() {
        let source = ConfigSource::from_parts(
            "[fulfillment]\ncurrency = \"EUR\"\n",
            [(
                "VISCOUNT_FULFILLMENT__LOCAL_COURIER_SECRET".to_owned(),
                "courier-secret-from-env".to_owned(),
            )],
        )
        .expect("source");
        let config: FulfillmentConfig = source.section("fulfillment").expect("section");
        assert_eq!(
            config.local_courier_secret.expose_secret(),
            "courier-secret-from-env"
        );
        assert!(config.check().is_ok());
        let printed = format!("{config:?}");
        assert!(printed.contains("\"EUR\""), "{printed}");
        assert!(printed.contains("[REDACTED]"), "{printed}");
        assert!(!printed.contains("courier-secret"), "{printed}");
        assert!(source.unknown_keys().is_empty());
    }

    #[test]
    fn a_short_courier_secret_is_refused() {
        let config = FulfillmentConfig {
            local_courier_secret: Secret::from("short"),
            ..FulfillmentConfig::default()
        };
        assert!(config.check().is_err());
        assert!(FulfillmentConfig::default().check().is_ok());
    }
}
