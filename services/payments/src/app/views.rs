//! What the API shows of payments, saved cards and the ledger: never a card number, a
//! code or a token. [`PaymentView`] and [`RefundOutcome`] are shared API shapes in
//! `contracts` (ordering reads them back); the others are payments' own.

pub use contracts::payments::{NextAction, PaymentView, RefundOutcome};
use serde::Serialize;

use crate::domain::{CardBrand, LedgerEntry, Money, Payment, PaymentMethod};

impl From<&Payment> for PaymentView {
    fn from(p: &Payment) -> Self {
        Self {
            id: p.id.clone(),
            order_id: p.order_id.clone(),
            user_id: p.user_id.clone(),
            status: p.status(),
            amount: p.amount.clone(),
            captured: p.captured(),
            refunded: p.refunded(),
            brand: p.card.brand,
            last4: p.card.last4.clone(),
            failure_reason: p.failure().map(|f| f.reason),
            next_action: p.state().customer_action.clone().map(|secret| NextAction {
                kind: "authenticate".to_owned(),
                client_secret: secret.0,
            }),
            created_at: platform::time::rfc3339(p.created_at),
            updated_at: platform::time::rfc3339(p.updated_at()),
        }
    }
}

/// A saved card as the API shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct PaymentMethodView {
    /// Id.
    pub id: String,
    /// Card brand.
    pub brand: CardBrand,
    /// Last four digits.
    pub last4: String,
    /// Expiry month.
    pub exp_month: i64,
    /// Expiry year.
    pub exp_year: i64,
    /// Creation, RFC 3339.
    pub created_at: String,
}

impl From<&PaymentMethod> for PaymentMethodView {
    fn from(m: &PaymentMethod) -> Self {
        Self {
            id: m.id.clone(),
            brand: m.card.brand,
            last4: m.card.last4.clone(),
            exp_month: i64::from(m.card.expiry.month),
            exp_year: i64::from(m.card.expiry.year),
            created_at: platform::time::rfc3339(m.created_at),
        }
    }
}

/// A ledger entry as the API shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct TransactionView {
    /// Id.
    pub id: String,
    /// The payment.
    pub payment_id: String,
    /// Its order.
    pub order_id: String,
    /// `authorize`, `capture`, `void` or `refund`.
    pub kind: String,
    /// The amount moved or held.
    pub amount: Money,
    /// The provider's reference.
    pub provider_ref: String,
    /// Who caused it.
    pub actor: String,
    /// When, RFC 3339.
    pub created_at: String,
}

impl From<LedgerEntry> for TransactionView {
    fn from(e: LedgerEntry) -> Self {
        Self {
            id: e.id,
            payment_id: e.payment_id,
            order_id: e.order_id,
            kind: e.kind.as_str().to_owned(),
            amount: e.amount,
            provider_ref: e.provider_ref,
            actor: e.actor,
            created_at: platform::time::rfc3339(e.created_at),
        }
    }
}
