//! What the payments service publishes: the events it emits (ordering drives the
//! checkout saga from `authorized` and `failed`, and keeps its refund totals from
//! `refund.processed`) and the shapes of its HTTP API that ordering reads back.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::{Event, Money};

/// A payment was authorized: the amount is held on the card.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema, ToSchema)]
pub struct PaymentAuthorized {
    /// The payment.
    pub payment_id: String,
    /// The order it pays.
    pub order_id: String,
    /// The amount held.
    pub amount: Money,
}

impl Event for PaymentAuthorized {
    const TYPE: &'static str = "payments.payment.authorized.v1";
    fn subject(&self) -> String {
        self.payment_id.clone()
    }
}

/// An authorized payment was captured: the money moved.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema, ToSchema)]
pub struct PaymentCaptured {
    /// The payment.
    pub payment_id: String,
    /// The order it pays.
    pub order_id: String,
    /// The amount captured.
    pub amount: Money,
}

impl Event for PaymentCaptured {
    const TYPE: &'static str = "payments.payment.captured.v1";
    fn subject(&self) -> String {
        self.payment_id.clone()
    }
}

/// An authorization was released without capture.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema, ToSchema)]
pub struct PaymentVoided {
    /// The payment.
    pub payment_id: String,
    /// The order it was for.
    pub order_id: String,
}

impl Event for PaymentVoided {
    const TYPE: &'static str = "payments.payment.voided.v1";
    fn subject(&self) -> String {
        self.payment_id.clone()
    }
}

/// Why a payment failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum FailureReason {
    /// The issuer declined.
    Declined,
    /// Not enough funds.
    InsufficientFunds,
    /// Blocked by fraud rules.
    Fraud,
    /// The card expired before authorization.
    ExpiredCard,
    /// The payment does not match the order (amount, currency or owner).
    Mismatch,
    /// The provider failed.
    ProviderError,
}

impl FailureReason {
    /// Every reason.
    pub const ALL: [FailureReason; 6] = [
        Self::Declined,
        Self::InsufficientFunds,
        Self::Fraud,
        Self::ExpiredCard,
        Self::Mismatch,
        Self::ProviderError,
    ];

    /// The stable code, as events, the API and the database name it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Declined => "declined",
            Self::InsufficientFunds => "insufficient_funds",
            Self::Fraud => "fraud",
            Self::ExpiredCard => "expired_card",
            Self::Mismatch => "mismatch",
            Self::ProviderError => "provider_error",
        }
    }

    /// The reason of a code, `None` for a code that is not one.
    pub fn parse(code: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.as_str() == code)
    }
}

/// A payment could not be authorized (or captured).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema, ToSchema)]
pub struct PaymentFailed {
    /// The payment.
    pub payment_id: String,
    /// The order it was for.
    pub order_id: String,
    /// Why, as a stable code.
    pub reason: FailureReason,
    /// Why, for people.
    pub detail: String,
}

impl Event for PaymentFailed {
    const TYPE: &'static str = "payments.payment.failed.v1";
    fn subject(&self) -> String {
        self.payment_id.clone()
    }
}

/// Money went back to the card.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema, ToSchema)]
pub struct RefundProcessed {
    /// The refund.
    pub refund_id: String,
    /// The payment refunded.
    pub payment_id: String,
    /// The order it paid.
    pub order_id: String,
    /// This refund.
    pub amount: Money,
    /// Refunded so far, this one included.
    pub refunded_total: Money,
    /// Captured in total.
    pub captured_total: Money,
}

impl Event for RefundProcessed {
    const TYPE: &'static str = "payments.refund.processed.v1";
    fn subject(&self) -> String {
        self.payment_id.clone()
    }
}

/// How a new payment pays: the kind only, never card data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PaymentMethodKind {
    /// A card typed in for this payment.
    Card,
    /// A card the payer saved before.
    SavedCard,
}

/// Payments recorded a new payment for an order, before its authorization is
/// attempted (seed 003). Carries no card data.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema, ToSchema)]
pub struct PaymentInitiated {
    /// The payment.
    pub payment_id: String,
    /// The order it pays.
    pub order_id: String,
    /// The payer.
    pub user_id: String,
    /// The amount to authorize.
    pub amount: Money,
    /// How it pays.
    pub method: PaymentMethodKind,
}

impl Event for PaymentInitiated {
    const TYPE: &'static str = "payments.payment.initiated.v1";
    fn subject(&self) -> String {
        self.payment_id.clone()
    }
}

/// What payments' fraud rules decided about an authorization that scored at or above
/// the review threshold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum FraudDecision {
    /// Held for a person to approve or decline; the payment waits, still `pending`.
    Review,
    /// Declined at once (the payment fails with reason `fraud`).
    Block,
}

