//! A fraud review: an authorization the fraud rules held (see [`super::fraud`]) for a
//! person to approve or decline, and where it is in its short life:
//! `pending → approved | declined | expired`. Each decision is final; the store writes
//! it `WHERE status = 'pending'`, so only the first of two decisions (two admins, or an
//! admin and the expiry sweep on any replica) takes effect.

use contracts::payments::FraudSignal;

/// Where a review is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReviewStatus {
    /// Waiting for a person; its payment waits, still `pending`.
    Pending,
    /// A person let the authorization go on.
    Approved,
    /// A person declined it (the payment failed: `fraud_review_declined`).
    Declined,
    /// No one decided in time (the payment failed: `fraud_review_expired`).
    Expired,
}

impl ReviewStatus {
    /// Every status.
    pub const ALL: [ReviewStatus; 4] =
        [Self::Pending, Self::Approved, Self::Declined, Self::Expired];

    /// The name the API and the database use.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Approved => "approved",
            Self::Declined => "declined",
            Self::Expired => "expired",
        }
    }

    /// The status of a name, `None` for a name that is not one.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == name)
    }
}

/// An authorization held for review.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FraudReview {
    /// Id (UUIDv7: ids sort by creation).
    pub id: String,
    /// The payment held.
    pub payment_id: String,
    /// The order it pays.
    pub order_id: String,
    /// The payer.
    pub user_id: String,
    /// The total score.
    pub score: u32,
    /// The rules that fired.
    pub signals: Vec<FraudSignal>,
    /// Where it is.
    pub status: ReviewStatus,
    /// Who decided (an admin's id, or `expiry`).
    pub decided_by: Option<String>,
    /// When, epoch ms.
    pub decided_at: Option<i64>,
    /// When it was held, epoch ms.
    pub created_at: i64,
}

/// The failure detail of a payment whose review was declined; also its stable code
/// (the payment's reason stays `fraud`, see `app::reviews`).
pub const DECLINED_DETAIL: &str = "fraud_review_declined";
/// The failure detail of a payment whose review no one decided in time.
pub const EXPIRED_DETAIL: &str = "fraud_review_expired";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_round_trip_their_names() {
        for status in ReviewStatus::ALL {
            assert_eq!(ReviewStatus::parse(status.as_str()), Some(status));
        }
        assert_eq!(ReviewStatus::parse("held"), None);
    }
}
