//! The fraud rules an authorization attempt is scored by before it reaches the provider
//! (which has its own: the sandbox's fraud card), and what the total score decides.
//!
//! Each rule looks at one fact of the attempt and either stays silent or gives a
//! [`Signal`] with its score; the total is the sum. Below `review_score` the attempt
//! goes on, from `review_score` it waits for a person (the review queue, see
//! `app::reviews`), from `block_score` it is declined at once. Scores rather than
//! yes/no rules let an operator say "one of these alone is suspicious, two together are
//! fraud" without a rule for every combination.
//!
//! The facts come from payments' own data (`store`): attempts per user in the last
//! minute, payments on the same card and from the same client address in the last
//! hour, the user's last captured payments, and the countries the payment's
//! [`PaymentOrigin`] names. The card is recognised by brand, last four digits and expiry — payments
//! never keeps the card number or anything derived from it alone, and the sandbox's
//! tokens differ per tokenization, so this is the fingerprint there is; two cards that
//! share all four are counted together, which only makes the rule stricter.

use contracts::payments::{FraudDecision, FraudSignal};

/// The rules' limits and scores (from `[payments]` and `[payments.fraud]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FraudPolicy {
    /// From this total score an attempt is held for review.
    pub review_score: u32,
    /// From this total score an attempt is declined.
    pub block_score: u32,
    /// Largest amount (minor units) that does not fire `amount_limit`.
    pub max_amount_minor: i64,
    /// `amount_limit`'s score.
    pub amount_limit_score: u32,
    /// Attempts per user in the minute before this one from which `user_velocity` fires.
    pub max_attempts_per_minute: u32,
    /// `user_velocity`'s score.
    pub user_velocity_score: u32,
    /// Payments on the same card in the hour before this one from which
    /// `card_velocity` fires; 0 switches it off.
    pub max_card_attempts_per_hour: u32,
    /// `card_velocity`'s score.
    pub card_velocity_score: u32,
    /// Payments from the same client address in the hour before this one from which
    /// `ip_velocity` fires; 0 switches it off.
    pub max_client_attempts_per_hour: u32,
    /// `ip_velocity`'s score.
    pub ip_velocity_score: u32,
    /// `country_mismatch`'s score (0: off).
    pub country_mismatch_score: u32,
    /// `unusual_amount` fires above this multiple of the mean of the user's captured
    /// payments; 0 switches it off.
    pub usual_multiple: u32,
    /// `unusual_amount`'s score.
    pub unusual_amount_score: u32,
}

/// Captured payments a user needs before `unusual_amount` judges: fewer say nothing
/// about what is usual.
pub const MIN_HISTORY: usize = 3;

/// What the fraud rules look at for one authorization attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttemptFacts {
    /// The amount, minor units.
    pub amount_minor: i64,
    /// The user's attempts in the 60 seconds before this one.
    pub recent_attempts: u32,
    /// Other payments on the same card in the hour before this one.
    pub card_attempts: u32,
    /// Other payments from the same client address in the hour before this one (0
    /// when the address is unknown).
    pub client_attempts: u32,
    /// The card's billing country, when known.
    pub billing_country: Option<String>,
    /// The order's shipping country.
    pub shipping_country: Option<String>,
    /// What the user's last captured payments in this currency captured, minor units.
    pub captured_history: Vec<i64>,
}

/// Where a payment came from, recorded when it was created: the facts of the
/// client-address and country rules.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PaymentOrigin {
    /// The client's address as a counter key (`ClientIp::key`: an IPv6 address by its
    /// /64); `None` when not known (a service paying without a client behind it).
    pub client: Option<String>,
    /// The card's billing country (ISO 3166-1 alpha-2), when the payer gave it.
    pub billing_country: Option<String>,
    /// The order's shipping country, when the order ships.
    pub shipping_country: Option<String>,
}

/// A rule that fired.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signal {
    /// The rule's stable name.
    pub rule: &'static str,
    /// What it adds to the total.
    pub score: u32,
    /// Why, for people; never the card or personal data.
    pub detail: String,
}

