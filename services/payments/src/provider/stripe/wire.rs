//! Stripe's wire format: the form-encoded requests sent to it, the JSON answers read
//! back (only the fields used), and the mapping of those answers and of Stripe's
//! errors to payments' own terms — an intent's [`IntentState`], a [`Decline`] with its
//! [`FailureReason`] — plus the conversions a request needs (idempotency keys,
//! amounts in Stripe's minor units, PaymentIntent ids fit for a path).

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::{IntentState, IntentStatus};
use crate::domain::{CardBrand, Expiry, FailureReason, Money};
use crate::provider::{CardToken, Decline, TokenRefusal};

/// Stripe refuses idempotency keys longer than this.
pub(super) const MAX_IDEMPOTENCY_KEY_LEN: usize = 255;

// ----------------------------------------------------------------------------------
// What goes to Stripe: form fields, nested ones named as Stripe spells them.
// ----------------------------------------------------------------------------------

#[derive(Serialize)]
pub(super) struct NewCardMethod<'a> {
    #[serde(rename = "type")]
    pub(super) kind: &'static str,
    #[serde(rename = "card[number]")]
    pub(super) number: &'a str,
    #[serde(rename = "card[exp_month]")]
    pub(super) exp_month: u8,
    #[serde(rename = "card[exp_year]")]
    pub(super) exp_year: u16,
    #[serde(rename = "card[cvc]")]
    pub(super) cvc: &'a str,
}

#[derive(Serialize)]
pub(super) struct NewIntent<'a> {
    pub(super) amount: i64,
    pub(super) currency: &'a str,
    pub(super) payment_method: &'a str,
    /// The customer a saved card is attached to: Stripe refuses an attached card on
    /// an intent that does not name it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) customer: Option<&'a str>,
    pub(super) capture_method: &'static str,
    pub(super) confirm: bool,
    #[serde(rename = "payment_method_types[0]")]
    pub(super) method_type: &'static str,
    #[serde(rename = "metadata[viscount_idempotency_key]")]
    pub(super) key: &'a str,
}

/// A Customer to save cards under: only payments' id for the user, no personal data.
#[derive(Serialize)]
pub(super) struct NewCustomer<'a> {
    #[serde(rename = "metadata[viscount_user_id]")]
    pub(super) owner: &'a str,
}

/// `POST /v1/payment_methods/{id}/attach`.
#[derive(Serialize)]
pub(super) struct Attach<'a> {
    pub(super) customer: &'a str,
}

/// `POST /v1/customers/{id}/sources`: a card token kept as the customer's Card.
#[derive(Serialize)]
pub(super) struct NewSource<'a> {
    pub(super) source: &'a str,
}

#[derive(Serialize)]
pub(super) struct Capture {
    pub(super) amount_to_capture: i64,
}

#[derive(Serialize)]
pub(super) struct NewRefund<'a> {
    pub(super) payment_intent: &'a str,
    pub(super) amount: i64,
    #[serde(rename = "metadata[viscount_idempotency_key]")]
    pub(super) key: &'a str,
}

// ----------------------------------------------------------------------------------
// What comes back: only the fields used; every other field is ignored.
// ----------------------------------------------------------------------------------

#[derive(Serialize)]
pub(super) struct MethodFromToken<'a> {
    #[serde(rename = "type")]
    pub(super) kind: &'static str,
    #[serde(rename = "card[token]")]
    pub(super) token: &'a str,
}

/// A PaymentMethod (`pm_...`), or a Card of the older API (`card_...`, what
/// localstripe answers for one): the card's fields are under `card` in the first, at
/// the top in the second.
#[derive(Deserialize)]
pub(super) struct PaymentMethodObject {
    pub(super) id: String,
    #[serde(default)]
    pub(super) card: Option<CardObject>,
    #[serde(flatten)]
    pub(super) legacy: CardObject,
}

/// A Customer: its id.
#[derive(Deserialize)]
pub(super) struct CustomerObject {
    pub(super) id: String,
}

/// A Token (`tok_...`): the card it stands for.
#[derive(Deserialize)]
pub(super) struct TokenObject {
    #[serde(default)]
    pub(super) card: Option<PaymentMethodObject>,
}

#[derive(Default, Deserialize)]
pub(super) struct CardObject {
    #[serde(default)]
    pub(super) brand: String,
    #[serde(default)]
    last4: Option<String>,
    #[serde(default)]
    exp_month: Option<i64>,
    #[serde(default)]
    exp_year: Option<i64>,
}

