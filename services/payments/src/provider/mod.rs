//! The card processor behind payments, named by role ([`PaymentProvider`]), its
//! adapters — the built-in [`SandboxProvider`] and Stripe's PaymentIntents
//! ([`StripeProvider`]) — and which of them `payments.provider` chooses.
//!
//! The trait follows the shape of Stripe's PaymentIntents so an adapter can implement
//! it without changing callers: `tokenize` is creating a PaymentMethod, `open` a
//! PaymentIntent with manual capture that is not confirmed yet (it moves no money, and
//! names the payment at the provider from its creation on), `authorize` confirms it,
//! `capture` and `void` capture or cancel it, `refund` creates a Refund. Calls that
//! move money take an idempotency key (Stripe's `Idempotency-Key`), so a call repeated
//! after a crash returns the first answer instead of moving money twice; and
//! `lookup` asks what became of a call whose answer was lost, so a crash is settled
//! by asking, never by calling again blindly. `card_from_token` takes a card the
//! customer's browser tokenized at the provider (Stripe.js), so the number never
//! reaches Viscount; a provider that must never see numbers says so with
//! `takes_raw_cards`.

use std::sync::Arc;

use async_trait::async_trait;
use platform::config::ConfigError;
use platform::service::{ServiceKind, StartError};

use crate::config::{PaymentsConfig, ProviderKind};
use crate::domain::{
    CardBrand, CardDetails, CardTokenRef, Expiry, FailureReason, Money, StoredCard,
};

mod sandbox;
pub mod stripe;

pub use sandbox::SandboxProvider;
pub use stripe::StripeProvider;

/// A card stored at the provider: what payments keeps instead of the number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CardToken {
    /// The provider's handle for the card (Stripe: `pm_...`).
    pub token: String,
    /// The card network.
    pub brand: CardBrand,
    /// The last four digits.
    pub last4: String,
    /// Expiry month, 1 to 12.
    pub exp_month: u8,
    /// Expiry year, four digits.
    pub exp_year: u16,
}

impl From<CardToken> for StoredCard {
    fn from(token: CardToken) -> Self {
        Self {
            token: token.token,
            brand: token.brand,
            last4: token.last4,
            expiry: Expiry {
                month: token.exp_month,
                year: token.exp_year,
            },
            customer: None,
        }
    }
}

/// The provider's id of an authorization, capture, void or refund.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderRef(pub String);

impl ProviderRef {
    /// The reference text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The provider refused (or could not answer).
///
/// A refusal of the card has the reason the issuer gave (`declined`,
/// `insufficient_funds`, `fraud`, `expired_card`); a provider that failed, timed out or
/// refused the request itself has `provider_error`, so a caller tells "the card said
/// no" from "no one answered" (where the same call, with the same idempotency key, may
/// be tried again).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{detail}")]
pub struct Decline {
    /// Why, as the stable code events carry.
    pub reason: FailureReason,
    /// Why, for people.
    pub detail: String,
}

impl Decline {
    pub(crate) fn new(reason: FailureReason, detail: &str) -> Self {
        Self {
            reason,
            detail: detail.to_owned(),
        }
    }
}

/// Why the provider would not take a card token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenRefusal {
    /// The provider issued no such token (not to this account, or it was used up):
    /// the customer's input, not an outage.
    #[error("the payment provider knows no such card token")]
    Unknown,
    /// The provider refused the card or could not answer.
    #[error(transparent)]
    Provider(#[from] Decline),
}

/// A card processor.
#[async_trait]
pub trait PaymentProvider: Send + Sync + 'static {
    /// Whether card numbers may be handed to it (`tokenize`). A live provider says
    /// no: the browser tokenizes the card with the provider's own script, which keeps
    /// the shop out of the card data's PCI scope, and payments refuses raw card
    /// fields.
    fn takes_raw_cards(&self) -> bool;

    /// The card behind a token the customer's browser got from the provider (or one
    /// of its test tokens): the handle payments keeps (the provider may give a
    /// lasting one for a single-use token), the brand, last four digits and expiry.
    /// Moves no money.
    async fn card_from_token(&self, token: &CardTokenRef) -> Result<CardToken, TokenRefusal>;

