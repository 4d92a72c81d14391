//! The rules an amount and an authorization attempt must pass: payable amounts and the
//! fraud rules applied before an authorization reaches the provider.

use super::{Invalid, Money};

/// An amount a payment or refund may be for: more than zero, at most 10^12 minor
/// units, in a known currency.
pub fn payable(amount: i64, currency: &str) -> Result<Money, Invalid> {
    if amount <= 0 {
        return Err(Invalid("amount must be more than zero"));
    }
    Money::price(amount, currency).map_err(|e| Invalid(e.0))
}

/// The fraud rules applied before an authorization reaches the provider (which has
/// its own: the sandbox's fraud card).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FraudRules {
    /// Largest amount in minor units authorized without a block.
    pub max_amount_minor: i64,
    /// Authorization attempts per user in a minute beyond which the next is blocked.
    pub max_attempts_per_minute: u32,
}

/// What the fraud rules look at for one authorization attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AttemptFacts {
    /// The amount, minor units.
    pub amount_minor: i64,
    /// The user's attempts in the 60 seconds before this one.
    pub recent_attempts: u32,
}

impl FraudRules {
    /// `Err` naming the rule that blocks the attempt, or `Ok` when none does.
    pub fn assess(&self, facts: &AttemptFacts) -> Result<(), Invalid> {
        if facts.amount_minor > self.max_amount_minor {
            return Err(Invalid("the amount is above the fraud limit"));
        }
        if facts.recent_attempts >= self.max_attempts_per_minute {
            return Err(Invalid(
                "too many authorization attempts in the last minute",
            ));
        }
        Ok(())
    }
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

    #[test]
    fn fraud_rules_block_large_amounts_and_bursts() {
        let rules = FraudRules {
            max_amount_minor: 1_000_000,
            max_attempts_per_minute: 5,
        };
        let cases = [
            (1_000, 0, true),
            (1_000_000, 0, true),
            (1_000_001, 0, false),
            (1_000, 4, true),
            (1_000, 5, false),
            (1_000, 50, false),
            (2_000_000, 9, false),
        ];
        for (amount_minor, recent_attempts, allowed) in cases {
            let facts = AttemptFacts {
                amount_minor,
                recent_attempts,
            };
            assert_eq!(
                rules.assess(&facts).is_ok(),
                allowed,
                "{amount_minor} after {recent_attempts} attempts"
            );
        }
    }
}
