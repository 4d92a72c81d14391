//! A webhook delivery, from its raw bytes to a stored attribution event (or a dead
//! one): the source is looked up, the signature verified over the raw body before
//! anything is parsed, the payload stripped to its allow-list, normalized, classified
//! by the tenant's taxonomy, and stored with its event in one transaction. A repeated
//! provider event stores nothing new (the table is unique by it, so two copies
//! arriving at once store one).

use std::sync::Arc;

use tracing::field::Empty;

use super::writer::Written;
use super::{IngestionApp, IngestionError};
use crate::domain::event::{AttributionEvent, DeadEvent, Origin};
use crate::domain::normalize::{self, Normalized};
use crate::domain::payload::{self, CustomerRefKey, StrippedPayload};
use crate::domain::signature::{self, Headers};
use crate::domain::source::{Credentials, Source};
use crate::domain::{Topic, pii};
use crate::store;

/// What became of a delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Receipt {
    /// Stored as this attribution event.
    Stored(String),
    /// The tenant already had this provider event (stored as this one).
    Duplicate(String),
    /// Signed correctly but not usable: kept as this dead event, for this reason.
    Dead {
        /// The dead event.
        id: String,
        /// Why.
        reason: String,
    },
}

/// The answer to every delivery that is not from a configured source: unknown tenant
/// and unconfigured provider read alike, so a caller cannot learn which tenants exist.
const NOT_A_SOURCE: &str = "no source is configured for this tenant and provider";

/// What normalizing a stripped payload came to.
enum Outcome {
    Event(Box<Normalized>, contracts::ingestion::Channel),
    Unusable(String),
}