    /// Stores a card at the provider and returns its token. The only call that sees
    /// the full number.
    async fn tokenize(&self, card: &CardDetails) -> Result<CardToken, Decline>;

    /// A new customer at the provider for payments' user `owner`, to save cards
    /// under (Stripe: a Customer, with no personal data, keyed by `owner` so a retried
    /// call makes one). Moves no money.
    async fn new_customer(&self, owner: &str) -> Result<String, Decline>;

    /// Attaches the card behind `token` (a token from the browser, or the handle
    /// `tokenize` gave) to `customer` for later payments: the card as attached, whose
    /// handle may differ from the token's. The provider may check the card then
    /// (Stripe refuses a card its issuer declines). Moves no money.
    async fn attach(&self, token: &CardTokenRef, customer: &str)
    -> Result<CardToken, TokenRefusal>;

    /// Detaches a saved card from its customer, so it can never pay again. Moves no
    /// money.
    async fn detach(&self, token: &str, customer: &str) -> Result<(), Decline>;

    /// Opens an intent to take `amount` from the tokenized card, without moving
    /// money (Stripe: a PaymentIntent with manual capture, not confirmed): its
    /// reference names the payment at the provider from then on, so every later call,
    /// and every question about one, has an object to name. A saved card's intent
    /// names the `customer` it is attached to.
    async fn open(
        &self,
        token: &str,
        customer: Option<&str>,
        amount: &Money,
        idempotency_key: &str,
    ) -> Result<ProviderRef, Decline>;

    /// Holds the intent's amount on its card (Stripe: confirms the intent): the
    /// intent's reference once it holds it, or what the customer has to do first
    /// (3-D Secure).
    async fn authorize(&self, intent: &str, idempotency_key: &str) -> Result<Answer, Decline>;

    /// Moves `amount` (at most what was authorized) of an authorization.
    async fn capture(
        &self,
        intent: &str,
        amount: &Money,
        idempotency_key: &str,
    ) -> Result<ProviderRef, Decline>;

    /// Releases an authorization without capturing it.
    async fn void(&self, intent: &str, idempotency_key: &str) -> Result<ProviderRef, Decline>;

    /// Sends `amount` of a captured authorization back to the card.
    async fn refund(
        &self,
        intent: &str,
        amount: &Money,
        idempotency_key: &str,
    ) -> Result<ProviderRef, Decline>;

    /// What became of `call`, which may or may not have reached the provider (the
    /// process died, or the answer never came): the provider's own record, read,
    /// never the call made again. `Err` when the provider cannot tell now.
    async fn lookup(&self, call: &Call<'_>) -> Result<Lookup, Decline>;
}

/// A call that moves money, as payments records it before making it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    /// Hold the amount ([`PaymentProvider::authorize`]).
    Authorize,
    /// Move held money ([`PaymentProvider::capture`]).
    Capture,
    /// Release the hold ([`PaymentProvider::void`]).
    Void,
    /// Send captured money back ([`PaymentProvider::refund`]).
    Refund,
}

impl Operation {
    /// Every operation.
    pub const ALL: [Self; 4] = [Self::Authorize, Self::Capture, Self::Void, Self::Refund];

    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Authorize => "authorize",
            Self::Capture => "capture",
            Self::Void => "void",
            Self::Refund => "refund",
        }
    }

    /// The operation a stored name names.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|op| op.as_str() == name)
    }
}

/// One call at the provider: what, on which intent, for how much, under which key.
#[derive(Debug, Clone, Copy)]
pub struct Call<'a> {
    /// What the call does.
    pub operation: Operation,
    /// The intent it acts on.
    pub intent: &'a str,
    /// How much (an authorization, void: the intent's amount).
    pub amount: &'a Money,
    /// The idempotency key it is (or was) made with.
    pub key: &'a str,
}

impl<'a> Call<'a> {
    /// Makes the call at `provider`.
    pub async fn make(&self, provider: &dyn PaymentProvider) -> Result<Answer, Decline> {
        let done = match self.operation {
            Operation::Authorize => return provider.authorize(self.intent, self.key).await,
            Operation::Capture => provider.capture(self.intent, self.amount, self.key).await,
            Operation::Void => provider.void(self.intent, self.key).await,
            Operation::Refund => provider.refund(self.intent, self.amount, self.key).await,
        };
        done.map(Answer::Done)
    }
}

