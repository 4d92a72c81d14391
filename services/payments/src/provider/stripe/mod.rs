//! Stripe as the card provider: PaymentIntents with manual capture over Stripe's REST
//! API (form-encoded requests, JSON answers read into typed structs), and the lookup
//! of an intent's state that a reconciler asks instead of calling again blindly.
//!
//! Opening creates a PaymentIntent with `capture_method=manual` on the card's
//! PaymentMethod, unconfirmed; authorizing confirms it; capturing captures it
//! (`amount_to_capture`), voiding cancels it, refunding creates a Refund against it.
//! A lookup reads the intent (or its refunds, by the key payments put in their
//! metadata) to tell whether a call whose answer was lost was made. Every POST that moves money
//! carries an `Idempotency-Key` derived from payments' own key, so a call repeated
//! after a crash or a redelivered event gets Stripe's first answer instead of moving
//! money twice. Stripe's error codes become payments' failure reasons: what the card
//! or its issuer refused is a decline (`declined`, `insufficient_funds`, `fraud`,
//! `expired_card`); an outage, a timeout or a request Stripe refused is
//! `provider_error`, which a caller tells apart and may retry with the same key.
//!
//! Cards come from the customer's browser already tokenized by Stripe.js: a
//! PaymentMethod id (`pm_...`) is looked up (`GET /v1/payment_methods/{id}`) for its
//! brand, last four digits and expiry; a single-use token (`tok_...`) is made into a
//! PaymentMethod (`POST /v1/payment_methods` with `card[token]`), or, where that is
//! not supported (localstripe), read (`GET /v1/tokens/{id}`) for the Card it holds
//! (`card_...`), which PaymentIntents take as their payment method too. Raw card
//! numbers are refused before they reach this provider (`takes_raw_cards`). A saved
//! card is attached to the user's Customer (made once per user, holding only payments'
//! user id), and the intents it pays name that Customer, as Stripe requires.
//!
//! No client crate: the maintained ones (async-stripe) generate the whole API and pull
//! a second HTTP stack, for the five calls this needs. The secret key is read only to
//! authenticate a request: it is in no log line, no error and no `Debug` output.

use std::fmt;
use std::time::Duration;

use async_trait::async_trait;
use platform::config::{ExposeSecret, Secret};
use serde::de::{DeserializeOwned, IgnoredAny};
use serde::{Deserialize, Serialize};

use super::{
    Answer, Call, CardToken, Change, Decline, Lookup, Notice, Operation, PaymentProvider,
    ProviderRef, TokenRefusal,
};
use crate::config::StripeConfig;
use crate::domain::{CardDetails, CardTokenRef, FailureReason, Money};

pub mod webhook;
mod wire;

use wire::{
    ApiError, Attach, Capture, CustomerObject, ErrorBody, Failure, Intent, MethodFromToken,
    NewCardMethod, NewCustomer, NewIntent, NewRefund, NewSource, PaymentMethodObject, RefundList,
    RefundObject, TokenObject, brand_of, card_object_id, customer_id, idempotency_key, intent_id,
    is_card_refusal, stripe_amount, unexpected_status,
};

/// The API version every request asks for, so the shape of Stripe's answers does not
/// change with the account's default version (`latest_charge` an id unless expanded,
/// `amount_received` on intents).
const API_VERSION: &str = "2024-06-20";
/// The largest answer read; Stripe's objects are a few kilobytes.
const MAX_BODY_LEN: usize = 1 << 20;

/// Stripe's PaymentIntents as a [`PaymentProvider`].
pub struct StripeProvider {
    client: reqwest::Client,
    /// Without a trailing slash.
    api_base: String,
    secret_key: Secret,
}

impl fmt::Debug for StripeProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StripeProvider")
            .field("api_base", &self.api_base)
            .field("secret_key", &"[REDACTED]")
            .finish_non_exhaustive()
    }
}