impl IngestionApp {
    /// Takes one delivery of `topic` for `tenant_id`.
    #[tracing::instrument(
        skip_all,
        fields(provider = topic.provider().as_str(), topic = topic.path(), tenant_id = Empty, outcome = Empty),
        err(level = "info")
    )]
    pub async fn receive_webhook(
        &self,
        topic: Topic,
        tenant_id: Option<&str>,
        headers: &(dyn Headers + Sync),
        body: &[u8],
    ) -> Result<Receipt, IngestionError> {
        let outcome = self.receive(topic, tenant_id, headers, body).await;
        crate::metrics::webhook(topic.provider(), &outcome);
        outcome
    }

    async fn receive(
        &self,
        topic: Topic,
        tenant_id: Option<&str>,
        headers: &(dyn Headers + Sync),
        body: &[u8],
    ) -> Result<Receipt, IngestionError> {
        // The built-in tenant reads like an unconfigured source (even should a source
        // row for it exist): its revenue is Viscount's own orders only.
        let tenant_id = tenant_id
            .filter(|id| super::sources::takes_webhooks(id))
            .ok_or_else(|| IngestionError::Unauthorized(NOT_A_SOURCE.into()))?;
        tracing::Span::current().record("tenant_id", tenant_id);
        let source = self
            .source(tenant_id, topic.provider())
            .await?
            .ok_or_else(|| IngestionError::Unauthorized(NOT_A_SOURCE.into()))?;
        let fetched = self.certificate_for(&source, headers).await?;
        let key = source
            .credentials
            .key(fetched.as_deref().map(String::as_str))
            .ok_or_else(|| {
                IngestionError::Unauthorized("the source has no PayPal certificate".into())
            })?;
        let verified =
            signature::verify(topic.provider(), key, headers, body, self.clock.now_secs())
                .map_err(|err| IngestionError::Unauthorized(err.to_string()))?;

        let ref_key = self.ref_key(tenant_id).await?;
        let receipt = match payload::strip(topic, verified.delivery_id.as_deref(), body, &ref_key) {
            Err(malformed) => {
                self.bury(tenant_id, topic, malformed.event_id, None, malformed.reason)
                    .await?
            }
            Ok(stripped) => self.take(tenant_id, stripped).await?,
        };
        tracing::Span::current().record(
            "outcome",
            match &receipt {
                Receipt::Stored(_) => "stored",
                Receipt::Duplicate(_) => "duplicate",
                Receipt::Dead { .. } => "dead",
            },
        );
        Ok(receipt)
    }

    /// Normalizes, classifies and stores a stripped payload (a delivery's, or a dead
    /// event's on replay); what cannot be is kept dead.
    pub(crate) async fn take(
        &self,
        tenant_id: &str,
        stripped: StrippedPayload,
    ) -> Result<Receipt, IngestionError> {
        match self.outcome(tenant_id, &stripped).await? {
            Outcome::Event(normalized, channel) => {
                let event = AttributionEvent {
                    id: platform::ids::new_id(),
                    tenant_id: tenant_id.to_owned(),
                    origin: Origin::Webhook(stripped.topic),
                    normalized: *normalized,
                    channel,
                    received_at: self.clock.now_millis(),
                };
                self.store_event(stripped.topic, event).await
            }
            Outcome::Unusable(reason) => {
                // A later delivery of an event already stored (the taxonomy changed in
                // between) is a repeat, not a new dead event.
                if let Some(id) = store::event_id_for(
                    self.db.reader(),
                    tenant_id,
                    stripped.topic.provider(),
                    &stripped.event_id,
                )
                .await?
                {
                    return Ok(Receipt::Duplicate(id));
                }
                let StrippedPayload {
                    topic,
                    event_id,
                    body,
                } = stripped;
                self.bury(tenant_id, topic, event_id, Some(body), reason)
                    .await
            }
        }
    }

    async fn outcome(
        &self,
        tenant_id: &str,
        stripped: &StrippedPayload,
    ) -> Result<Outcome, IngestionError> {
        let normalized = match normalize::normalize(stripped) {
            Ok(normalized) => normalized,
            Err(unusable) => return Ok(Outcome::Unusable(unusable.reason)),
        };
        let taxonomy = self.taxonomy_in_force(tenant_id).await?;
        Ok(match taxonomy.classify(&normalized.channel_fields) {
            Some(channel) => Outcome::Event(Box::new(normalized), channel),
            None => Outcome::Unusable("no rule of the tenant's channel taxonomy matches".into()),
        })
    }

    /// Stores `event`, delivered by a webhook of `topic`, with its bus event (resolving
    /// a dead event of the same provider event) through the batching writer; a row the
    /// guard refuses is kept dead without its payload.
    async fn store_event(
        &self,
        topic: Topic,
        event: AttributionEvent,
    ) -> Result<Receipt, IngestionError> {
        match self.writer.write(event.clone()).await? {
            Written::Stored => Ok(Receipt::Stored(event.id)),
            Written::Duplicate => {
                let id = store::event_id_for(
                    self.db.reader(),
                    &event.tenant_id,
                    event.provider(),
                    &event.normalized.provider_event_id,
                )
                .await?
                .unwrap_or_default();
                Ok(Receipt::Duplicate(id))
            }
            Written::Refused(found) => {
                tracing::warn!(
                    table = found.table,
                    column = found.column,
                    kind = found.kind.as_str(),
                    "the store refused personal data that passed the allow-list"
                );
                self.bury(
                    &event.tenant_id,
                    topic,
                    event.normalized.provider_event_id.clone(),
                    None,
                    format!(
                        "personal data ({}) in `{}`",
                        found.kind.as_str(),
                        found.column
                    ),
                )
                .await
            }
        }
    }

    /// Keeps a dead event (or counts a repeated delivery of one).
    async fn bury(
        &self,
        tenant_id: &str,
        topic: Topic,
        provider_event_id: String,
        payload: Option<serde_json::Value>,
        reason: String,
    ) -> Result<Receipt, IngestionError> {
        // The reason names fields; should a provider value ever reach it, it is
        // redacted like a log line.
        let reason = pii::redact(&reason);
        let dead = DeadEvent {
            id: platform::ids::new_id(),
            tenant_id: tenant_id.to_owned(),
            topic,
            provider_event_id,
            payload,
            reason,
            deliveries: 1,
            received_at: self.clock.now_millis(),
            resolution: None,
        };
        let mut tx = self.db.begin().await?;
        let id = match store::upsert_dead_event(&mut tx, &dead).await {
            Ok(id) => id,
            // The stripped payload itself holds what the guard refuses: keep the
            // reason, never the payload.
            Err(store::StoreError::PersonalData(found)) if dead.payload.is_some() => {
                drop(tx);
                tx = self.db.begin().await?;
                let without_payload = DeadEvent {
                    payload: None,
                    reason: format!(
                        "{}; the payload held personal data ({}) in `{}` and was not kept",
                        dead.reason,
                        found.kind.as_str(),
                        found.column
                    ),
                    ..dead.clone()
                };
                store::upsert_dead_event(&mut tx, &without_payload).await?
            }
            Err(err) => return Err(err.into()),
        };
        tx.commit().await?;
        Ok(Receipt::Dead {
            id,
            reason: dead.reason,
        })
    }

    /// The tenant's source for `provider`, from memory when read recently.
    pub(crate) async fn source(
        &self,
        tenant_id: &str,
        provider: contracts::ingestion::Provider,
    ) -> Result<Option<Arc<Source>>, IngestionError> {
        if let Some(source) = self.cache.source(tenant_id, provider) {
            return Ok(source);
        }
        let source = store::source(self.db.reader(), tenant_id, provider)
            .await?
            .map(Arc::new);
        self.cache.put_source(tenant_id, provider, source.clone());
        Ok(source)
    }

    /// The tenant's hashing key (made with its first source or touchpoint).
    pub(crate) async fn ref_key(
        &self,
        tenant_id: &str,
    ) -> Result<Arc<CustomerRefKey>, IngestionError> {
        if let Some(key) = self.cache.key(tenant_id) {
            return Ok(key);
        }
        let key = match store::tenant_key(self.db.reader(), tenant_id).await? {
            Some(key) => key,
            None => {
                let fresh = CustomerRefKey::generate().map_err(|_| {
                    IngestionError::Port(crate::domain::ports::PortError::Unavailable(
                        "the system's random number generator",
                    ))
                })?;
                let mut tx = self.db.begin().await?;
                let key = store::ensure_tenant(&mut tx, tenant_id, &fresh, self.clock.now_millis())
                    .await?;
                tx.commit().await?;
                key
            }
        };
        let key = Arc::new(key);
        self.cache.put_key(tenant_id, key.clone());
        Ok(key)
    }

    /// The certificate to verify a PayPal delivery with when the source stores none:
    /// fetched from `PAYPAL-CERT-URL`, only when configured and only from PayPal.
    async fn certificate_for(
        &self,
        source: &Source,
        headers: &(dyn Headers + Sync),
    ) -> Result<Option<Arc<String>>, IngestionError> {
        let Credentials::Paypal {
            certificate_pem: None,
            ..
        } = &source.credentials
        else {
            return Ok(None);
        };
        if !self.config.paypal_fetch_certificates {
            return Ok(None);
        }
        let url = headers.header("paypal-cert-url").ok_or_else(|| {
            IngestionError::Unauthorized("missing header `PAYPAL-CERT-URL`".into())
        })?;
        if !signature::paypal_certificate_url_allowed(url) {
            return Err(IngestionError::Unauthorized(
                "`PAYPAL-CERT-URL` is not one of PayPal's certificate addresses".into(),
            ));
        }
        if let Some(pem) = self.cache.certificate(url) {
            return Ok(Some(pem));
        }
        let pem = match self.certificates.certificate(url).await {
            Ok(pem) => Arc::new(pem),
            // What PayPal's address answered is not a certificate: the delivery cannot
            // be verified. (PayPal being unreachable stays a 503: it delivers again.)
            Err(crate::domain::ports::PortError::Refused(why)) => {
                return Err(IngestionError::Unauthorized(why));
            }
            Err(err) => return Err(err.into()),
        };
        self.cache.put_certificate(url, pem.clone());
        Ok(Some(pem))
    }
}