impl PaymentMethodObject {
    /// What payments keeps of the card: the id Stripe gave, the brand (`unknown` for
    /// a network payments does not name), the last four digits and the expiry. An
    /// object without a readable card is a provider error.
    pub(super) fn card_token(self) -> Result<CardToken, Decline> {
        let unreadable = || {
            Decline::new(
                FailureReason::ProviderError,
                "stripe's card could not be read",
            )
        };
        let card = match self.card {
            Some(card) if card.last4.is_some() => card,
            _ => self.legacy,
        };
        let last4 = card
            .last4
            .filter(|l| l.len() == 4 && l.bytes().all(|b| b.is_ascii_digit()))
            .ok_or_else(unreadable)?;
        let expiry = match (card.exp_month, card.exp_year) {
            (Some(month), Some(year)) => Expiry::stored(month, year).map_err(|_| unreadable())?,
            _ => return Err(unreadable()),
        };
        if self.id.is_empty()
            || self.id.len() > 255
            || !self.id.bytes().all(|b| b.is_ascii_graphic())
        {
            return Err(unreadable());
        }
        Ok(CardToken {
            token: self.id,
            brand: brand_of(&card.brand.to_ascii_lowercase()).unwrap_or(CardBrand::Unknown),
            last4,
            exp_month: expiry.month,
            exp_year: expiry.year,
        })
    }
}

/// `id` if it is an id of Stripe's that can go into a path: one of `prefixes`, then
/// letters, digits and underscores, at most 255 characters in all.
fn path_id<'a>(id: &'a str, prefixes: &[&str]) -> Option<&'a str> {
    let rest = prefixes.iter().find_map(|prefix| id.strip_prefix(prefix))?;
    (id.len() <= 255
        && !rest.is_empty()
        && rest.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'))
    .then_some(id)
}

/// A token or PaymentMethod id of Stripe's that can go into a path: `pm_`, `card_`
/// or `tok_` and then letters, digits and underscores.
pub(super) fn card_object_id(token: &str) -> Option<&str> {
    path_id(token, &["pm_", "card_", "tok_"])
}

/// A Customer id of Stripe's that can go into a path (`cus_...`).
pub(super) fn customer_id(customer: &str) -> Result<&str, Decline> {
    path_id(customer, &["cus_"])
        .ok_or_else(|| Decline::new(FailureReason::ProviderError, "no such stripe customer"))
}

#[derive(Deserialize)]
pub(super) struct Intent {
    pub(super) id: String,
    pub(super) status: IntentStatus,
    amount: i64,
    currency: String,
    #[serde(default)]
    amount_capturable: Option<i64>,
    #[serde(default)]
    amount_received: Option<i64>,
    #[serde(default)]
    latest_charge: Option<ChargeField>,
    #[serde(default)]
    pub(super) last_payment_error: Option<ApiError>,
    /// The customer's credential for this intent (for 3-D Secure in their browser):
    /// never logged.
    #[serde(default)]
    pub(super) client_secret: Option<String>,
}

/// `latest_charge`: an id, or the charge itself when expanded (localstripe always
/// embeds it).
#[derive(Deserialize)]
#[serde(untagged)]
enum ChargeField {
    Expanded(ChargeObject),
    Id(String),
}

#[derive(Deserialize)]
struct ChargeObject {
    id: String,
    amount: i64,
    #[serde(default)]
    amount_captured: Option<i64>,
    #[serde(default)]
    amount_refunded: i64,
    #[serde(default)]
    captured: bool,
}

#[derive(Debug, Deserialize)]
pub(super) struct RefundObject {
    pub(super) id: String,
    #[serde(default)]
    pub(super) status: Option<String>,
    #[serde(default)]
    pub(super) metadata: RefundMetadata,
}

/// The metadata payments puts on its refunds.
#[derive(Debug, Default, Deserialize)]
pub(super) struct RefundMetadata {
    #[serde(default)]
    pub(super) viscount_idempotency_key: Option<String>,
}

/// A page of an intent's refunds (`GET /v1/refunds?payment_intent=`).
#[derive(Debug, Deserialize)]
pub(super) struct RefundList {
    #[serde(default)]
    pub(super) data: Vec<RefundObject>,
    #[serde(default)]
    pub(super) has_more: bool,
}

#[derive(Deserialize)]
pub(super) struct ErrorBody {
    pub(super) error: ApiError,
}

/// Stripe's error object (`{"error": {...}}`), also an intent's `last_payment_error`.
#[derive(Debug, Default, Deserialize)]
pub(super) struct ApiError {
    #[serde(default, rename = "type")]
    pub(super) kind: Option<String>,
    #[serde(default)]
    pub(super) code: Option<String>,
    #[serde(default)]
    pub(super) decline_code: Option<String>,
}

impl Intent {
    pub(super) fn charge_id(&self) -> Option<String> {
        match self.latest_charge.as_ref()? {
            ChargeField::Expanded(charge) => Some(charge.id.clone()),
            ChargeField::Id(id) => Some(id.clone()),
        }
    }