/// What the provider answered a call it took.
#[derive(Clone, PartialEq, Eq)]
pub enum Answer {
    /// Done; the provider's reference.
    Done(ProviderRef),
    /// Waiting for the customer to authenticate the card (3-D Secure) in their browser,
    /// with the provider's script and this client secret of the intent.
    AwaitsCustomer {
        /// The intent's client secret: the customer's, never logged.
        client_secret: String,
    },
}

impl std::fmt::Debug for Answer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Done(reference) => f.debug_tuple("Done").field(reference).finish(),
            Self::AwaitsCustomer { .. } => {
                f.write_str("AwaitsCustomer { client_secret: [REDACTED] }")
            }
        }
    }
}

/// A notice the provider sent (a webhook), read into payments' terms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    /// The provider's id of the notice: a redelivery carries the same one.
    pub id: String,
    /// The provider's name of its type (`payment_intent.succeeded`).
    pub kind: String,
    /// What it says happened.
    pub change: Change,
}

/// What a provider's notice says happened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// The intent's money moved: `amount` captured, under `charge`.
    Captured {
        /// The intent.
        intent: String,
        /// The charge that moved it.
        charge: Option<String>,
        /// What was captured.
        amount: Money,
    },
    /// The intent holds its amount now, waiting for capture (after the customer
    /// authenticated).
    Held {
        /// The intent.
        intent: String,
    },
    /// The intent's authorization failed.
    Failed {
        /// The intent.
        intent: String,
        /// Why.
        decline: Decline,
    },
    /// What the provider has refunded of a charge, in total, is now `total`.
    Refunded {
        /// The intent, when the notice names it.
        intent: Option<String>,
        /// The charge.
        charge: String,
        /// Refunded of it in total.
        total: Money,
    },
    /// A cardholder disputed a charge.
    Disputed {
        /// The intent, when the notice names it.
        intent: Option<String>,
        /// The charge.
        charge: String,
        /// The provider's dispute.
        dispute: String,
        /// What is disputed.
        amount: Money,
        /// The provider's reason code.
        reason: String,
        /// When evidence is due, epoch seconds.
        evidence_due_by: Option<i64>,
    },
    /// Nothing payments acts on.
    Ignored,
}

/// What a provider's record says of a call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lookup {
    /// It was made; the reference it answered.
    Made(ProviderRef),
    /// It reached the provider, which refused it.
    Refused(Decline),
    /// It never reached the provider: making it now makes it once.
    NotMade,
}

/// The provider `payments.provider` names, set up from its section; a Stripe provider
/// without a usable secret key (or with a live key over plain HTTP) refuses to start
/// rather than failing every payment later.
pub fn from_config(config: &PaymentsConfig) -> Result<Arc<dyn PaymentProvider>, StartError> {
    match config.provider {
        ProviderKind::Sandbox => Ok(Arc::new(SandboxProvider::new())),
        ProviderKind::Stripe => match StripeProvider::from_config(&config.stripe) {
            Ok(provider) => Ok(Arc::new(provider)),
            Err(stripe::SetupError::Config(reason)) => Err(StartError::Config {
                section: "payments",
                source: ConfigError::invalid("payments", reason),
            }),
            Err(stripe::SetupError::Client(source)) => Err(StartError::Service {
                service: ServiceKind::Payments,
                source: Box::new(source),
            }),
        },
    }
}

#[cfg(test)]
mod tests {
    use platform::config::{ConfigSource, Secret};

    use super::*;
    use crate::config::StripeConfig;

    fn stripe(secret_key: Option<&str>, api_base: &str) -> PaymentsConfig {
        PaymentsConfig {
            provider: ProviderKind::Stripe,
            stripe: StripeConfig {
                api_base: api_base.to_owned(),
                secret_key: secret_key.map(Secret::from),
                ..StripeConfig::default()
            },
            ..PaymentsConfig::default()
        }
    }

