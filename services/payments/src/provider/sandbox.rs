//! The built-in [`SandboxProvider`]: answers like a card processor in test mode, in
//! memory, so the platform takes payments with no account anywhere. Its test cards
//! (API.md) decline, run short of funds or look fraudulent the way Stripe's do.

use std::collections::HashMap;
use std::sync::Mutex;

use async_trait::async_trait;

use super::{CardToken, Decline, PaymentProvider, ProviderRef};
use crate::domain::{CardDetails, FailureReason, Money};

/// How a sandbox card behaves, encoded in its token (like Stripe's `pm_card_visa`,
/// `pm_card_chargeDeclined`): the token never carries the number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Behaviour {
    Approve,
    Declined,
    InsufficientFunds,
    Fraud,
}

impl Behaviour {
    /// The test cards of API.md; any other valid number approves.
    fn of(card: &CardDetails) -> Self {
        match card.number.digits() {
            "4000000000000002" => Self::Declined,
            "4000000000009995" => Self::InsufficientFunds,
            "4100000000000019" => Self::Fraud,
            _ => Self::Approve,
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            Self::Approve => "ok",
            Self::Declined => "declined",
            Self::InsufficientFunds => "insufficient",
            Self::Fraud => "fraud",
        }
    }

    fn of_token(token: &str) -> Option<Self> {
        let class = token.strip_prefix(TOKEN_PREFIX)?.split('_').next()?;
        [
            Self::Approve,
            Self::Declined,
            Self::InsufficientFunds,
            Self::Fraud,
        ]
        .into_iter()
        .find(|b| b.as_str() == class)
    }
}

const TOKEN_PREFIX: &str = "sbx_tok_";
const AUTH_PREFIX: &str = "sbx_auth_";
const CAPTURE_PREFIX: &str = "sbx_cap_";
/// Remembered idempotent answers before the oldest are forgotten.
const REMEMBERED_ANSWERS: usize = 100_000;

/// The built-in provider: answers like a card processor in test mode, in memory.
///
/// It remembers the answers of idempotent calls (per process, up to
/// `REMEMBERED_ANSWERS`), as a processor does for a day or so.
#[derive(Debug, Default)]
pub struct SandboxProvider {
    answers: Mutex<HashMap<String, Result<ProviderRef, Decline>>>,
}

impl SandboxProvider {
    /// A sandbox with nothing remembered.
    pub fn new() -> Self {
        Self::default()
    }

    /// The first answer given for `key`, or `answer()` remembered as it.
    fn once(
        &self,
        key: String,
        answer: impl FnOnce() -> Result<ProviderRef, Decline>,
    ) -> Result<ProviderRef, Decline> {
        let Ok(mut answers) = self.answers.lock() else {
            return Err(Decline::new(
                FailureReason::ProviderError,
                "the sandbox is unavailable",
            ));
        };
        if let Some(previous) = answers.get(&key) {
            return previous.clone();
        }
        if answers.len() >= REMEMBERED_ANSWERS {
            answers.clear();
        }
        let result = answer();
        answers.insert(key, result.clone());
        result
    }
}

fn reference(prefix: &str) -> ProviderRef {
    ProviderRef(format!(
        "{prefix}{}",
        platform::ids::new_id().replace('-', "")
    ))
}

fn check_amount(amount: &Money) -> Result<(), Decline> {
    if amount.amount <= 0 {
        return Err(Decline::new(
            FailureReason::ProviderError,
            "the amount must be more than zero",
        ));
    }
    Ok(())
}

fn check_authorization(authorization: &str) -> Result<(), Decline> {
    if !authorization.starts_with(AUTH_PREFIX) {
        return Err(Decline::new(
            FailureReason::ProviderError,
            "no such authorization",
        ));
    }
    Ok(())
}

#[async_trait]
impl PaymentProvider for SandboxProvider {
    async fn tokenize(&self, card: &CardDetails) -> Result<CardToken, Decline> {
        let behaviour = Behaviour::of(card);
        Ok(CardToken {
            token: format!(
                "{TOKEN_PREFIX}{}_{}",
                behaviour.as_str(),
                platform::ids::new_id().replace('-', "")
            ),
            brand: card.number.brand(),
            last4: card.number.last4().to_owned(),
            exp_month: card.expiry.month,
            exp_year: card.expiry.year,
        })
    }

    async fn authorize(
        &self,
        token: &str,
        amount: &Money,
        idempotency_key: &str,
    ) -> Result<ProviderRef, Decline> {
        let behaviour = Behaviour::of_token(token);
        self.once(format!("authorize {idempotency_key}"), || {
            check_amount(amount)?;
            match behaviour {
                None => Err(Decline::new(
                    FailureReason::ProviderError,
                    "no such payment method",
                )),
                Some(Behaviour::Approve) => Ok(reference(AUTH_PREFIX)),
                Some(Behaviour::Declined) => Err(Decline::new(
                    FailureReason::Declined,
                    "the card was declined",
                )),
                Some(Behaviour::InsufficientFunds) => Err(Decline::new(
                    FailureReason::InsufficientFunds,
                    "the card has insufficient funds",
                )),
                Some(Behaviour::Fraud) => Err(Decline::new(
                    FailureReason::Fraud,
                    "the payment was blocked as fraudulent",
                )),
            }
        })
    }

