//! The built-in [`SandboxProvider`]: answers like a card processor in test mode, in
//! memory, so the platform takes payments with no account anywhere. Its test cards
//! (API.md) decline, run short of funds or look fraudulent the way Stripe's do.
//!
//! It takes back the tokens it issued, and knows Stripe's test tokens and
//! PaymentMethods by name (`tok_visa`, `pm_card_visa`, `tok_chargeDeclined`,
//! `pm_card_visa_chargeDeclinedInsufficientFunds`…, see [`TEST_TOKENS`]), so a
//! storefront written for Stripe.js pays in the sandbox the same way. Its tokens carry
//! the card's behaviour, brand, last four digits and expiry — never the number — so
//! they read back after a restart with nothing remembered. Its intents carry the
//! card's behaviour the same way (`sbx_pi_{behaviour}_{id}`).
//!
//! It remembers the answers of the calls that move money, by idempotency key, for
//! the life of the process: a repeated key gets the first answer, and `lookup` reads
//! them. After a restart it remembers none, and `lookup` says a call was not made —
//! the sandbox moves no real money, so making it again is harmless.

use std::collections::HashMap;
use std::sync::Mutex;

use async_trait::async_trait;

use super::{Answer, Call, CardToken, Decline, Lookup, PaymentProvider, ProviderRef, TokenRefusal};
use crate::domain::{CardBrand, CardDetails, CardTokenRef, Expiry, FailureReason, Money};

/// How a sandbox card behaves, encoded in its token (like Stripe's `pm_card_visa`,
/// `pm_card_chargeDeclined`): the token never carries the number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Behaviour {
    /// Authorizes.
    Approve,
    /// Declined by the issuer.
    Declined,
    /// Short of funds.
    InsufficientFunds,
    /// Blocked as fraudulent.
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

/// Stripe's test tokens and PaymentMethods the sandbox knows, by the name after
/// `tok_` or `pm_card_` (a `visa_` before `chargeDeclined…` is optional, as Stripe
/// names them both ways): how the card behaves, its brand and last four digits, as
/// Stripe's card of that name. Their expiry is [`TEST_EXPIRY`].
const TEST_TOKENS: [(&str, Behaviour, CardBrand, &str); 8] = [
    ("visa", Behaviour::Approve, CardBrand::Visa, "4242"),
    (
        "mastercard",
        Behaviour::Approve,
        CardBrand::Mastercard,
        "4444",
    ),
    ("amex", Behaviour::Approve, CardBrand::Amex, "0005"),
    ("discover", Behaviour::Approve, CardBrand::Discover, "1117"),
    (
        "chargeDeclined",
        Behaviour::Declined,
        CardBrand::Visa,
        "0002",
    ),
    (
        "chargeDeclinedInsufficientFunds",
        Behaviour::InsufficientFunds,
        CardBrand::Visa,
        "9995",
    ),
    (
        "chargeDeclinedFraudulent",
        Behaviour::Fraud,
        CardBrand::Visa,
        "0019",
    ),
    ("radarBlock", Behaviour::Fraud, CardBrand::Visa, "0019"),
];

/// The expiry of the test tokens (Stripe's take any future date).
const TEST_EXPIRY: Expiry = Expiry {
    month: 12,
    year: 2099,
};

/// The card a test token of Stripe's names, if the sandbox knows it.
fn test_token(token: &str) -> Option<(Behaviour, CardBrand, &'static str)> {
    let name = token
        .strip_prefix("tok_")
        .or_else(|| token.strip_prefix("pm_card_"))?;
    let name = name
        .strip_prefix("visa_")
        .filter(|rest| rest.starts_with("chargeDeclined"))
        .unwrap_or(name);
    TEST_TOKENS
        .iter()
        .find(|(known, ..)| *known == name)
        .map(|&(_, behaviour, brand, last4)| (behaviour, brand, last4))
}