    /// The whole error chain of `err` as the process would print it.
    fn chain(err: &dyn std::error::Error) -> String {
        let mut text = err.to_string();
        let mut source = err.source();
        while let Some(cause) = source {
            text.push_str(": ");
            text.push_str(&cause.to_string());
            source = cause.source();
        }
        text
    }

    /// Why `config` does not start, as the process would print it.
    fn refusal(config: &PaymentsConfig) -> String {
        let Err(err) = from_config(config) else {
            panic!("{:?} starts", config.stripe);
        };
        chain(&err)
    }

    #[test]
    fn the_sandbox_is_the_default_and_needs_nothing() {
        assert_eq!(PaymentsConfig::default().provider, ProviderKind::Sandbox);
        assert!(from_config(&PaymentsConfig::default()).is_ok());
    }

    #[test]
    fn stripe_without_a_usable_secret_key_refuses_to_start() {
        let cases = [
            (None, "https://api.stripe.com", "secret_key is not set"),
            (Some(""), "https://api.stripe.com", "secret_key is not set"),
            (
                Some("pk_test_123"),
                "https://api.stripe.com",
                "secret (sk_...) or restricted (rk_...) key",
            ),
            (
                Some("sk_live_abcdef"),
                "http://stripe.internal:8420",
                "only over https",
            ),
            (Some("sk_test_abc"), "api.stripe.com", "api_base"),
            (Some("sk_test_abc"), "ftp://api.stripe.com", "api_base"),
            (
                Some("sk_test_abc\n"),
                "https://api.stripe.com",
                "secret_key",
            ),
        ];
        for (key, base, expected) in cases {
            let text = refusal(&stripe(key, base));
            assert!(
                text.contains("[payments]") && text.contains(expected),
                "{key:?} at {base}: {text}"
            );
            if let Some(key) = key.filter(|k| k.len() > 3) {
                assert!(!text.contains(key), "the key leaks into: {text}");
            }
        }
    }

    #[test]
    fn a_zero_timeout_refuses_to_start() {
        let mut config = stripe(Some("sk_test_abc"), "http://127.0.0.1:8420");
        config.stripe.timeout_ms = 0;
        assert!(refusal(&config).contains("timeout_ms"));
    }

    #[test]
    fn stripe_with_a_test_key_starts_against_a_local_server() {
        for base in ["http://127.0.0.1:8420", "https://api.stripe.com/"] {
            assert!(
                from_config(&stripe(Some("sk_test_abc"), base)).is_ok(),
                "{base}"
            );
        }
        assert!(from_config(&stripe(Some("rk_live_abc"), "https://api.stripe.com")).is_ok());
    }

    #[test]
    fn the_stripe_section_reads_from_the_file_and_the_variables() {
        let source = ConfigSource::from_parts(
            "[payments]\nprovider = \"stripe\"\n\
             [payments.stripe]\napi_base = \"http://127.0.0.1:8420\"\n",
            [
                (
                    "VISCOUNT_PAYMENTS__STRIPE__SECRET_KEY".to_owned(),
                    "sk_test_from_env".to_owned(),
                ),
                (
                    "VISCOUNT_PAYMENTS__STRIPE__WEBHOOK_SECRET".to_owned(),
                    "whsec_from_env".to_owned(),
                ),
            ],
        )
        .expect("source");
        let config: PaymentsConfig = source.section("payments").expect("section");
        assert_eq!(config.provider, ProviderKind::Stripe);
        assert!(
            source.unknown_keys().is_empty(),
            "{:?}",
            source.unknown_keys()
        );
        let debug = format!("{config:?}");
        assert!(
            !debug.contains("sk_test_from_env") && !debug.contains("whsec_from_env"),
            "secrets in Debug: {debug}"
        );
        assert!(from_config(&config).is_ok());
    }

    #[test]
    fn an_unknown_provider_does_not_read() {
        let source =
            ConfigSource::from_parts("[payments]\nprovider = \"paypal\"\n", []).expect("source");
        let Err(err) = source.section::<PaymentsConfig>("payments") else {
            panic!("provider = \"paypal\" reads");
        };
        let text = chain(&err);
        assert!(
            text.contains("paypal") && text.contains("sandbox") && text.contains("stripe"),
            "{text}"
        );
    }
}