/// Why a Stripe provider could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    /// `[payments.stripe]` breaks a rule; the text names the key (never its value
    /// when it is a secret).
    #[error("{0}")]
    Config(String),
    /// The HTTP client could not be built (no TLS backend).
    #[error("cannot build the HTTP client for Stripe")]
    Client(#[source] reqwest::Error),
}

impl StripeProvider {
    /// A provider calling `config.api_base` with `config.secret_key`. Refuses a missing
    /// or non-secret key, a key no HTTP header can carry, a live key over plain HTTP,
    /// an `api_base` that is not an http(s) URL and a zero timeout.
    pub fn from_config(config: &StripeConfig) -> Result<Self, SetupError> {
        let refuse = |reason: &str| Err(SetupError::Config(reason.to_owned()));
        let Some(secret_key) = config
            .secret_key
            .clone()
            .filter(|key| !key.expose_secret().is_empty())
        else {
            return refuse(
                "provider is \"stripe\" but stripe.secret_key is not set \
                 (VISCOUNT_PAYMENTS__STRIPE__SECRET_KEY)",
            );
        };
        let key = secret_key.expose_secret();
        if !key.bytes().all(|b| b.is_ascii_graphic()) {
            return refuse("stripe.secret_key has characters no HTTP header can carry");
        }
        if !(key.starts_with("sk_") || key.starts_with("rk_")) {
            return refuse(
                "stripe.secret_key must be a secret (sk_...) or restricted (rk_...) key; \
                 a publishable key (pk_...) cannot move money",
            );
        }
        let api_base = config.api_base.trim_end_matches('/');
        let url = match reqwest::Url::parse(api_base) {
            Ok(url) if matches!(url.scheme(), "http" | "https") && url.has_host() => url,
            _ => {
                return Err(SetupError::Config(format!(
                    "stripe.api_base {api_base:?} is not an http(s) URL"
                )));
            }
        };
        let live = key.starts_with("sk_live_") || key.starts_with("rk_live_");
        if live && url.scheme() != "https" {
            return Err(SetupError::Config(format!(
                "a live stripe.secret_key is sent only over https, and stripe.api_base is \
                 {api_base:?}"
            )));
        }
        if config.timeout_ms == 0 {
            return refuse("stripe.timeout_ms must be more than 0");
        }
        let timeout = Duration::from_millis(config.timeout_ms);
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            // Stripe never redirects; following one would send the key elsewhere.
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("viscount-payments/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(SetupError::Client)?;
        Ok(Self {
            client,
            api_base: api_base.to_owned(),
            secret_key,
        })
    }

    /// What Stripe says of the PaymentIntent `id` now: its status and amounts. For the
    /// reconciler of a call whose outcome was never recorded: it asks instead of
    /// calling again.
    #[tracing::instrument(name = "stripe payment_intent", skip_all, fields(intent = id))]
    pub async fn payment_intent(&self, id: &str) -> Result<IntentState, Decline> {
        let id = intent_id(id)?;
        let request = self
            .client
            .get(self.url(&format!("/v1/payment_intents/{id}")))
            .query(&[("expand[]", "latest_charge")]);
        let intent: Intent = self.send(request).await.map_err(|f| f.decline())?;
        intent.state()
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.api_base)
    }

    /// POSTs `form` to `path`, with `idempotency_key` when the call moves money.
    async fn post<T: DeserializeOwned>(
        &self,
        path: &str,
        form: &impl Serialize,
        idempotency_key: Option<&str>,
    ) -> Result<T, Failure> {
        let mut request = self.client.post(self.url(path)).form(form);
        if let Some(key) = idempotency_key {
            request = request.header("Idempotency-Key", key);
        }
        self.send(request).await
    }