/// What becomes of an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Goes on to the provider.
    Allow,
    /// Waits for a person.
    Review,
    /// Declined.
    Block,
}

/// The rules' judgement of one attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Assessment {
    /// The sum of the signals' scores.
    pub score: u32,
    /// The rules that fired, in rule order.
    pub signals: Vec<Signal>,
    /// What the score decides.
    pub verdict: Verdict,
}

impl Assessment {
    /// The decision an event names; `None` when the attempt is allowed.
    pub fn decision(&self) -> Option<FraudDecision> {
        match self.verdict {
            Verdict::Allow => None,
            Verdict::Review => Some(FraudDecision::Review),
            Verdict::Block => Some(FraudDecision::Block),
        }
    }

    /// The signals as events and the review queue carry them.
    pub fn contract_signals(&self) -> Vec<FraudSignal> {
        self.signals
            .iter()
            .map(|s| FraudSignal {
                rule: s.rule.to_owned(),
                score: s.score,
                detail: s.detail.clone(),
            })
            .collect()
    }

    /// The signals' details in one line, as a failed payment's detail.
    pub fn detail(&self) -> String {
        self.signals
            .iter()
            .map(|s| s.detail.as_str())
            .collect::<Vec<_>>()
            .join("; ")
    }
}

impl FraudPolicy {
    /// Scores `facts`.
    pub fn assess(&self, facts: &AttemptFacts) -> Assessment {
        let signals: Vec<Signal> = [
            self.amount_limit(facts),
            self.user_velocity(facts),
            self.card_velocity(facts),
            self.ip_velocity(facts),
            self.country_mismatch(facts),
            self.unusual_amount(facts),
        ]
        .into_iter()
        .flatten()
        .filter(|s| s.score > 0)
        .collect();
        let score = signals
            .iter()
            .fold(0u32, |sum, s| sum.saturating_add(s.score));
        Assessment {
            score,
            signals,
            verdict: self.verdict(score),
        }
    }

    /// What a total score decides. A block threshold at or below the review one means
    /// there is no review band: every score that reaches it blocks.
    pub fn verdict(&self, score: u32) -> Verdict {
        if score >= self.block_score {
            Verdict::Block
        } else if score >= self.review_score {
            Verdict::Review
        } else {
            Verdict::Allow
        }
    }

    fn amount_limit(&self, facts: &AttemptFacts) -> Option<Signal> {
        (facts.amount_minor > self.max_amount_minor).then(|| Signal {
            rule: "amount_limit",
            score: self.amount_limit_score,
            detail: "the amount is above the fraud limit".to_owned(),
        })
    }

    fn user_velocity(&self, facts: &AttemptFacts) -> Option<Signal> {
        (facts.recent_attempts >= self.max_attempts_per_minute).then(|| Signal {
            rule: "user_velocity",
            score: self.user_velocity_score,
            detail: "too many authorization attempts in the last minute".to_owned(),
        })
    }

    fn card_velocity(&self, facts: &AttemptFacts) -> Option<Signal> {
        // 0: off (every payment would reach it).
        let fires = self.max_card_attempts_per_hour > 0
            && facts.card_attempts >= self.max_card_attempts_per_hour;
        fires.then(|| Signal {
            rule: "card_velocity",
            score: self.card_velocity_score,
            detail: format!(
                "{} payments on this card in the last hour",
                facts.card_attempts
            ),
        })
    }

    fn ip_velocity(&self, facts: &AttemptFacts) -> Option<Signal> {
        // 0: off (every payment would reach it). The address itself stays out of the
        // detail: it is personal data, and the detail is shown and published.
        let fires = self.max_client_attempts_per_hour > 0
            && facts.client_attempts >= self.max_client_attempts_per_hour;
        fires.then(|| Signal {
            rule: "ip_velocity",
            score: self.ip_velocity_score,
            detail: format!(
                "{} payments from this client address in the last hour",
                facts.client_attempts
            ),
        })
    }