/// One fraud rule that fired, with what it added to the score.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema, ToSchema)]
pub struct FraudSignal {
    /// The rule's stable name (`amount_limit`, `user_velocity`, `card_velocity`,
    /// `unusual_amount`).
    pub rule: String,
    /// What it added to the total score.
    pub score: u32,
    /// Why it fired, for people.
    pub detail: String,
}

/// An authorization scored into review or block (seed 003): the rules that fired.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema, ToSchema)]
pub struct FraudDetected {
    /// The payment.
    pub payment_id: String,
    /// The order it pays.
    pub order_id: String,
    /// The payer.
    pub user_id: String,
    /// The total score (the sum of the signals').
    pub score: u32,
    /// What became of the authorization.
    pub decision: FraudDecision,
    /// The rules that fired.
    pub signals: Vec<FraudSignal>,
    /// With decision `review`: how long the review may wait before it is declined, so
    /// the order's saga waits that long for the payment instead of timing out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub review_timeout_secs: Option<u64>,
}

impl Event for FraudDetected {
    const TYPE: &'static str = "payments.fraud.detected.v1";
    fn subject(&self) -> String {
        self.payment_id.clone()
    }
}

/// A cardholder disputed a payment at the provider (a chargeback, seen in the
/// provider's `charge.dispute.created` webhook): the disputed amount is held back by the
/// card network until the dispute is decided, and the shop has until
/// `evidence_due_by` to answer it with evidence at the provider. Admins are told.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema, ToSchema)]
pub struct DisputeOpened {
    /// The provider's id of the dispute (Stripe: `dp_...`).
    pub dispute_id: String,
    /// The disputed payment.
    pub payment_id: String,
    /// The order it paid.
    pub order_id: String,
    /// The amount disputed.
    pub amount: Money,
    /// The provider's reason code (Stripe: `fraudulent`, `product_not_received`,
    /// `duplicate`, …).
    pub reason: String,
    /// When the evidence is due at the provider, RFC 3339, when the provider says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub evidence_due_by: Option<String>,
}

impl Event for DisputeOpened {
    const TYPE: &'static str = "payments.dispute.opened.v1";
    fn subject(&self) -> String {
        self.payment_id.clone()
    }
}

// ---------------------------------------------------------------------------------------
// Payments' public API shapes.
//
// What `GET /api/v1/payments/{id}` and `POST /api/v1/payments/{id}/refund` answer (see
// API.md). Payments renders them and ordering reads them back over HTTP, so both sides
// agree through these types; changing one changes the public API.
// ---------------------------------------------------------------------------------------

/// Where a payment is in its life, as the API and the `payments` table name it.
///
/// The transitions between these live in payments' domain (its `Payment` aggregate);
/// this is only the vocabulary.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PaymentStatus {
    /// Card tokenized; waiting for the order's stock.
    Pending,
    /// The amount is held on the card.
    Authorized,
    /// The money moved.
    Captured,
    /// Part of the captured amount went back.
    PartiallyRefunded,
    /// Everything captured went back.
    Refunded,
    /// Authorization was refused.
    Failed,
    /// The order was cancelled before authorization.
    Cancelled,
    /// The hold was released without capture.
    Voided,
}

impl PaymentStatus {
    /// Every status.
    pub const ALL: [PaymentStatus; 8] = [
        Self::Pending,
        Self::Authorized,
        Self::Captured,
        Self::PartiallyRefunded,
        Self::Refunded,
        Self::Failed,
        Self::Cancelled,
        Self::Voided,
    ];

    /// The name the API and the database use.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Authorized => "authorized",
            Self::Captured => "captured",
            Self::PartiallyRefunded => "partially_refunded",
            Self::Refunded => "refunded",
            Self::Failed => "failed",
            Self::Cancelled => "cancelled",
            Self::Voided => "voided",
        }
    }

    /// The status of a name, `None` for a name that is not one.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == name)
    }
}

/// Card networks, as the API names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CardBrand {
    /// Visa.
    Visa,
    /// Mastercard.
    Mastercard,
    /// American Express.
    Amex,
    /// Discover.
    Discover,
    /// Any other network.
    Unknown,
}

impl CardBrand {
    /// The name the API and the database use.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Visa => "visa",
            Self::Mastercard => "mastercard",
            Self::Amex => "amex",
            Self::Discover => "discover",
            Self::Unknown => "unknown",
        }
    }

    /// Every brand.
    pub const ALL: [CardBrand; 5] = [
        Self::Visa,
        Self::Mastercard,
        Self::Amex,
        Self::Discover,
        Self::Unknown,
    ];

    /// The brand of a name, `None` for a name that is not one (a network payments
    /// does not recognise is [`CardBrand::Unknown`], named `unknown`).
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|b| b.as_str() == name)
    }
}