    async fn send<T: DeserializeOwned>(
        &self,
        request: reqwest::RequestBuilder,
    ) -> Result<T, Failure> {
        let mut response = request
            .bearer_auth(self.secret_key.expose_secret())
            .header("Stripe-Version", API_VERSION)
            .send()
            .await
            .map_err(Failure::transport)?;
        let status = response.status();
        let request_id = response
            .headers()
            .get("request-id")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(Failure::transport)? {
            if body.len() + chunk.len() > MAX_BODY_LEN {
                tracing::warn!(%status, request_id, "stripe's answer is too large");
                return Err(Failure::Unavailable("stripe's answer was too large"));
            }
            body.extend_from_slice(&chunk);
        }
        if status.is_success() {
            return serde_json::from_slice(&body).map_err(|err| {
                tracing::warn!(%status, request_id, error = %err, "stripe's answer does not read");
                Failure::Unavailable("stripe's answer could not be read")
            });
        }
        let error = serde_json::from_slice::<ErrorBody>(&body)
            .map(|b| b.error)
            .unwrap_or_default();
        let (kind, code, decline_code) = (
            error.kind.as_deref(),
            error.code.as_deref(),
            error.decline_code.as_deref(),
        );
        if is_card_refusal(status.as_u16(), kind) {
            tracing::info!(%status, request_id, code, decline_code, "stripe declined the card");
        } else {
            tracing::warn!(
                %status,
                request_id,
                kind,
                code,
                decline_code,
                "stripe refused the request"
            );
        }
        Err(Failure::Api {
            status: status.as_u16(),
            error,
        })
    }

    /// Cancels `id` under payments' `key`; an intent already cancelled (the key
    /// forgotten, or a server that keeps none) counts as cancelled now.
    async fn cancel(&self, id: &str, key: &str) -> Result<ProviderRef, Decline> {
        let key = idempotency_key("void", key);
        let no_fields: [(&str, &str); 0] = [];
        let outcome = self
            .post::<Intent>(
                &format!("/v1/payment_intents/{id}/cancel"),
                &no_fields,
                Some(&key),
            )
            .await;
        match outcome {
            Ok(intent) if intent.status == IntentStatus::Canceled => Ok(ProviderRef(intent.id)),
            Ok(intent) => Err(unexpected_status("cancellation", intent.status)),
            Err(failure) if failure.is_unexpected_state() => {
                let state = self.payment_intent(id).await?;
                if state.status == IntentStatus::Canceled {
                    Ok(ProviderRef(state.id))
                } else {
                    Err(failure.decline())
                }
            }
            Err(failure) => Err(failure.decline()),
        }
    }
}

impl StripeProvider {
    /// A PaymentMethod made from the single-use token `id`; on a server that cannot
    /// (localstripe refuses `card[token]` with a bare 400), the Card the token holds.
    async fn method_from_token(&self, id: &str) -> Result<PaymentMethodObject, TokenRefusal> {
        if let Some(method) = self.made_from_token(id).await? {
            return Ok(method);
        }
        let request = self.client.get(self.url(&format!("/v1/tokens/{id}")));
        let token: TokenObject = self.send(request).await.map_err(|f| f.token_refusal())?;
        token.card.ok_or(TokenRefusal::Unknown)
    }

    /// A PaymentMethod made from the single-use token `id`, or `None` where the server
    /// cannot make one from a token (localstripe).
    async fn made_from_token(&self, id: &str) -> Result<Option<PaymentMethodObject>, TokenRefusal> {
        // No idempotency key: a PaymentMethod moves no money, and a token is used once.
        let made = self
            .post::<PaymentMethodObject>(
                "/v1/payment_methods",
                &MethodFromToken {
                    kind: "card",
                    token: id,
                },
                None,
            )
            .await;
        match made {
            Ok(method) => Ok(Some(method)),
            Err(failure) if failure.is_unsupported() => Ok(None),
            Err(failure) => Err(failure.token_refusal()),
        }
    }

