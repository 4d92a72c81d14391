//! Payments' configuration (`[payments]`, `VISCOUNT_PAYMENTS__*`) and where the running
//! service reads it from.
//!
//! The fraud limits are tightened or loosened by an operator while the platform runs
//! (coordination's `PUT /api/v1/config/payments`), so the service reads its settings
//! through [`PaymentsSettings`] on each use instead of keeping the values it started
//! with. The expiry of payments no order took up (see `app::expiry`) is read the same
//! way, though only a restart changes it (it is not a live key), and so are the
//! invoices' seller and tax rate (`[payments.invoices]`).

use std::sync::Arc;

use platform::live::LiveSection;
use serde::Deserialize;

/// Payments' settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct PaymentsConfig {
    /// Largest amount (minor units) authorized without a fraud block.
    pub max_amount_minor: i64,
    /// Authorization attempts per user per minute beyond which the fraud rules block.
    pub fraud_max_attempts_per_minute: u32,
    /// How long a payment may stay `pending` (no order had it authorized) before it is
    /// cancelled as abandoned. Longer than ordering's two saga steps together, so only
    /// a payment whose order never came to exist, or was cancelled, is still pending.
    pub pending_expiry_secs: u64,
    /// How long an authorization may wait for its capture before it is voided at the
    /// provider, as card networks let a hold lapse (a confirmed order captures within
    /// moments; only an order whose confirmation or cancellation never reached payments
    /// leaves one).
    pub authorization_expiry_secs: u64,
    /// How often abandoned payments are looked for.
    pub expiry_sweep_interval_ms: u64,
    /// Invoices and credit notes (`[payments.invoices]`).
    pub invoices: InvoicesConfig,
}

/// What invoices and credit notes say about the shop and its tax. Read when a
/// document is issued; a document once issued keeps what it said.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct InvoicesConfig {
    /// Who sells: printed at the top of every invoice and credit note.
    pub seller: SellerConfig,
    /// The VAT rate in basis points (2000 = 20 %), 0 to 10 000. Prices are
    /// tax-inclusive: the tax is the part of each total the rate stands for (see
    /// `domain::invoice::TaxSplit`).
    pub tax_rate_basis_points: u32,
}

/// The seller on invoices: a demo shop unless configured.
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct SellerConfig {
    /// Legal name.
    pub name: String,
    /// Street, postal code and city, one entry a printed line.
    pub address_lines: Vec<String>,
    /// ISO 3166-1 alpha-2 country.
    pub country: String,
    /// VAT identification number; none printed when empty.
    pub vat_id: String,
}

impl Default for SellerConfig {
    fn default() -> Self {
        Self {
            name: "Viscount Demo Shop".to_owned(),
            address_lines: vec!["1 Depot Road".to_owned(), "62701 Springfield".to_owned()],
            country: "US".to_owned(),
            vat_id: String::new(),
        }
    }
}

impl Default for PaymentsConfig {
    fn default() -> Self {
        Self {
            max_amount_minor: 1_000_000,
            fraud_max_attempts_per_minute: 5,
            pending_expiry_secs: 15 * 60,
            authorization_expiry_secs: 7 * 24 * 3600,
            expiry_sweep_interval_ms: 60_000,
            invoices: InvoicesConfig::default(),
        }
    }
}

/// Where the service reads its settings: the live configuration (the service as the
/// platform runs it), or fixed values (operations driven directly, as in tests).
#[derive(Clone)]
pub struct PaymentsSettings(Source);

#[derive(Clone)]
enum Source {
    Fixed(Arc<PaymentsConfig>),
    Live(Arc<LiveSection<PaymentsConfig>>),
}

impl PaymentsSettings {
    /// Settings that follow `section`: a change applies to the next authorization.
    pub fn live(section: LiveSection<PaymentsConfig>) -> Self {
        Self(Source::Live(Arc::new(section)))
    }

    /// Settings that never change.
    pub fn fixed(config: PaymentsConfig) -> Self {
        Self(Source::Fixed(Arc::new(config)))
    }

    /// The settings now (cheap: read them per use, do not keep them).
    pub fn get(&self) -> Arc<PaymentsConfig> {
        match &self.0 {
            Source::Fixed(config) => config.clone(),
            Source::Live(section) => section.get(),
        }
    }
}

impl From<PaymentsConfig> for PaymentsSettings {
    fn from(config: PaymentsConfig) -> Self {
        Self::fixed(config)
    }
}

#[cfg(test)]
mod tests {
    use platform::config::ConfigSource;

    use super::*;

    #[test]
    fn the_invoice_seller_and_tax_rate_come_from_the_file_and_the_variables() {
        let source = ConfigSource::from_parts(
            "[payments.invoices]\ntax_rate_basis_points = 1900\n\
             [payments.invoices.seller]\nname = \"Kaufhaus GmbH\"\n\
             address_lines = [\"Hauptstr. 1\", \"10115 Berlin\"]\ncountry = \"DE\"\n",
            [(
                "VISCOUNT_PAYMENTS__INVOICES__SELLER__VAT_ID".to_owned(),
                "DE123456789".to_owned(),
            )],
        )
        .expect("source");
        let config: PaymentsConfig = source.section("payments").expect("section");
        let invoices = &config.invoices;
        assert_eq!(invoices.tax_rate_basis_points, 1_900);
        assert_eq!(invoices.seller.name, "Kaufhaus GmbH");
        assert_eq!(
            invoices.seller.address_lines,
            ["Hauptstr. 1", "10115 Berlin"]
        );
        assert_eq!(invoices.seller.country, "DE");
        assert_eq!(invoices.seller.vat_id, "DE123456789");
        assert!(
            source.unknown_keys().is_empty(),
            "{:?}",
            source.unknown_keys()
        );

        // Without configuration: a demo shop without tax.
        let defaults = PaymentsConfig::default().invoices;
        assert_eq!(defaults.tax_rate_basis_points, 0);
        assert!(!defaults.seller.name.is_empty());
    }
}
