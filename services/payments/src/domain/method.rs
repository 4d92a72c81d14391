//! Saved cards: a customer's card kept at the provider as a token, to pay with later.

use super::StoredCard;

/// A saved card of one user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaymentMethod {
    /// Id.
    pub id: String,
    /// The owner.
    pub user_id: String,
    /// The card.
    pub card: StoredCard,
    /// Creation, epoch ms.
    pub created_at: i64,
}

impl PaymentMethod {
    /// Whether the card no longer pays at `now_millis`.
    pub fn has_expired(&self, now_millis: i64) -> bool {
        self.card.expiry.has_passed(now_millis)
    }
}
