//! The rule an amount must pass to be payable. The fraud rules an authorization attempt
//! is scored by are in [`super::fraud`].

use super::{Invalid, Money};

/// An amount a payment or refund may be for: more than zero, at most 10^12 minor
/// units, in a known currency.
pub fn payable(amount: i64, currency: &str) -> Result<Money, Invalid> {
    if amount <= 0 {
        return Err(Invalid("amount must be more than zero"));
    }
    Money::price(amount, currency).map_err(|e| Invalid(e.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payable_amounts_are_positive_in_a_known_currency() {
        assert_eq!(
            payable(100, "usd").map(|m| m.currency),
            Ok("USD".to_owned())
        );
        assert!(payable(0, "USD").is_err());
        assert!(payable(-5, "USD").is_err());
        assert!(payable(5, "XXX").is_err());
        assert!(payable(1_000_000_000_001, "USD").is_err());
    }
}