    /// PaymentMethod `id` attached to `customer`: Stripe checks the card with its
    /// issuer, and answers a new PaymentMethod for one of its test ids.
    async fn attach_method(
        &self,
        id: &str,
        customer: &str,
    ) -> Result<PaymentMethodObject, TokenRefusal> {
        self.post(
            &format!("/v1/payment_methods/{id}/attach"),
            &Attach { customer },
            None,
        )
        .await
        .map_err(|f| f.token_refusal())
    }
}

impl StripeProvider {
    /// The refund of intent `id` payments made under `key` (Stripe's key, as in the
    /// refund's metadata), if Stripe has one.
    async fn refund_with_key(&self, id: &str, key: &str) -> Result<Option<RefundObject>, Decline> {
        let mut after: Option<String> = None;
        loop {
            let mut query = vec![
                ("payment_intent", id.to_owned()),
                ("limit", "100".to_owned()),
            ];
            if let Some(last) = &after {
                query.push(("starting_after", last.clone()));
            }
            let request = self.client.get(self.url("/v1/refunds")).query(&query);
            let page: RefundList = self.send(request).await.map_err(|f| f.decline())?;
            let last = page.data.last().map(|r| r.id.clone());
            if let Some(found) = page
                .data
                .into_iter()
                .find(|r| r.metadata.viscount_idempotency_key.as_deref() == Some(key))
            {
                return Ok(Some(found));
            }
            match last {
                Some(last) if page.has_more => after = Some(last),
                _ => return Ok(None),
            }
        }
    }
}

/// What an intent's state says of `call`.
fn intent_lookup(call: &Call<'_>, state: IntentState) -> Result<Lookup, Decline> {
    use IntentStatus::*;
    let refused = |detail: &str| Lookup::Refused(Decline::new(FailureReason::Declined, detail));
    Ok(match (call.operation, state.status) {
        (Operation::Authorize, RequiresCapture | Succeeded) => Lookup::Made(ProviderRef(state.id)),
        (Operation::Authorize, RequiresConfirmation) => Lookup::NotMade,
        (Operation::Authorize, RequiresPaymentMethod) => Lookup::Refused(
            state
                .last_failure
                .unwrap_or_else(|| Decline::new(FailureReason::Declined, "the card was declined")),
        ),
        (Operation::Authorize, Canceled) => refused("the intent was cancelled at stripe"),
        (Operation::Capture, Succeeded) if state.captured == *call.amount => {
            Lookup::Made(ProviderRef(state.charge.unwrap_or(state.id)))
        }
        (Operation::Capture, RequiresCapture) => Lookup::NotMade,
        (Operation::Capture, Succeeded | Canceled) => {
            refused("the intent was captured otherwise or cancelled at stripe")
        }
        (Operation::Void, Canceled) => Lookup::Made(ProviderRef(state.id)),
        (
            Operation::Void,
            RequiresCapture | RequiresConfirmation | RequiresPaymentMethod | RequiresAction,
        ) => Lookup::NotMade,
        (Operation::Void, Succeeded) => refused("the intent was captured at stripe"),
        // Between answers (processing, waiting for the customer) or a status this
        // version does not know: ask again later.
        (_, status) => return Err(unexpected_status("lookup", status)),
    })
}

#[async_trait]
impl PaymentProvider for StripeProvider {
    /// Never: card numbers are tokenized in the browser by Stripe.js, and Viscount
    /// does not handle them with Stripe.
    fn takes_raw_cards(&self) -> bool {
        false
    }

    #[tracing::instrument(name = "stripe card_from_token", skip_all)]
    async fn card_from_token(&self, token: &CardTokenRef) -> Result<CardToken, TokenRefusal> {
        let id = card_object_id(token.as_str()).ok_or(TokenRefusal::Unknown)?;
        let method = if id.starts_with("tok_") {
            self.method_from_token(id).await?
        } else {
            let request = self
                .client
                .get(self.url(&format!("/v1/payment_methods/{id}")));
            self.send::<PaymentMethodObject>(request)
                .await
                .map_err(|f| f.token_refusal())?
        };
        Ok(method.card_token()?)
    }