/// A token the sandbox issued: `sbx_tok_{behaviour}_{brand}_{last4}_{MMYYYY}_{id}`.
fn issued_token(behaviour: Behaviour, brand: CardBrand, last4: &str, expiry: Expiry) -> String {
    format!(
        "{TOKEN_PREFIX}{}_{}_{last4}_{:02}{:04}_{}",
        behaviour.as_str(),
        brand.as_str(),
        expiry.month,
        expiry.year,
        platform::ids::new_id().replace('-', "")
    )
}

/// The card of a token the sandbox issued, read from the token; `None` for a token
/// it did not issue (or one from before tokens carried the card).
fn read_issued(token: &str) -> Option<CardToken> {
    let mut parts = token.strip_prefix(TOKEN_PREFIX)?.split('_');
    let (Some(class), Some(brand), Some(last4), Some(expiry), Some(id), None) = (
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
    ) else {
        return None;
    };
    Behaviour::of_token(token)?;
    let digits =
        |text: &str, len: usize| text.len() == len && text.bytes().all(|b| b.is_ascii_digit());
    if class.is_empty()
        || !digits(last4, 4)
        || !digits(expiry, 6)
        || id.is_empty()
        || !id.bytes().all(|b| b.is_ascii_alphanumeric())
    {
        return None;
    }
    let expiry = Expiry::stored(expiry[..2].parse().ok()?, expiry[2..].parse().ok()?).ok()?;
    Some(CardToken {
        token: token.to_owned(),
        brand: CardBrand::parse(brand)?,
        last4: last4.to_owned(),
        exp_month: expiry.month,
        exp_year: expiry.year,
    })
}

const TOKEN_PREFIX: &str = "sbx_tok_";
/// The sandbox's intents: `sbx_pi_{behaviour}_{id}`.
const INTENT_PREFIX: &str = "sbx_pi_";
/// The sandbox's customers, whom saved cards belong to.
const CUSTOMER_PREFIX: &str = "sbx_cus_";
/// Authorizations from before the sandbox had intents, still capturable.
const LEGACY_AUTH_PREFIX: &str = "sbx_auth_";
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

/// How the card of intent `intent` behaves; an error for an intent the sandbox did
/// not open.
fn intent_behaviour(intent: &str) -> Result<Behaviour, Decline> {
    intent
        .strip_prefix(INTENT_PREFIX)
        .and_then(|rest| rest.split('_').next())
        .and_then(|class| {
            [
                Behaviour::Approve,
                Behaviour::Declined,
                Behaviour::InsufficientFunds,
                Behaviour::Fraud,
            ]
            .into_iter()
            .find(|b| b.as_str() == class)
        })
        .ok_or_else(|| Decline::new(FailureReason::ProviderError, "no such payment intent"))
}

fn check_authorization(intent: &str) -> Result<(), Decline> {
    if intent.starts_with(LEGACY_AUTH_PREFIX) {
        return Ok(());
    }
    intent_behaviour(intent).map(|_| ())
}

/// The key a call's answer is remembered under.
fn answer_key(operation: super::Operation, idempotency_key: &str) -> String {
    format!("{} {idempotency_key}", operation.as_str())
}

#[async_trait]
impl PaymentProvider for SandboxProvider {
    fn takes_raw_cards(&self) -> bool {
        true
    }

    async fn card_from_token(&self, token: &CardTokenRef) -> Result<CardToken, TokenRefusal> {
        let token = token.as_str();
        if let Some(card) = read_issued(token) {
            return Ok(card);
        }
        // A test token stands for a new card each time, as Stripe makes a new
        // PaymentMethod of `pm_card_visa` on each use.
        let (behaviour, brand, last4) = test_token(token).ok_or(TokenRefusal::Unknown)?;
        Ok(CardToken {
            token: issued_token(behaviour, brand, last4, TEST_EXPIRY),
            brand,
            last4: last4.to_owned(),
            exp_month: TEST_EXPIRY.month,
            exp_year: TEST_EXPIRY.year,
        })
    }

    async fn tokenize(&self, card: &CardDetails) -> Result<CardToken, Decline> {
        let behaviour = Behaviour::of(card);
        Ok(CardToken {
            token: issued_token(
                behaviour,
                card.number.brand(),
                card.number.last4(),
                card.expiry,
            ),
            brand: card.number.brand(),
            last4: card.number.last4().to_owned(),
            exp_month: card.expiry.month,
            exp_year: card.expiry.year,
        })
    }

