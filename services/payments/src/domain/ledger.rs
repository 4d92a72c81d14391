//! The transaction ledger: one append-only entry per money movement (authorize,
//! capture, void, refund), written with the totals it changes, so a payment's totals can
//! be rebuilt from it.

use super::{Money, Payment};

/// The kinds of ledger rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LedgerKind {
    /// An amount was held.
    Authorize,
    /// Held money moved.
    Capture,
    /// A hold was released.
    Void,
    /// Captured money went back.
    Refund,
}

impl LedgerKind {
    /// Every kind.
    pub const ALL: [LedgerKind; 4] = [Self::Authorize, Self::Capture, Self::Void, Self::Refund];

    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Authorize => "authorize",
            Self::Capture => "capture",
            Self::Void => "void",
            Self::Refund => "refund",
        }
    }

    /// The kind of a stored name, `None` for a name that is not one.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == name)
    }
}

/// One money movement of a payment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LedgerEntry {
    /// Id (for refunds, the refund id).
    pub id: String,
    /// The payment.
    pub payment_id: String,
    /// Its order.
    pub order_id: String,
    /// What moved.
    pub kind: LedgerKind,
    /// The amount moved or held.
    pub amount: Money,
    /// The provider's reference for this movement.
    pub provider_ref: String,
    /// Who caused it (user or client id, or the service whose event it was).
    pub actor: String,
    /// When, epoch ms.
    pub created_at: i64,
}

impl LedgerEntry {
    /// Entry `id`: `amount` (minor units of the payment's currency) of `payment` moved
    /// as `kind` under the provider's `provider_ref`, caused by `actor`.
    pub fn new(
        id: String,
        payment: &Payment,
        kind: LedgerKind,
        amount: i64,
        provider_ref: &str,
        actor: &str,
        now: i64,
    ) -> Self {
        Self {
            id,
            payment_id: payment.id.clone(),
            order_id: payment.order_id.clone(),
            kind,
            amount: Money {
                amount,
                currency: payment.amount.currency.clone(),
            },
            provider_ref: provider_ref.to_owned(),
            actor: actor.to_owned(),
            created_at: now,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_read_back_and_unknown_names_do_not() {
        for kind in LedgerKind::ALL {
            assert_eq!(LedgerKind::parse(kind.as_str()), Some(kind));
        }
        assert_eq!(LedgerKind::parse("chargeback"), None);
    }
}