    /// Creates a PaymentMethod from the raw card: only for Stripe accounts allowed to
    /// send card numbers (and localstripe); a browser tokenizing with Stripe.js is
    /// the way for a live shop.
    #[tracing::instrument(name = "stripe tokenize", skip_all)]
    async fn tokenize(&self, card: &CardDetails) -> Result<CardToken, Decline> {
        // No idempotency key: a PaymentMethod made twice moves no money.
        let method: PaymentMethodObject = self
            .post(
                "/v1/payment_methods",
                &NewCardMethod {
                    kind: "card",
                    number: card.number.digits(),
                    exp_month: card.expiry.month,
                    exp_year: card.expiry.year,
                    cvc: card.cvc.digits(),
                },
                None,
            )
            .await
            .map_err(|f| f.decline())?;
        // Stripe's brand is the network that routes the card; ours is read from the
        // number, for the brands Stripe names otherwise (diners, jcb, unionpay…). The
        // last four digits and the expiry are the ones just sent.
        let brand = method
            .card
            .as_ref()
            .and_then(|c| brand_of(&c.brand))
            .unwrap_or_else(|| card.number.brand());
        Ok(CardToken {
            token: method.id,
            brand,
            last4: card.number.last4().to_owned(),
            exp_month: card.expiry.month,
            exp_year: card.expiry.year,
        })
    }

    #[tracing::instrument(name = "stripe new_customer", skip_all)]
    async fn new_customer(&self, owner: &str) -> Result<String, Decline> {
        let key = self::idempotency_key("customer", owner);
        let customer: CustomerObject = self
            .post("/v1/customers", &NewCustomer { owner }, Some(&key))
            .await
            .map_err(|f| f.decline())?;
        Ok(customer.id)
    }

    /// A PaymentMethod (`pm_...`) is attached to the customer; a token (`tok_...`) is
    /// made a PaymentMethod and attached, or, where that is not supported
    /// (localstripe), kept as the customer's Card (`POST /v1/customers/{id}/sources`).
    /// A bare Card (`card_...`) cannot be attached after the fact.
    #[tracing::instrument(name = "stripe attach", skip_all)]
    async fn attach(
        &self,
        token: &CardTokenRef,
        customer: &str,
    ) -> Result<CardToken, TokenRefusal> {
        let customer = customer_id(customer)?;
        let id = card_object_id(token.as_str()).ok_or(TokenRefusal::Unknown)?;
        let method = if id.starts_with("pm_") {
            self.attach_method(id, customer).await?
        } else if id.starts_with("tok_") {
            match self.made_from_token(id).await? {
                Some(method) => self.attach_method(&method.id, customer).await?,
                None => self
                    .post::<PaymentMethodObject>(
                        &format!("/v1/customers/{customer}/sources"),
                        &NewSource { source: id },
                        None,
                    )
                    .await
                    .map_err(|f| f.token_refusal())?,
            }
        } else {
            return Err(TokenRefusal::Unknown);
        };
        Ok(method.card_token()?)
    }

    /// Detaching what is already gone at Stripe is done.
    #[tracing::instrument(name = "stripe detach", skip_all)]
    async fn detach(&self, token: &str, customer: &str) -> Result<(), Decline> {
        let customer = customer_id(customer)?;
        let detached = match card_object_id(token) {
            Some(id) if id.starts_with("pm_") => {
                self.post::<IgnoredAny>(
                    &format!("/v1/payment_methods/{id}/detach"),
                    &Vec::<(&str, &str)>::new(),
                    None,
                )
                .await
            }
            Some(id) if id.starts_with("card_") => {
                let request = self
                    .client
                    .delete(self.url(&format!("/v1/customers/{customer}/sources/{id}")));
                self.send::<IgnoredAny>(request).await
            }
            _ => {
                return Err(Decline::new(
                    FailureReason::ProviderError,
                    "no such stripe payment method",
                ));
            }
        };
        match detached {
            Err(failure) if !failure.is_missing() => Err(failure.decline()),
            _ => Ok(()),
        }
    }

