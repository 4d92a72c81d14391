//! Payments' configuration (`[payments]`, `VISCOUNT_PAYMENTS__*`) and where the running
//! service reads it from.
//!
//! The fraud limits are tightened or loosened by an operator while the platform runs
//! (coordination's `PUT /api/v1/config/payments`), so the service reads its settings
//! through [`PaymentsSettings`] on each use instead of keeping the values it started
//! with. The expiry of payments no order took up (see `app::expiry`) is read the same
//! way, though only a restart changes it (it is not a live key), and so are the
//! invoices' seller and tax rate (`[payments.invoices]`) and the fraud rules' scores
//! (`[payments.fraud]`). Which card provider the service talks to (`provider`,
//! `[payments.stripe]`) is read once, when it starts.

use std::sync::Arc;

use platform::config::Secret;
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
    /// How long a call to the provider may stay without a recorded outcome before
    /// the reconciler asks the provider what became of it (the process died between
    /// making it and recording its answer, or the provider never answered). Longer
    /// than a call can take (`stripe.timeout_ms` twice over), so the reconciler never
    /// asks about a call still on its way; and, with `call_sweep_interval_ms` and the
    /// reconciler's own call to the provider, inside ordering's
    /// `saga_step_timeout_secs`, or a payment interrupted by a crash would be settled
    /// only after its order had been cancelled for taking too long (30 s + 5 s + 10 s
    /// against 60 s by default).
    pub call_answer_wait_ms: u64,
    /// How often calls without a recorded outcome are looked for.
    pub call_sweep_interval_ms: u64,
    /// How long the order's saga waits for a customer the provider asked to
    /// authenticate the card (3-D Secure) before it cancels the order. Below
    /// `pending_expiry_secs` and inventory's reservation TTL (900 s).
    pub customer_action_wait_secs: u64,
    /// Invoices and credit notes (`[payments.invoices]`).
    pub invoices: InvoicesConfig,
    /// The fraud rules' scores and thresholds (`[payments.fraud]`).
    pub fraud: FraudConfig,
    /// The card provider: `sandbox` (the default, built in) or `stripe`. Read when the
    /// service starts; a change needs a restart.
    pub provider: ProviderKind,
    /// Stripe's API and keys (`[payments.stripe]`), used when `provider = "stripe"`.
    pub stripe: StripeConfig,
}

/// Which card provider payments uses.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ProviderKind {
    /// The built-in processor in test mode: no account, no money.
    #[default]
    Sandbox,
    /// Stripe's PaymentIntents with manual capture.
    Stripe,
}

/// Stripe's API and keys (`[payments.stripe]`, `VISCOUNT_PAYMENTS__STRIPE__*`). The
/// keys are secrets: `Debug` prints them redacted, and only the requests to Stripe
/// read them.
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct StripeConfig {
    /// Where Stripe's API answers: `https://api.stripe.com`, or a Stripe-compatible
    /// server (localstripe in the tests).
    pub api_base: String,
    /// The secret key (`sk_...`) or a restricted key (`rk_...`) every request is
    /// authenticated with. Required with `provider = "stripe"`; a live key is sent
    /// only over HTTPS.
    pub secret_key: Option<Secret>,
    /// The signing secret (`whsec_...`) of the webhook endpoint Stripe calls.
    pub webhook_secret: Option<Secret>,
    /// How long one call to Stripe may take, connecting included, in milliseconds. A
    /// call that times out is a provider failure, not a decline: the same call with
    /// the same idempotency key may be made again.
    pub timeout_ms: u64,
}

impl Default for StripeConfig {
    fn default() -> Self {
        Self {
            api_base: "https://api.stripe.com".to_owned(),
            secret_key: None,
            webhook_secret: None,
            timeout_ms: 10_000,
        }
    }
}