    async fn new_customer(&self, _owner: &str) -> Result<String, Decline> {
        Ok(reference(CUSTOMER_PREFIX).0)
    }

    /// The sandbox keeps no cards: attaching one is looking it up, and its handle
    /// stays the one issued.
    async fn attach(
        &self,
        token: &CardTokenRef,
        _customer: &str,
    ) -> Result<CardToken, TokenRefusal> {
        self.card_from_token(token).await
    }

    async fn detach(&self, _token: &str, _customer: &str) -> Result<(), Decline> {
        Ok(())
    }

    async fn open(
        &self,
        token: &str,
        _customer: Option<&str>,
        amount: &Money,
        _idempotency_key: &str,
    ) -> Result<ProviderRef, Decline> {
        // Opening moves no money: a second intent for a repeated key would only be
        // an intent never confirmed, as at Stripe.
        check_amount(amount)?;
        let behaviour = Behaviour::of_token(token)
            .ok_or_else(|| Decline::new(FailureReason::ProviderError, "no such payment method"))?;
        Ok(reference(&format!(
            "{INTENT_PREFIX}{}_",
            behaviour.as_str()
        )))
    }

    async fn authorize(&self, intent: &str, idempotency_key: &str) -> Result<Answer, Decline> {
        self.once(
            answer_key(super::Operation::Authorize, idempotency_key),
            || match intent_behaviour(intent)? {
                Behaviour::Approve => Ok(ProviderRef(intent.to_owned())),
                Behaviour::Declined => Err(Decline::new(
                    FailureReason::Declined,
                    "the card was declined",
                )),
                Behaviour::InsufficientFunds => Err(Decline::new(
                    FailureReason::InsufficientFunds,
                    "the card has insufficient funds",
                )),
                Behaviour::Fraud => Err(Decline::new(
                    FailureReason::Fraud,
                    "the payment was blocked as fraudulent",
                )),
            },
        )
        .map(Answer::Done)
    }

    async fn capture(
        &self,
        intent: &str,
        amount: &Money,
        idempotency_key: &str,
    ) -> Result<ProviderRef, Decline> {
        self.once(
            answer_key(super::Operation::Capture, idempotency_key),
            || {
                check_amount(amount)?;
                check_authorization(intent)?;
                Ok(reference(CAPTURE_PREFIX))
            },
        )
    }

    async fn void(&self, intent: &str, idempotency_key: &str) -> Result<ProviderRef, Decline> {
        self.once(answer_key(super::Operation::Void, idempotency_key), || {
            check_authorization(intent)?;
            Ok(reference("sbx_void_"))
        })
    }

    async fn refund(
        &self,
        intent: &str,
        amount: &Money,
        idempotency_key: &str,
    ) -> Result<ProviderRef, Decline> {
        self.once(
            answer_key(super::Operation::Refund, idempotency_key),
            || {
                check_amount(amount)?;
                check_authorization(intent)?;
                Ok(reference("sbx_re_"))
            },
        )
    }