    pub(super) fn state(self) -> Result<IntentState, Decline> {
        let money = |amount| payments_amount(amount, &self.currency);
        let charge = match &self.latest_charge {
            Some(ChargeField::Expanded(charge)) => Some(charge),
            _ => None,
        };
        let captured = self.amount_received.unwrap_or_else(|| {
            charge
                .filter(|c| c.captured)
                .map_or(0, |c| c.amount_captured.unwrap_or(c.amount))
        });
        let capturable =
            self.amount_capturable
                .unwrap_or(if self.status == IntentStatus::RequiresCapture {
                    self.amount
                } else {
                    0
                });
        Ok(IntentState {
            id: self.id.clone(),
            status: self.status,
            amount: money(self.amount)?,
            capturable: money(capturable)?,
            captured: money(captured)?,
            refunded: money(charge.map_or(0, |c| c.amount_refunded))?,
            charge: self.charge_id(),
            last_failure: self.last_payment_error.as_ref().map(ApiError::card_decline),
        })
    }
}

/// Why a call got no answer it could use.
#[derive(Debug)]
pub(super) enum Failure {
    /// Stripe answered with an error.
    Api { status: u16, error: ApiError },
    /// No usable answer: not reached, timed out, unreadable.
    Unavailable(&'static str),
}

impl Failure {
    pub(super) fn transport(err: reqwest::Error) -> Self {
        // The URL's path may carry a card token (`/v1/tokens/tok_...`): not logged.
        let err = err.without_url();
        if err.is_timeout() {
            tracing::warn!(error = %err, "stripe did not answer in time");
            Self::Unavailable("stripe did not answer in time")
        } else {
            tracing::warn!(error = %err, "stripe could not be reached");
            Self::Unavailable("stripe could not be reached")
        }
    }

    /// Whether Stripe refused the call for the intent's state (already captured,
    /// already cancelled): localstripe says so with a bare 400.
    pub(super) fn is_unexpected_state(&self) -> bool {
        matches!(self, Self::Api { status: 400, error }
            if error.code.as_deref().is_none_or(|c| c == "payment_intent_unexpected_state"))
    }

    /// What a failed lookup of a card token means: no such token (Stripe's 404, or
    /// `resource_missing`, or a single-use token used already) is the customer's
    /// input; anything else is what [`Failure::decline`] says.
    pub(super) fn token_refusal(&self) -> TokenRefusal {
        match self {
            Self::Api { status: 404, .. } => TokenRefusal::Unknown,
            Self::Api { error, .. }
                if matches!(
                    error.code.as_deref(),
                    Some("resource_missing" | "token_already_used")
                ) =>
            {
                TokenRefusal::Unknown
            }
            _ => TokenRefusal::Provider(self.decline()),
        }
    }

    /// Whether Stripe has no such object (any more).
    pub(super) fn is_missing(&self) -> bool {
        matches!(self, Self::Api { status: 404, .. })
    }

    /// Whether Stripe refused the request itself with a plain 400 (not a card, not
    /// a missing object): localstripe's answer to a request it does not support.
    pub(super) fn is_unsupported(&self) -> bool {
        matches!(self, Self::Api { status: 400, error }
            if error.code.is_none() && error.kind.as_deref() != Some("card_error"))
    }