/// The fraud rules' scores and thresholds (see `domain::fraud`). The amount limit and
/// the attempts per minute stay `payments.max_amount_minor` and
/// `payments.fraud_max_attempts_per_minute` (live keys); these are read per
/// authorization too, but change only with a restart.
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct FraudConfig {
    /// From this total score an authorization waits for review.
    pub review_score: u32,
    /// From this total score an authorization is declined at once.
    pub block_score: u32,
    /// Score of `amount_limit` (above `payments.max_amount_minor`).
    pub amount_limit_score: u32,
    /// Score of `user_velocity` (`payments.fraud_max_attempts_per_minute` reached).
    pub user_velocity_score: u32,
    /// Payments on one card in an hour from which `card_velocity` fires; 0 (the
    /// default) switches it off. Off by default because the card is recognised by
    /// brand, last four digits and expiry (payments keeps nothing else of it), so every
    /// shopper paying with one test card — load tests, the sandbox's demo cards — would
    /// count as one card; a shop turns it on with a limit that fits its traffic.
    pub card_attempts_per_hour: u32,
    /// Score of `card_velocity`.
    pub card_velocity_score: u32,
    /// Payments from one client address in an hour from which `ip_velocity` fires; 0
    /// (the default) switches it off. Off by default for the reason `card_velocity`
    /// is, and because many shoppers share an address (an office, a mobile carrier's
    /// NAT); a shop turns it on with a limit that fits its traffic.
    pub ip_attempts_per_hour: u32,
    /// Score of `ip_velocity`.
    pub ip_velocity_score: u32,
    /// Score of `country_mismatch`: the card's billing country (the payment's
    /// `method.billing_country`, or the order's `payment.billing_country`) is not the
    /// country the order ships to. Below the review score by default: alone it is
    /// more often a gift than a fraud, with another signal it blocks. 0: off.
    pub country_mismatch_score: u32,
    /// `unusual_amount` fires above this multiple of the mean of the customer's last
    /// captured payments (with at least 3 of them); 0 switches it off.
    pub usual_multiple: u32,
    /// How many of the customer's last captured payments make the usual amount.
    pub usual_history: u32,
    /// Score of `unusual_amount`.
    pub unusual_amount_score: u32,
    /// How long a held authorization waits for a person before it is declined
    /// (`fraud_review_expired`). Must stay below inventory's reservation TTL (900 s):
    /// the stock of an order waiting for review stays reserved only that long. Ordering
    /// gives an order whose payment is in review this long (plus a margin) before its
    /// saga step times out. (A held payment is `pending`, but the abandoned-payment
    /// sweep leaves it to this timeout whatever `pending_expiry_secs` says.)
    pub review_timeout_secs: u64,
    /// How often expired reviews are looked for.
    pub review_sweep_interval_ms: u64,
}

impl Default for FraudConfig {
    fn default() -> Self {
        Self {
            review_score: 50,
            block_score: 90,
            amount_limit_score: 100,
            user_velocity_score: 100,
            card_attempts_per_hour: 0,
            card_velocity_score: 60,
            ip_attempts_per_hour: 0,
            ip_velocity_score: 60,
            country_mismatch_score: 40,
            usual_multiple: 5,
            usual_history: 10,
            unusual_amount_score: 60,
            review_timeout_secs: 600,
            review_sweep_interval_ms: 10_000,
        }
    }
}

impl PaymentsConfig {
    /// The fraud rules as configured now.
    pub fn fraud_policy(&self) -> crate::domain::FraudPolicy {
        let fraud = &self.fraud;
        crate::domain::FraudPolicy {
            review_score: fraud.review_score,
            block_score: fraud.block_score,
            max_amount_minor: self.max_amount_minor,
            amount_limit_score: fraud.amount_limit_score,
            max_attempts_per_minute: self.fraud_max_attempts_per_minute,
            user_velocity_score: fraud.user_velocity_score,
            max_card_attempts_per_hour: fraud.card_attempts_per_hour,
            card_velocity_score: fraud.card_velocity_score,
            max_client_attempts_per_hour: fraud.ip_attempts_per_hour,
            ip_velocity_score: fraud.ip_velocity_score,
            country_mismatch_score: fraud.country_mismatch_score,
            usual_multiple: fraud.usual_multiple,
            unusual_amount_score: fraud.unusual_amount_score,
        }
    }
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
            call_answer_wait_ms: 30_000,
            call_sweep_interval_ms: 5_000,
            customer_action_wait_secs: 600,
            invoices: InvoicesConfig::default(),
            fraud: FraudConfig::default(),
            provider: ProviderKind::default(),
            stripe: StripeConfig::default(),
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