/// A payment as the API shows it: never the card number, the code or the token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema, ToSchema)]
pub struct PaymentView {
    /// Id.
    pub id: String,
    /// The order it pays.
    pub order_id: String,
    /// The owner.
    pub user_id: String,
    /// Where it is in its life.
    pub status: PaymentStatus,
    /// The amount.
    pub amount: Money,
    /// Captured so far.
    pub captured: Money,
    /// Refunded so far.
    pub refunded: Money,
    /// Card brand.
    pub brand: CardBrand,
    /// Last four digits.
    pub last4: String,
    /// Why it failed; absent unless it did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure_reason: Option<FailureReason>,
    /// What the customer has to do before the payment can go on (3-D Secure); absent
    /// unless the provider waits for them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_action: Option<NextAction>,
    /// Creation, RFC 3339.
    pub created_at: String,
    /// Last change, RFC 3339.
    pub updated_at: String,
}

/// What the customer's browser does to let a payment go on: authenticate the card
/// with the provider's script (Stripe.js `handleNextAction` with the client secret).
/// Shown only to the payment's owner and admins; never logged, never on the bus.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema, ToSchema)]
pub struct NextAction {
    /// `authenticate`: the card's issuer asks the customer to confirm (3-D Secure).
    #[serde(rename = "type")]
    pub kind: String,
    /// The provider's client secret of the payment's intent, for its script.
    pub client_secret: String,
}

impl std::fmt::Debug for NextAction {
    // A credential of the customer's payment: never in a log line.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NextAction")
            .field("kind", &self.kind)
            .field("client_secret", &"[REDACTED]")
            .finish()
    }
}

/// A payment waits for its customer (3-D Secure): the order's saga gives it
/// `wait_secs` more before its payment step times out. The client secret the browser
/// needs is not in the event: it is read with the payment (`next_action`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema, ToSchema)]
pub struct PaymentActionRequired {
    /// The payment.
    pub payment_id: String,
    /// The order it pays.
    pub order_id: String,
    /// How long payments waits for the customer before it gives the payment up.
    pub wait_secs: u64,
}

impl Event for PaymentActionRequired {
    const TYPE: &'static str = "payments.payment.action_required.v1";
    fn subject(&self) -> String {
        self.payment_id.clone()
    }
}

/// A refund made, as `POST /api/v1/payments/{id}/refund` answers it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema, ToSchema)]
pub struct RefundOutcome {
    /// The refund (its ledger row).
    pub refund_id: String,
    /// This refund.
    pub amount: Money,
    /// The payment after it.
    pub payment: PaymentView,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_the_serde_names() {
        for status in PaymentStatus::ALL {
            assert_eq!(
                serde_json::to_value(status).ok(),
                Some(serde_json::Value::from(status.as_str()))
            );
            assert_eq!(PaymentStatus::parse(status.as_str()), Some(status));
        }
        for reason in FailureReason::ALL {
            assert_eq!(
                serde_json::to_value(reason).ok(),
                Some(serde_json::Value::from(reason.as_str()))
            );
            assert_eq!(FailureReason::parse(reason.as_str()), Some(reason));
        }
        for brand in CardBrand::ALL {
            assert_eq!(
                serde_json::to_value(brand).ok(),
                Some(serde_json::Value::from(brand.as_str()))
            );
            assert_eq!(CardBrand::parse(brand.as_str()), Some(brand));
        }
        assert_eq!(PaymentStatus::parse("settled"), None);
        assert_eq!(FailureReason::parse("bounced"), None);
        assert_eq!(CardBrand::parse("diners"), None);
    }

    #[test]
    fn a_payment_view_reads_back_what_it_writes() {
        let usd = |amount| Money {
            amount,
            currency: "USD".into(),
        };
        let view = PaymentView {
            id: "p-1".into(),
            order_id: "o-1".into(),
            user_id: "u-1".into(),
            status: PaymentStatus::PartiallyRefunded,
            amount: usd(1_000),
            captured: usd(1_000),
            refunded: usd(250),
            brand: CardBrand::Visa,
            last4: "4242".into(),
            failure_reason: None,
            next_action: None,
            created_at: "2026-01-01T00:00:00Z".into(),
            updated_at: "2026-01-01T00:00:00Z".into(),
        };
        let json = serde_json::to_value(&view).ok();
        let fields = json.as_ref().and_then(|j| j.as_object());
        assert_eq!(
            json.as_ref().and_then(|j| j.get("status")),
            Some(&serde_json::Value::from("partially_refunded"))
        );
        assert!(fields.is_some_and(|f| !f.contains_key("failure_reason")));
        let back: Option<PaymentView> = json.and_then(|j| serde_json::from_value(j).ok());
        assert_eq!(back, Some(view));
    }
}