    async fn lookup(&self, call: &Call<'_>) -> Result<Lookup, Decline> {
        let Ok(answers) = self.answers.lock() else {
            return Err(Decline::new(
                FailureReason::ProviderError,
                "the sandbox is unavailable",
            ));
        };
        Ok(match answers.get(&answer_key(call.operation, call.key)) {
            Some(Ok(reference)) => Lookup::Made(reference.clone()),
            Some(Err(decline)) => Lookup::Refused(decline.clone()),
            None => Lookup::NotMade,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{CardNumber, Cvc};
    use crate::provider::Operation;

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
            let intent = sandbox
                .open(&token.token, None, &usd(1000), &format!("key-{i}"))
                .await
                .expect("opened");
            let outcome = sandbox
                .authorize(intent.as_str(), &format!("key-{i}"))
                .await;
            match failure {
                None => assert_eq!(outcome, Ok(Answer::Done(intent)), "{number}"),
                Some(reason) => assert_eq!(outcome.map_err(|d| d.reason), Err(reason), "{number}"),
            }
        }
    }

    /// An intent of `amount` USD on the card `number`.
    async fn opened(sandbox: &SandboxProvider, number: &str, amount: i64) -> ProviderRef {
        let token = sandbox.tokenize(&card(number)).await.expect("tokenize");
        sandbox
            .open(&token.token, None, &usd(amount), "open")
            .await
            .expect("opened")
    }

    #[tokio::test]
    async fn repeated_keys_return_the_first_answer() {
        let sandbox = SandboxProvider::new();
        let first = opened(&sandbox, "4242424242424242", 500).await;
        let other = opened(&sandbox, "4242424242424242", 500).await;
        assert_ne!(first, other, "each intent is its own");
        assert_eq!(
            sandbox.authorize(first.as_str(), "order-1").await,
            Ok(Answer::Done(first.clone()))
        );
        assert_eq!(
            sandbox.authorize(first.as_str(), "order-1").await,
            Ok(Answer::Done(first.clone()))
        );

        let capture = sandbox
            .capture(first.as_str(), &usd(500), "cap-1")
            .await
            .expect("captured");
        assert!(capture.0.starts_with("sbx_cap_"));
        assert_eq!(
            sandbox.capture(first.as_str(), &usd(500), "cap-1").await,
            Ok(capture)
        );
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
                .void(other.as_str(), "void-1")
                .await
                .is_ok_and(|r| r.0.starts_with("sbx_void_"))
        );
    }