    fn country_mismatch(&self, facts: &AttemptFacts) -> Option<Signal> {
        // Only two known countries can disagree: a payment without a billing country
        // (or an order that ships nowhere) is not suspicious for it.
        let (Some(billing), Some(shipping)) = (&facts.billing_country, &facts.shipping_country)
        else {
            return None;
        };
        (billing != shipping).then(|| Signal {
            rule: "country_mismatch",
            score: self.country_mismatch_score,
            detail: format!(
                "the card's billing country ({billing}) differs from the shipping country ({shipping})"
            ),
        })
    }

    fn unusual_amount(&self, facts: &AttemptFacts) -> Option<Signal> {
        let history = &facts.captured_history;
        // 0: off (every amount is above nothing).
        if self.usual_multiple == 0 || history.len() < MIN_HISTORY {
            return None;
        }
        // amount > multiple × (sum / n)  ⇔  amount × n > multiple × sum, in integers.
        let sum: i128 = history.iter().map(|&a| i128::from(a)).sum();
        let n = i128::try_from(history.len()).unwrap_or(i128::MAX);
        let above = i128::from(facts.amount_minor) * n > i128::from(self.usual_multiple) * sum;
        above.then(|| Signal {
            rule: "unusual_amount",
            score: self.unusual_amount_score,
            detail: format!(
                "more than {} times the customer's usual amount",
                self.usual_multiple
            ),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> FraudPolicy {
        FraudPolicy {
            review_score: 50,
            block_score: 90,
            max_amount_minor: 1_000_000,
            amount_limit_score: 100,
            max_attempts_per_minute: 5,
            user_velocity_score: 100,
            max_card_attempts_per_hour: 10,
            card_velocity_score: 60,
            max_client_attempts_per_hour: 20,
            ip_velocity_score: 60,
            country_mismatch_score: 40,
            usual_multiple: 5,
            unusual_amount_score: 60,
        }
    }

    fn facts(amount_minor: i64) -> AttemptFacts {
        AttemptFacts {
            amount_minor,
            recent_attempts: 0,
            card_attempts: 0,
            client_attempts: 0,
            billing_country: None,
            shipping_country: None,
            captured_history: Vec::new(),
        }
    }

    fn fired(facts: &AttemptFacts) -> Vec<&'static str> {
        policy()
            .assess(facts)
            .signals
            .iter()
            .map(|s| s.rule)
            .collect()
    }

    #[test]
    fn amount_limit_fires_above_the_limit_only() {
        assert!(fired(&facts(1_000_000)).is_empty());
        assert_eq!(fired(&facts(1_000_001)), ["amount_limit"]);
    }

    #[test]
    fn user_velocity_fires_from_the_limit() {
        for (recent, expected) in [(4, false), (5, true), (50, true)] {
            let facts = AttemptFacts {
                recent_attempts: recent,
                ..facts(1_000)
            };
            assert_eq!(fired(&facts) == ["user_velocity"], expected, "{recent}");
        }
    }

    #[test]
    fn card_velocity_fires_from_the_limit() {
        for (card, expected) in [(0, false), (9, false), (10, true), (11, true)] {
            let facts = AttemptFacts {
                card_attempts: card,
                ..facts(1_000)
            };
            assert_eq!(fired(&facts) == ["card_velocity"], expected, "{card}");
        }
    }

    #[test]
    fn ip_velocity_fires_from_the_limit_without_naming_the_address() {
        for (client, expected) in [(0, false), (19, false), (20, true), (200, true)] {
            let facts = AttemptFacts {
                client_attempts: client,
                ..facts(1_000)
            };
            assert_eq!(fired(&facts) == ["ip_velocity"], expected, "{client}");
        }
        let assessed = policy().assess(&AttemptFacts {
            client_attempts: 20,
            ..facts(1_000)
        });
        assert_eq!(
            assessed.detail(),
            "20 payments from this client address in the last hour"
        );
    }

    #[test]
    fn country_mismatch_needs_two_known_countries_that_differ() {
        let with = |billing: Option<&str>, shipping: Option<&str>| AttemptFacts {
            billing_country: billing.map(str::to_owned),
            shipping_country: shipping.map(str::to_owned),
            ..facts(1_000)
        };
        assert!(fired(&with(None, None)).is_empty());
        assert!(fired(&with(Some("DE"), None)).is_empty());
        assert!(fired(&with(None, Some("US"))).is_empty());
        assert!(fired(&with(Some("US"), Some("US"))).is_empty());
        let assessed = policy().assess(&with(Some("DE"), Some("US")));
        assert_eq!(
            (assessed.score, assessed.verdict),
            (40, Verdict::Allow),
            "a mismatch alone is a gift more often than a fraud"
        );
        assert_eq!(
            assessed.detail(),
            "the card's billing country (DE) differs from the shipping country (US)"
        );
        // With a card seen too often it reaches the block.
        let both = AttemptFacts {
            card_attempts: 10,
            ..with(Some("DE"), Some("US"))
        };
        assert_eq!(policy().assess(&both).verdict, Verdict::Block);
    }

    #[test]
    fn unusual_amount_needs_history_and_compares_with_the_mean() {
        // (history, amount, fires)
        let table: &[(&[i64], i64, bool)] = &[
            (&[], 1_000_000, false),
            (&[100, 100], 1_000_000, false),
            (&[100, 100, 100], 500, false),
            (&[100, 100, 100], 501, true),
            (&[100, 200, 300], 1_000, false),
            (&[100, 200, 300], 1_001, true),
        ];
        for (history, amount, fires) in table {
            let facts = AttemptFacts {
                captured_history: history.to_vec(),
                ..facts(*amount)
            };
            assert_eq!(
                fired(&facts) == ["unusual_amount"],
                *fires,
                "{history:?} {amount}"
            );
        }
    }

    #[test]
    fn the_total_score_decides_allow_review_or_block() {
        let policy = policy();
        for (score, verdict) in [
            (0, Verdict::Allow),
            (49, Verdict::Allow),
            (50, Verdict::Review),
            (89, Verdict::Review),
            (90, Verdict::Block),
            (500, Verdict::Block),
        ] {
            assert_eq!(policy.verdict(score), verdict, "{score}");
        }
        // One review-level rule alone is held; two together add up to a block.
        let one = AttemptFacts {
            card_attempts: 10,
            ..facts(1_000)
        };
        let assessed = policy.assess(&one);
        assert_eq!((assessed.score, assessed.verdict), (60, Verdict::Review));
        assert_eq!(assessed.decision(), Some(FraudDecision::Review));
        let two = AttemptFacts {
            captured_history: vec![100, 100, 100],
            ..one
        };
        let assessed = policy.assess(&two);
        assert_eq!((assessed.score, assessed.verdict), (120, Verdict::Block));
        assert_eq!(
            assessed.detail(),
            "10 payments on this card in the last hour; more than 5 times the customer's usual amount"
        );
        // The amount limit alone blocks, as it always did.
        let over = policy.assess(&facts(2_000_000));
        assert_eq!(over.verdict, Verdict::Block);
        assert_eq!(over.contract_signals()[0].rule, "amount_limit");
        assert_eq!(policy.assess(&facts(1)).decision(), None);
    }

    #[test]
    fn a_limit_of_zero_switches_its_rule_off() {
        let policy = FraudPolicy {
            max_card_attempts_per_hour: 0,
            max_client_attempts_per_hour: 0,
            usual_multiple: 0,
            ..policy()
        };
        let facts = AttemptFacts {
            card_attempts: 99,
            client_attempts: 99,
            captured_history: vec![1, 1, 1],
            ..facts(1_000)
        };
        assert!(policy.assess(&facts).signals.is_empty());
    }

    #[test]
    fn a_rule_scored_zero_is_switched_off() {
        let policy = FraudPolicy {
            card_velocity_score: 0,
            country_mismatch_score: 0,
            ..policy()
        };
        let facts = AttemptFacts {
            card_attempts: 99,
            billing_country: Some("FR".to_owned()),
            shipping_country: Some("GB".to_owned()),
            ..facts(1_000)
        };
        let assessed = policy.assess(&facts);
        assert!(assessed.signals.is_empty());
        assert_eq!(assessed.verdict, Verdict::Allow);
    }
}