    pub(super) fn decline(&self) -> Decline {
        match self {
            Self::Unavailable(detail) => Decline::new(FailureReason::ProviderError, detail),
            Self::Api { status, error } => {
                if is_outage(*status, error.kind.as_deref()) {
                    Decline::new(FailureReason::ProviderError, "stripe is unavailable")
                } else if is_card_refusal(*status, error.kind.as_deref()) {
                    error.card_decline()
                } else {
                    Decline {
                        reason: FailureReason::ProviderError,
                        detail: format!(
                            "stripe refused the request ({})",
                            error
                                .code
                                .as_deref()
                                .and_then(printable_code)
                                .map_or_else(|| format!("status {status}"), str::to_owned)
                        ),
                    }
                }
            }
        }
    }
}

impl ApiError {
    /// The reason of a card Stripe (or the issuer) refused: the decline code when
    /// there is one (`card_declined` with `insufficient_funds`), else the error code
    /// (`expired_card`, `incorrect_cvc`).
    pub(super) fn card_decline(&self) -> Decline {
        let code = self
            .decline_code
            .as_deref()
            .or(self.code.as_deref())
            .unwrap_or("card_declined");
        let (reason, detail) = match code {
            "insufficient_funds" => (
                FailureReason::InsufficientFunds,
                "the card has insufficient funds",
            ),
            "fraudulent" | "stolen_card" | "lost_card" | "pickup_card" | "merchant_blacklist" => (
                FailureReason::Fraud,
                "the payment was blocked as fraudulent",
            ),
            "expired_card" => (FailureReason::ExpiredCard, "the card has expired"),
            // The issuer was not reached: nothing was decided about the card.
            "processing_error"
            | "issuer_not_available"
            | "try_again_later"
            | "reenter_transaction" => (
                FailureReason::ProviderError,
                "the card's issuer could not be reached",
            ),
            "authentication_required" => (
                FailureReason::Declined,
                "the card needs the customer to authenticate (3-D Secure)",
            ),
            _ => (FailureReason::Declined, "the card was declined"),
        };
        match printable_code(code).filter(|c| !matches!(*c, "card_declined" | "generic_decline")) {
            Some(code) if reason == FailureReason::Declined => Decline {
                reason,
                detail: format!("{detail} ({code})"),
            },
            _ => Decline::new(reason, detail),
        }
    }
}

/// Whether Stripe could not serve the call (rate limited, failing): nothing was
/// decided, the same call may be made again.
fn is_outage(status: u16, kind: Option<&str>) -> bool {
    status == 429 || status >= 500 || kind == Some("api_error")
}

/// Whether Stripe refused the card rather than the request: Stripe says so with a
/// `card_error`, localstripe only with 402.
pub(super) fn is_card_refusal(status: u16, kind: Option<&str>) -> bool {
    !is_outage(status, kind) && (status == 402 || kind == Some("card_error"))
}

/// `code` when it reads like one of Stripe's codes, so no other text from an answer
/// reaches an event.
fn printable_code(code: &str) -> Option<&str> {
    (!code.is_empty()
        && code.len() <= 40
        && code.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'))
    .then_some(code)
}

pub(super) fn unexpected_status(call: &str, status: IntentStatus) -> Decline {
    Decline {
        reason: FailureReason::ProviderError,
        detail: format!("stripe answered the {call} with an intent in status {status:?}"),
    }
}

/// `authorization` when it is a PaymentIntent id, so it can go into a path.
pub(super) fn intent_id(authorization: &str) -> Result<&str, Decline> {
    path_id(authorization, &["pi_"]).ok_or_else(|| {
        Decline::new(
            FailureReason::ProviderError,
            "no such stripe payment intent",
        )
    })
}

/// The `Idempotency-Key` of `operation` with payments' `key`: readable while it fits
/// Stripe's 255 characters of header text, else the key's SHA-256. The operation is
/// part of it because Stripe refuses a key reused for another call.
pub(super) fn idempotency_key(operation: &str, key: &str) -> String {
    let readable = format!("viscount:{operation}:{key}");
    if readable.len() <= MAX_IDEMPOTENCY_KEY_LEN && readable.bytes().all(|b| b.is_ascii_graphic()) {
        readable
    } else {
        format!(
            "viscount:{operation}:sha256:{:x}",
            Sha256::digest(key.as_bytes())
        )
    }
}

/// Stripe's amount and currency of `money`. Stripe counts in the currency's minor
/// units like payments, except ISK, which its API keeps two-decimal (whole krónur
/// times 100), and the three-decimal currencies, whose amounts it takes only in
/// multiples of 10.
pub(super) fn stripe_amount(money: &Money) -> Result<(i64, String), Decline> {
    if money.amount <= 0 {
        return Err(Decline::new(
            FailureReason::ProviderError,
            "the amount must be more than zero",
        ));
    }
    let amount = match money.currency.as_str() {
        "ISK" => money
            .amount
            .checked_mul(100)
            .ok_or_else(|| Decline::new(FailureReason::ProviderError, "the amount is too large"))?,
        currency if contracts::types::minor_unit_exponent(currency) == Some(3) => {
            if money.amount % 10 != 0 {
                return Err(Decline::new(
                    FailureReason::ProviderError,
                    "stripe takes three-decimal amounts only in multiples of 10",
                ));
            }
            money.amount
        }
        _ => money.amount,
    };
    Ok((amount, money.currency.to_ascii_lowercase()))
}

/// Payments' money of an amount and currency as Stripe answers them.
pub(super) fn payments_amount(amount: i64, currency: &str) -> Result<Money, Decline> {
    let currency = currency.to_ascii_uppercase();
    let amount = if currency == "ISK" {
        amount / 100
    } else {
        amount
    };
    if amount < 0 || currency.is_empty() {
        return Err(Decline::new(
            FailureReason::ProviderError,
            "stripe's answer could not be read",
        ));
    }
    Ok(Money { amount, currency })
}

pub(super) fn brand_of(stripe: &str) -> Option<CardBrand> {
    match stripe {
        "visa" => Some(CardBrand::Visa),
        "mastercard" => Some(CardBrand::Mastercard),
        "amex" => Some(CardBrand::Amex),
        "discover" => Some(CardBrand::Discover),
        _ => None,
    }
}