    #[tracing::instrument(name = "stripe open", skip_all)]
    async fn open(
        &self,
        token: &str,
        customer: Option<&str>,
        amount: &Money,
        idempotency_key: &str,
    ) -> Result<ProviderRef, Decline> {
        let (minor, currency) = stripe_amount(amount)?;
        let key = self::idempotency_key("open", idempotency_key);
        let intent: Intent = self
            .post(
                "/v1/payment_intents",
                &NewIntent {
                    amount: minor,
                    currency: &currency,
                    payment_method: token,
                    customer: customer.map(customer_id).transpose()?,
                    capture_method: "manual",
                    confirm: false,
                    // Only cards: no payment method that needs a redirect (and so a
                    // `return_url`) is offered.
                    method_type: "card",
                    key: &key,
                },
                Some(&key),
            )
            .await
            .map_err(|f| f.decline())?;
        Ok(ProviderRef(intent.id))
    }

    #[tracing::instrument(name = "stripe authorize", skip_all, fields(intent = intent))]
    async fn authorize(&self, intent: &str, idempotency_key: &str) -> Result<Answer, Decline> {
        let id = intent_id(intent)?;
        let key = self::idempotency_key("authorize", idempotency_key);
        let no_fields: [(&str, &str); 0] = [];
        let intent: Intent = self
            .post(
                &format!("/v1/payment_intents/{id}/confirm"),
                &no_fields,
                Some(&key),
            )
            .await
            .map_err(|f| f.decline())?;
        match intent.status {
            IntentStatus::RequiresCapture => Ok(Answer::Done(ProviderRef(intent.id))),
            IntentStatus::RequiresAction => match intent.client_secret {
                // 3-D Secure: the customer authenticates in their browser; Stripe's
                // webhook (or the reconciler's lookup) tells how it went.
                Some(client_secret) => Ok(Answer::AwaitsCustomer { client_secret }),
                None => Err(Decline::new(
                    FailureReason::ProviderError,
                    "stripe asked for the customer's action without a client secret",
                )),
            },
            IntentStatus::RequiresPaymentMethod => {
                Err(intent.last_payment_error.as_ref().map_or_else(
                    || Decline::new(FailureReason::Declined, "the card was declined"),
                    ApiError::card_decline,
                ))
            }
            other => {
                // Only a Stripe that ignored `capture_method=manual` answers so: the
                // money may have moved, which an operator has to look at.
                tracing::error!(
                    intent = intent.id,
                    status = ?other,
                    "stripe answered an authorization with an unexpected status"
                );
                Err(unexpected_status("authorization", other))
            }
        }
    }

    #[tracing::instrument(name = "stripe capture", skip_all, fields(intent = authorization))]
    async fn capture(
        &self,
        authorization: &str,
        amount: &Money,
        idempotency_key: &str,
    ) -> Result<ProviderRef, Decline> {
        let id = intent_id(authorization)?;
        let (minor, _) = stripe_amount(amount)?;
        let key = self::idempotency_key("capture", idempotency_key);
        let outcome = self
            .post::<Intent>(
                &format!("/v1/payment_intents/{id}/capture"),
                &Capture {
                    amount_to_capture: minor,
                },
                Some(&key),
            )
            .await;
        match outcome {
            Ok(intent) if intent.status == IntentStatus::Succeeded => {
                Ok(ProviderRef(intent.charge_id().unwrap_or(intent.id)))
            }
            Ok(intent) => Err(unexpected_status("capture", intent.status)),
            Err(failure) if failure.is_unexpected_state() => {
                // Stripe forgets idempotency keys after a day (and a compatible server
                // may keep none): a capture already made reads as a refused request.
                // What the intent says decides, never a second capture.
                let state = self.payment_intent(id).await?;
                if state.status == IntentStatus::Succeeded && state.captured == *amount {
                    Ok(ProviderRef(state.charge.unwrap_or(state.id)))
                } else {
                    Err(failure.decline())
                }
            }
            Err(failure) => Err(failure.decline()),
        }
    }