    #[tokio::test]
    async fn a_lookup_reads_the_remembered_answer_and_knows_unmade_calls() {
        let sandbox = SandboxProvider::new();
        let approved = opened(&sandbox, "4242424242424242", 700).await;
        let declined = opened(&sandbox, "4000000000000002", 700).await;
        let amount = usd(700);
        let ask = |operation, intent: String, key: &'static str| {
            let amount = amount.clone();
            let sandbox = &sandbox;
            async move {
                sandbox
                    .lookup(&Call {
                        operation,
                        intent: &intent,
                        amount: &amount,
                        key,
                    })
                    .await
                    .expect("lookup")
            }
        };
        assert_eq!(
            ask(Operation::Authorize, approved.0.clone(), "a-1").await,
            Lookup::NotMade
        );
        sandbox
            .authorize(approved.as_str(), "a-1")
            .await
            .expect("authorized");
        assert_eq!(
            ask(Operation::Authorize, approved.0.clone(), "a-1").await,
            Lookup::Made(approved.clone())
        );
        let refusal = sandbox
            .authorize(declined.as_str(), "a-2")
            .await
            .expect_err("declined");
        assert_eq!(
            ask(Operation::Authorize, declined.0.clone(), "a-2").await,
            Lookup::Refused(refusal)
        );
        assert_eq!(
            ask(Operation::Capture, approved.0.clone(), "a-1").await,
            Lookup::NotMade,
            "another operation's key is another call"
        );
        let captured = sandbox
            .capture(approved.as_str(), &amount, "c-1")
            .await
            .expect("captured");
        assert_eq!(
            ask(Operation::Capture, approved.0.clone(), "c-1").await,
            Lookup::Made(captured)
        );
    }

    fn token(raw: &str) -> CardTokenRef {
        CardTokenRef::try_from(raw).expect("token")
    }

    #[tokio::test]
    async fn stripes_test_tokens_stand_for_stripes_test_cards() {
        let sandbox = SandboxProvider::new();
        let cases = [
            ("tok_visa", CardBrand::Visa, "4242", None),
            ("pm_card_visa", CardBrand::Visa, "4242", None),
            ("tok_mastercard", CardBrand::Mastercard, "4444", None),
            ("pm_card_amex", CardBrand::Amex, "0005", None),
            ("tok_discover", CardBrand::Discover, "1117", None),
            (
                "tok_chargeDeclined",
                CardBrand::Visa,
                "0002",
                Some(FailureReason::Declined),
            ),
            (
                "pm_card_chargeDeclined",
                CardBrand::Visa,
                "0002",
                Some(FailureReason::Declined),
            ),
            (
                "pm_card_visa_chargeDeclined",
                CardBrand::Visa,
                "0002",
                Some(FailureReason::Declined),
            ),
            (
                "tok_chargeDeclinedInsufficientFunds",
                CardBrand::Visa,
                "9995",
                Some(FailureReason::InsufficientFunds),
            ),
            (
                "pm_card_visa_chargeDeclinedInsufficientFunds",
                CardBrand::Visa,
                "9995",
                Some(FailureReason::InsufficientFunds),
            ),
            (
                "tok_chargeDeclinedFraudulent",
                CardBrand::Visa,
                "0019",
                Some(FailureReason::Fraud),
            ),
            (
                "pm_card_radarBlock",
                CardBrand::Visa,
                "0019",
                Some(FailureReason::Fraud),
            ),
        ];
        for (i, (name, brand, last4, failure)) in cases.into_iter().enumerate() {
            let card = sandbox
                .card_from_token(&token(name))
                .await
                .unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(
                (
                    card.brand,
                    card.last4.as_str(),
                    card.exp_month,
                    card.exp_year
                ),
                (brand, last4, 12, 2099),
                "{name}"
            );
            assert!(card.token.starts_with("sbx_tok_"), "{name}: {}", card.token);
            let intent = sandbox
                .open(&card.token, None, &usd(1000), &format!("tok-{i}"))
                .await
                .expect("opened");
            let outcome = sandbox
                .authorize(intent.as_str(), &format!("tok-{i}"))
                .await;
            assert_eq!(
                outcome.map(|_| ()).map_err(|d| d.reason),
                failure.map_or(Ok(()), Err),
                "{name}"
            );
        }
    }

    #[tokio::test]
    async fn the_sandboxs_own_tokens_read_back_as_the_same_card() {
        let sandbox = SandboxProvider::new();
        for number in ["4242424242424242", "4000000000000002", "378282246310005"] {
            let issued = sandbox.tokenize(&card(number)).await.expect("tokenize");
            let read = sandbox
                .card_from_token(&token(&issued.token))
                .await
                .expect("read back");
            assert_eq!(read, issued, "{number}");
        }
        let test = sandbox
            .card_from_token(&token("tok_visa"))
            .await
            .expect("tok_visa");
        assert_eq!(sandbox.card_from_token(&token(&test.token)).await, Ok(test));
    }

    #[tokio::test]
    async fn tokens_the_sandbox_does_not_know_are_unknown() {
        let sandbox = SandboxProvider::new();
        for name in [
            "tok_unknown",
            "pm_card_",
            "pm_1Nx2Yz",
            "card_123",
            "tok_visa_chargeDeclinedNope",
            "tok_visa_visa",
            "sbx_tok_ok_0123456789abcdef",
            "sbx_tok_nope_visa_4242_122030_abc",
            "sbx_tok_ok_visa_42x2_122030_abc",
            "sbx_tok_ok_visa_4242_132030_abc",
            "sbx_tok_ok_bank_4242_122030_abc",
            "sbx_tok_ok_visa_4242_122030_",
            "sbx_tok_ok_visa_4242_122030_abc_def",
        ] {
            assert_eq!(
                sandbox.card_from_token(&token(name)).await,
                Err(TokenRefusal::Unknown),
                "{name}"
            );
        }
    }

    #[tokio::test]
    async fn unknown_tokens_and_references_are_provider_errors() {
        let sandbox = SandboxProvider::new();
        let unknown = sandbox.open("tok_other", None, &usd(1), "k").await;
        assert_eq!(
            unknown.map_err(|d| d.reason),
            Err(FailureReason::ProviderError)
        );
        for intent in ["nope", "sbx_pi_", "sbx_pi_maybe_abc", ""] {
            assert!(sandbox.authorize(intent, "k").await.is_err(), "{intent:?}");
        }
        assert!(sandbox.capture("nope", &usd(1), "k").await.is_err());
        assert!(sandbox.void("nope", "k").await.is_err());
        assert!(sandbox.refund("nope", &usd(1), "k").await.is_err());
    }
}
