//! [`Flaky`]: a provider in front of the sandbox that counts the calls made at it and
//! the lookups asked of it, and, when told, refuses a kind of call or stops answering
//! (a call that may or may not have arrived) — what the provider call journal and its
//! reconciler must survive.

use std::collections::HashMap;
use std::sync::Mutex;

use async_trait::async_trait;
use contracts::Money;
use contracts::payments::FailureReason;
use payments::domain::{CardDetails, CardTokenRef};
use payments::provider::{
    Answer, Call, CardToken, Decline, Lookup, Operation, PaymentProvider, ProviderRef,
    SandboxProvider, TokenRefusal,
};

/// What a [`Flaky`] does with calls of one operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Passes them to the sandbox.
    Answer,
    /// Refuses them as a card refusal would.
    Refuse,
    /// Passes nothing on and answers a provider error, and cannot answer lookups.
    Unreachable,
}

/// The sandbox, counted and switchable per operation.
pub struct Flaky {
    inner: SandboxProvider,
    modes: Mutex<HashMap<&'static str, Mode>>,
    made: Mutex<HashMap<&'static str, usize>>,
    lookups: Mutex<usize>,
}

impl Flaky {
    /// The sandbox, answering everything.
    pub fn new(inner: SandboxProvider) -> Self {
        Self {
            inner,
            modes: Mutex::default(),
            made: Mutex::default(),
            lookups: Mutex::default(),
        }
    }

    /// From now on, calls of `operation` go `mode`.
    pub fn set(&self, operation: Operation, mode: Mode) {
        self.modes
            .lock()
            .expect("modes")
            .insert(operation.as_str(), mode);
    }

    /// How many calls of `operation` reached the sandbox.
    pub fn made(&self, operation: Operation) -> usize {
        self.made
            .lock()
            .expect("made")
            .get(operation.as_str())
            .copied()
            .unwrap_or(0)
    }

    /// How many lookups were asked.
    pub fn lookups(&self) -> usize {
        *self.lookups.lock().expect("lookups")
    }

    fn mode(&self, operation: Operation) -> Mode {
        self.modes
            .lock()
            .expect("modes")
            .get(operation.as_str())
            .copied()
            .unwrap_or(Mode::Answer)
    }

    /// Whether a call of `operation` goes on to the sandbox (counted), or the
    /// refusal that answers it.
    fn admit(&self, operation: Operation) -> Result<(), Decline> {
        match self.mode(operation) {
            Mode::Answer => {
                *self
                    .made
                    .lock()
                    .expect("made")
                    .entry(operation.as_str())
                    .or_default() += 1;
                Ok(())
            }
            Mode::Refuse => Err(Decline {
                reason: FailureReason::Declined,
                detail: format!("the {} was refused", operation.as_str()),
            }),
            Mode::Unreachable => Err(unreachable()),
        }
    }
}

fn unreachable() -> Decline {
    Decline {
        reason: FailureReason::ProviderError,
        detail: "the provider could not be reached".to_owned(),
    }
}

#[async_trait]
impl PaymentProvider for Flaky {
    fn takes_raw_cards(&self) -> bool {
        self.inner.takes_raw_cards()
    }

    async fn card_from_token(&self, token: &CardTokenRef) -> Result<CardToken, TokenRefusal> {
        self.inner.card_from_token(token).await
    }

    async fn tokenize(&self, card: &CardDetails) -> Result<CardToken, Decline> {
        self.inner.tokenize(card).await
    }

    async fn new_customer(&self, owner: &str) -> Result<String, Decline> {
        self.inner.new_customer(owner).await
    }

    async fn attach(
        &self,
        token: &CardTokenRef,
        customer: &str,
    ) -> Result<CardToken, TokenRefusal> {
        self.inner.attach(token, customer).await
    }

    async fn detach(&self, token: &str, customer: &str) -> Result<(), Decline> {
        self.inner.detach(token, customer).await
    }

    async fn open(
        &self,
        token: &str,
        customer: Option<&str>,
        amount: &Money,
        key: &str,
    ) -> Result<ProviderRef, Decline> {
        self.inner.open(token, customer, amount, key).await
    }

    async fn authorize(&self, intent: &str, key: &str) -> Result<Answer, Decline> {
        self.admit(Operation::Authorize)?;
        self.inner.authorize(intent, key).await
    }

    async fn capture(
        &self,
        intent: &str,
        amount: &Money,
        key: &str,
    ) -> Result<ProviderRef, Decline> {
        self.admit(Operation::Capture)?;
        self.inner.capture(intent, amount, key).await
    }

    async fn void(&self, intent: &str, key: &str) -> Result<ProviderRef, Decline> {
        self.admit(Operation::Void)?;
        self.inner.void(intent, key).await
    }

    async fn refund(
        &self,
        intent: &str,
        amount: &Money,
        key: &str,
    ) -> Result<ProviderRef, Decline> {
        self.admit(Operation::Refund)?;
        self.inner.refund(intent, amount, key).await
    }

    async fn lookup(&self, call: &Call<'_>) -> Result<Lookup, Decline> {
        *self.lookups.lock().expect("lookups") += 1;
        if self.mode(call.operation) == Mode::Unreachable {
            return Err(unreachable());
        }
        self.inner.lookup(call).await
    }
}