    #[tracing::instrument(name = "stripe void", skip_all, fields(intent = authorization))]
    async fn void(
        &self,
        authorization: &str,
        idempotency_key: &str,
    ) -> Result<ProviderRef, Decline> {
        let id = intent_id(authorization)?;
        self.cancel(id, idempotency_key).await
    }

    #[tracing::instrument(name = "stripe refund", skip_all, fields(intent = authorization))]
    async fn refund(
        &self,
        authorization: &str,
        amount: &Money,
        idempotency_key: &str,
    ) -> Result<ProviderRef, Decline> {
        let id = intent_id(authorization)?;
        let (minor, _) = stripe_amount(amount)?;
        let key = self::idempotency_key("refund", idempotency_key);
        let refund: RefundObject = self
            .post(
                "/v1/refunds",
                &NewRefund {
                    payment_intent: id,
                    amount: minor,
                    key: &key,
                },
                Some(&key),
            )
            .await
            .map_err(|f| f.decline())?;
        match refund.status.as_deref() {
            // A card refund is `pending` until the network confirms it; it is made.
            None | Some("succeeded" | "pending") => Ok(ProviderRef(refund.id)),
            Some(status) => {
                tracing::warn!(refund = refund.id, status, "stripe did not make the refund");
                Err(Decline::new(
                    FailureReason::ProviderError,
                    "stripe did not make the refund",
                ))
            }
        }
    }

    #[tracing::instrument(name = "stripe lookup", skip_all, fields(intent = call.intent, operation = call.operation.as_str()))]
    async fn lookup(&self, call: &Call<'_>) -> Result<Lookup, Decline> {
        let id = intent_id(call.intent)?;
        if call.operation == Operation::Refund {
            let key = self::idempotency_key("refund", call.key);
            return Ok(match self.refund_with_key(id, &key).await? {
                // A card refund is `pending` until the network confirms it; it is made.
                Some(refund)
                    if matches!(
                        refund.status.as_deref(),
                        None | Some("succeeded" | "pending")
                    ) =>
                {
                    Lookup::Made(ProviderRef(refund.id))
                }
                Some(_) => Lookup::Refused(Decline::new(
                    FailureReason::ProviderError,
                    "stripe did not make the refund",
                )),
                None => Lookup::NotMade,
            });
        }
        let state = self.payment_intent(id).await?;
        intent_lookup(call, state)
    }
}

/// Where a PaymentIntent is, as Stripe names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IntentStatus {
    /// No payment method, or the last one failed.
    RequiresPaymentMethod,
    /// Waiting to be confirmed.
    RequiresConfirmation,
    /// The customer has to act (3-D Secure).
    RequiresAction,
    /// Being processed.
    Processing,
    /// Authorized: the amount is held, waiting for its capture.
    RequiresCapture,
    /// Cancelled: nothing held, nothing moved.
    Canceled,
    /// Captured: the money moved.
    Succeeded,
    /// A status this version does not know.
    #[serde(other)]
    Unknown,
}

/// A PaymentIntent's state at Stripe.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IntentState {
    /// The intent (`pi_...`).
    pub id: String,
    /// Where it is.
    pub status: IntentStatus,
    /// The amount it was created for.
    pub amount: Money,
    /// What can still be captured.
    pub capturable: Money,
    /// What was captured (`amount_received`; a server without it: the captured
    /// charge's amount).
    pub captured: Money,
    /// What went back, as the intent's charge counts it.
    pub refunded: Money,
    /// The intent's charge (`ch_...`), once it has one.
    pub charge: Option<String>,
    /// Why the last attempt failed, when it did.
    pub last_failure: Option<Decline>,
}

#[cfg(test)]
mod tests;