    async fn capture(
        &self,
        authorization: &str,
        amount: &Money,
        idempotency_key: &str,
    ) -> Result<ProviderRef, Decline> {
        self.once(format!("capture {idempotency_key}"), || {
            check_amount(amount)?;
            check_authorization(authorization)?;
            Ok(reference(CAPTURE_PREFIX))
        })
    }

    async fn void(&self, authorization: &str) -> Result<ProviderRef, Decline> {
        self.once(format!("void {authorization}"), || {
            check_authorization(authorization)?;
            Ok(reference("sbx_void_"))
        })
    }

    async fn refund(
        &self,
        authorization: &str,
        amount: &Money,
        idempotency_key: &str,
    ) -> Result<ProviderRef, Decline> {
        self.once(format!("refund {idempotency_key}"), || {
            check_amount(amount)?;
            check_authorization(authorization)?;
            Ok(reference("sbx_re_"))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{CardNumber, Cvc, Expiry};

    fn card(number: &str) -> CardDetails {
        CardDetails {
            number: CardNumber::try_from(number).expect("valid number"),
            expiry: Expiry::stored(12, 2030).expect("expiry"),
            cvc: Cvc::try_from("123").expect("cvc"),
        }
    }

    fn usd(amount: i64) -> Money {
        Money {
            amount,
            currency: "USD".into(),
        }
    }

    #[tokio::test]
    async fn test_cards_behave_as_documented() {
        let sandbox = SandboxProvider::new();
        let cases = [
            ("4242424242424242", None),
            ("4000000000000002", Some(FailureReason::Declined)),
            ("4000000000009995", Some(FailureReason::InsufficientFunds)),
            ("4100000000000019", Some(FailureReason::Fraud)),
            ("5555555555554444", None),
            ("378282246310005", None),
        ];
        for (i, (number, failure)) in cases.into_iter().enumerate() {
            let token = sandbox.tokenize(&card(number)).await.expect("tokenize");
            assert!(
                token.token.starts_with("sbx_tok_") && !token.token.contains(number),
                "the token never carries the number: {}",
                token.token
            );
            assert_eq!(token.last4, &number[number.len() - 4..]);
            let outcome = sandbox
                .authorize(&token.token, &usd(1000), &format!("key-{i}"))
                .await;
            match failure {
                None => assert!(
                    outcome.as_ref().is_ok_and(|r| r.0.starts_with("sbx_auth_")),
                    "{number}: {outcome:?}"
                ),
                Some(reason) => assert_eq!(outcome.map_err(|d| d.reason), Err(reason), "{number}"),
            }
        }
    }

    #[tokio::test]
    async fn repeated_keys_return_the_first_answer() {
        let sandbox = SandboxProvider::new();
        let token = sandbox
            .tokenize(&card("4242424242424242"))
            .await
            .expect("tokenize");
        let first = sandbox
            .authorize(&token.token, &usd(500), "order-1")
            .await
            .expect("authorized");
        let again = sandbox
            .authorize(&token.token, &usd(500), "order-1")
            .await
            .expect("authorized");
        assert_eq!(first, again);
        let other = sandbox
            .authorize(&token.token, &usd(500), "order-2")
            .await
            .expect("authorized");
        assert_ne!(first, other);

        let capture = sandbox
            .capture(first.as_str(), &usd(500), "cap-1")
            .await
            .expect("captured");
        assert!(capture.0.starts_with("sbx_cap_"));
        let refund = sandbox
            .refund(first.as_str(), &usd(100), "re-1")
            .await
            .expect("refunded");
        assert!(refund.0.starts_with("sbx_re_"));
        assert_eq!(
            sandbox.refund(first.as_str(), &usd(100), "re-1").await,
            Ok(refund)
        );
        assert!(
            sandbox
                .void(other.as_str())
                .await
                .is_ok_and(|r| r.0.starts_with("sbx_void_"))
        );
    }

    #[tokio::test]
    async fn unknown_tokens_and_references_are_provider_errors() {
        let sandbox = SandboxProvider::new();
        let unknown = sandbox.authorize("tok_other", &usd(1), "k").await;
        assert_eq!(
            unknown.map_err(|d| d.reason),
            Err(FailureReason::ProviderError)
        );
        assert!(sandbox.capture("nope", &usd(1), "k").await.is_err());
        assert!(sandbox.void("nope").await.is_err());
        assert!(sandbox.refund("nope", &usd(1), "k").await.is_err());
    }
}
