//! What the checkout needs from identity, named by role: hold a customer's loyalty
//! points for an order being placed and learn the discount they buy. `crate::identity`
//! implements it over identity's API (in this process or over HTTP); tests may put
//! anything else behind it. Calls carry the caller's own credentials, so identity
//! authorizes the customer, not ordering.

use async_trait::async_trait;
use platform::auth::ForwardedCredentials;

use super::Money;

/// Points an order redeems and what they take off it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Redemption {
    /// Points held at identity (spent when the order is confirmed, given back when it
    /// is cancelled).
    pub points: u32,
    /// What they are worth, in the order's currency.
    pub discount: Money,
}

/// Why identity did not hold the points.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LoyaltyError {
    /// Fewer points are available than asked.
    #[error("not enough loyalty points: {available} available")]
    Insufficient {
        /// What is available.
        available: i64,
    },
    /// Points cannot be redeemed in the order's currency.
    #[error("loyalty points cannot be redeemed in {0}")]
    NoRate(String),
    /// Identity refused otherwise (its status and detail).
    #[error("identity refused the loyalty reservation ({status}): {detail}")]
    Refused {
        /// Identity's status code.
        status: u16,
        /// Its explanation.
        detail: String,
    },
    /// Identity could not be reached or answered something unreadable.
    #[error("identity is unavailable: {0}")]
    Unavailable(String),
}

/// The identity service, as the checkout uses it.
#[async_trait]
pub trait IdentityPort: Send + Sync {
    /// Holds `points` of `user_id`'s loyalty points for `order_id`, priced in
    /// `currency`. Repeating the call for the same order answers the same.
    async fn reserve_points(
        &self,
        credentials: &ForwardedCredentials,
        user_id: &str,
        order_id: &str,
        points: u32,
        currency: &str,
    ) -> Result<Redemption, LoyaltyError>;

    /// Gives back the points `order_id` holds of `user_id`'s, when placing the order
    /// failed after the hold (giving back nothing held is no error).
    async fn release_points(
        &self,
        credentials: &ForwardedCredentials,
        user_id: &str,
        order_id: &str,
    ) -> Result<(), LoyaltyError>;
}

/// An order's total once `discount` is taken off `subtotal`. A discount of the whole
/// subtotal or more (or in another currency) is refused: the saga needs a payment, and
/// payments takes no zero amount, so points may pay for all but the last minor unit.
pub fn discounted_total(subtotal: &Money, discount: &Money) -> Option<Money> {
    if discount.currency != subtotal.currency || discount.amount >= subtotal.amount {
        return None;
    }
    Some(Money {
        amount: (subtotal.amount - discount.amount.max(0)).max(0),
        currency: subtotal.currency.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn usd(amount: i64) -> Money {
        Money {
            amount,
            currency: "USD".into(),
        }
    }

    #[test]
    fn a_discount_comes_off_the_subtotal_and_never_beyond_it() {
        assert_eq!(discounted_total(&usd(2000), &usd(500)), Some(usd(1500)));
        assert_eq!(discounted_total(&usd(2000), &usd(1999)), Some(usd(1)));
        assert_eq!(
            discounted_total(&usd(2000), &usd(2000)),
            None,
            "nothing left to pay"
        );
        assert_eq!(discounted_total(&usd(2000), &usd(2001)), None);
        let eur = Money {
            amount: 1,
            currency: "EUR".into(),
        };
        assert_eq!(discounted_total(&usd(2000), &eur), None);
    }
}
