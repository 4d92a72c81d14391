//! The channel adapters, one [`Courier`] per technology: [`SmtpCourier`] (email over
//! SMTP: lettre builds the message and speaks the protocol over our own connection
//! pool, `crate::smtp`), [`WebhookCourier`] (SMS and push through a provider-neutral JSON
//! webhook, optionally HMAC-signed) and [`LocalOutbox`] (a channel whose transport is
//! not configured: the message stays in the database, visible through the API, so
//! nothing is silently dropped).

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use hmac::{Hmac, Mac};
use lettre::Message;
use lettre::message::header::ContentType;
use lettre::message::{Attachment as MailAttachment, Mailbox, MultiPart, SinglePart};
use platform::config::ExposeSecret;
use sha2::Sha256;

use crate::config::{SmtpConfig, WebhookConfig};
use crate::domain::{
    Attachment, Channel, Courier, DeliveryError, OCTET_STREAM, Outgoing, Transport,
};
use crate::smtp::{SmtpConfigError, SmtpError, SmtpPool};

/// Header carrying a webhook body's signature: `t=<unix seconds>,v1=<hex HMAC-SHA256 of
/// "<t>.<body>">`.
pub const SIGNATURE_HEADER: &str = "x-viscount-signature";

/// Why a channel's configuration cannot be used.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ChannelConfigError(pub String);

impl From<SmtpConfigError> for ChannelConfigError {
    fn from(err: SmtpConfigError) -> Self {
        Self(err.0)
    }
}

/// The courier of each channel.
#[derive(Clone)]
pub struct Couriers {
    email: Arc<dyn Courier>,
    sms: Arc<dyn Courier>,
    push: Arc<dyn Courier>,
}

impl std::fmt::Debug for Couriers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Couriers")
            .field("email", &self.email.transport().as_str())
            .field("sms", &self.sms.transport().as_str())
            .field("push", &self.push.transport().as_str())
            .finish()
    }
}

impl Couriers {
    /// Couriers from configuration: a channel without its transport configured uses the
    /// local outbox.
    pub fn from_config(
        smtp: Option<&SmtpConfig>,
        sms: Option<&WebhookConfig>,
        push: Option<&WebhookConfig>,
        concurrency: usize,
    ) -> Result<Self, ChannelConfigError> {
        let outbox: Arc<dyn Courier> = Arc::new(LocalOutbox);
        let email: Arc<dyn Courier> = match smtp {
            Some(config) => Arc::new(SmtpCourier::new(config, concurrency)?),
            None => outbox.clone(),
        };
        let webhook = |config: Option<&WebhookConfig>,
                       name: &str|
         -> Result<Arc<dyn Courier>, ChannelConfigError> {
            Ok(match config {
                Some(config) => Arc::new(WebhookCourier::new(config, name)?),
                None => outbox.clone(),
            })
        };
        Ok(Self {
            email,
            sms: webhook(sms, "sms")?,
            push: webhook(push, "push")?,
        })
    }

    /// The courier of `channel`.
    pub fn of(&self, channel: Channel) -> &Arc<dyn Courier> {
        match channel {
            Channel::Email => &self.email,
            Channel::Sms => &self.sms,
            Channel::Push => &self.push,
        }
    }
}

/// Keeps the message where it is: the stored row, marked sent through `outbox`, is the
/// delivery, readable at `GET /api/v1/notifications/outbox`.
#[derive(Debug, Clone, Copy)]
pub struct LocalOutbox;

#[async_trait]
impl Courier for LocalOutbox {
    async fn deliver(&self, message: &Outgoing) -> Result<(), DeliveryError> {
        // Debug, not info: the sender logs every delivery with its transport already.
        tracing::debug!(
            notification_id = %message.id,
            channel = message.channel.as_str(),
            "channel not configured; message kept in the local outbox"
        );
        Ok(())
    }

    fn transport(&self) -> Transport {
        Transport::Outbox
    }
}

/// Email over SMTP, through our own connection pool (see [`crate::smtp`]).
pub struct SmtpCourier {
    pool: SmtpPool,
    from: Mailbox,
    /// Bound on one whole delivery (connect, TLS, every command), on top of the pool's
    /// per-step timeout.
    deadline: Duration,
}

impl SmtpCourier {
    /// A courier for the server in `config`, keeping up to `concurrency` connections
    /// open between messages.
    pub fn new(config: &SmtpConfig, concurrency: usize) -> Result<Self, ChannelConfigError> {
        if config.host.trim().is_empty() {
            return Err(ChannelConfigError(
                "notifications.smtp.host must be set".into(),
            ));
        }
        let from: Mailbox = config.from.parse().map_err(|_| {
            ChannelConfigError(format!(
                "notifications.smtp.from is not a mailbox: {}",
                config.from
            ))
        })?;
        let timeout = Duration::from_millis(config.timeout_ms.max(1));
        Ok(Self {
            pool: SmtpPool::new(config, concurrency)?,
            from,
            deadline: timeout.saturating_mul(4),
        })
    }

    fn message(&self, outgoing: &Outgoing) -> Result<Message, DeliveryError> {
        let to: Mailbox = outgoing.to.parse().map_err(|_| {
            DeliveryError::Permanent(format!("not a deliverable address: {}", outgoing.to))
        })?;
        let builder = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(outgoing.subject.clone().unwrap_or_default())
            .message_id(Some(format!("<{}@viscount>", outgoing.id)));
        let text = match &outgoing.html {
            Some(html) => Text::Alternative(MultiPart::alternative_plain_html(
                outgoing.body.clone(),
                html.clone(),
            )),
            None => Text::Plain(SinglePart::plain(outgoing.body.clone())),
        };
        let built = if outgoing.attachments.is_empty() {
            match text {
                Text::Alternative(parts) => builder.multipart(parts),
                Text::Plain(part) => builder.singlepart(part),
            }
        } else {
            // multipart/mixed: the text first, then each file as an attachment.
            let mut mixed = match text {
                Text::Alternative(parts) => MultiPart::mixed().multipart(parts),
                Text::Plain(part) => MultiPart::mixed().singlepart(part),
            };
            for file in &outgoing.attachments {
                mixed = mixed.singlepart(attachment(file)?);
            }
            builder.multipart(mixed)
        };
        built.map_err(|err| DeliveryError::Permanent(format!("cannot build the email: {err}")))
    }
}

/// An email's text: plain, or plain and HTML as alternatives.
enum Text {
    Plain(SinglePart),
    Alternative(MultiPart),
}

/// `file` as a MIME part. Its bytes go in as binary, which lettre always encodes as
/// base64, so they arrive exactly as they were (no line-ending rewrites of a CSV).
fn attachment(file: &Attachment) -> Result<SinglePart, DeliveryError> {
    let content_type = ContentType::parse(file.content_type())
        .or_else(|_| ContentType::parse(OCTET_STREAM))
        .map_err(|err| DeliveryError::Permanent(format!("cannot type the attachment: {err}")))?;
    Ok(
        MailAttachment::new(file.file_name().to_owned())
            .body(file.content().to_vec(), content_type),
    )
}

#[async_trait]
impl Courier for SmtpCourier {
    async fn deliver(&self, outgoing: &Outgoing) -> Result<(), DeliveryError> {
        let message = self.message(outgoing)?;
        let formatted = message.formatted();
        let sent = self.pool.send(message.envelope(), &formatted);
        match tokio::time::timeout(self.deadline, sent).await {
            Ok(Ok(_)) => Ok(()),
            // 5xx replies (unknown mailbox, policy) will not change on retry; anything
            // else (4xx, connection, TLS, timeouts) may.
            Ok(Err(err)) if err.is_permanent() => Err(DeliveryError::Permanent(smtp_error(&err))),
            Ok(Err(err)) => Err(DeliveryError::Transient(smtp_error(&err))),
            Err(_) => Err(DeliveryError::Transient("smtp: timed out".into())),
        }
    }

    fn transport(&self) -> Transport {
        Transport::Smtp
    }
}

/// The error with its causes (lettre puts the server's reply in the chain).
fn smtp_error(err: &SmtpError) -> String {
    format!("smtp: {}", platform::telemetry::error_chain(err))
}

/// SMS or push through a provider's webhook: `POST <url>` with
/// `{id, channel, to, subject, body}`; any 2xx is acceptance.
pub struct WebhookCourier {
    client: reqwest::Client,
    url: reqwest::Url,
    secret: Option<String>,
}

impl WebhookCourier {
    /// A courier posting to `config.url`; `name` names the channel in errors.
    pub fn new(config: &WebhookConfig, name: &str) -> Result<Self, ChannelConfigError> {
        let url = reqwest::Url::parse(config.url.trim())
            .ok()
            .filter(|u| matches!(u.scheme(), "http" | "https"))
            .ok_or_else(|| {
                ChannelConfigError(format!("notifications.{name}.url must be an http(s) URL"))
            })?;
        let client = reqwest::Client::builder()
            .timeout(Duration::from_millis(config.timeout_ms.max(1)))
            .connect_timeout(Duration::from_secs(5))
            .build()
            .map_err(|err| ChannelConfigError(format!("notifications.{name}: {err}")))?;
        Ok(Self {
            client,
            url,
            secret: config.secret.as_ref().map(|s| s.expose_secret().to_owned()),
        })
    }
}

/// `t=<t>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`.
pub fn signature(secret: &str, timestamp: i64, body: &[u8]) -> String {
    // HMAC accepts keys of any length, so this cannot fail.
    let mut mac = match Hmac::<Sha256>::new_from_slice(secret.as_bytes()) {
        Ok(mac) => mac,
        Err(_) => return String::new(),
    };
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!(
        "t={timestamp},v1={}",
        data_encoding::HEXLOWER.encode(&mac.finalize().into_bytes())
    )
}

#[async_trait]
impl Courier for WebhookCourier {
    async fn deliver(&self, outgoing: &Outgoing) -> Result<(), DeliveryError> {
        let body = serde_json::to_vec(&serde_json::json!({
            "id": outgoing.id,
            "channel": outgoing.channel.as_str(),
            "to": outgoing.to,
            "subject": outgoing.subject,
            "body": outgoing.body,
        }))
        .map_err(|err| DeliveryError::Permanent(format!("cannot encode the message: {err}")))?;
        let mut request = self
            .client
            .post(self.url.clone())
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            // Lets the provider drop a retry of a message it already accepted.
            .header("idempotency-key", outgoing.id.as_str());
        if let Some(secret) = &self.secret {
            request = request.header(
                SIGNATURE_HEADER,
                signature(secret, platform::time::now_millis() / 1000, &body),
            );
        }
        let response = request.body(body).send().await.map_err(|err| {
            DeliveryError::Transient(format!(
                "webhook: {}",
                platform::telemetry::error_chain(&err)
            ))
        })?;
        let status = response.status();
        if status.is_success() {
            return Ok(());
        }
        let text = format!("webhook answered {status}");
        if status.is_server_error()
            || status == reqwest::StatusCode::TOO_MANY_REQUESTS
            || status == reqwest::StatusCode::REQUEST_TIMEOUT
        {
            Err(DeliveryError::Transient(text))
        } else {
            Err(DeliveryError::Permanent(text))
        }
    }

    fn transport(&self) -> Transport {
        Transport::Webhook
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::TlsMode;

    #[test]
    fn signatures_cover_time_and_body() {
        let a = signature("secret", 1_700_000_000, b"{}");
        assert!(a.starts_with("t=1700000000,v1="), "{a}");
        assert_eq!(a.len(), "t=1700000000,v1=".len() + 64);
        assert_ne!(a, signature("secret", 1_700_000_001, b"{}"));
        assert_ne!(a, signature("other", 1_700_000_000, b"{}"));
        assert_eq!(a, signature("secret", 1_700_000_000, b"{}"));
    }

    #[test]
    fn unconfigured_channels_use_the_local_outbox() {
        let couriers = Couriers::from_config(None, None, None, 8).expect("couriers");
        for channel in Channel::ALL {
            assert_eq!(couriers.of(channel).transport(), Transport::Outbox);
        }
        let webhook = WebhookConfig {
            url: "http://127.0.0.1:9/sms".into(),
            ..WebhookConfig::default()
        };
        let couriers = Couriers::from_config(None, Some(&webhook), None, 8).expect("couriers");
        assert_eq!(couriers.of(Channel::Sms).transport(), Transport::Webhook);
        let bad = WebhookConfig {
            url: "ftp://example.com".into(),
            ..WebhookConfig::default()
        };
        assert!(Couriers::from_config(None, Some(&bad), None, 8).is_err());
    }

    #[tokio::test]
    async fn smtp_needs_a_host_and_a_sender_mailbox() {
        let ok = SmtpConfig {
            host: "127.0.0.1".into(),
            tls: TlsMode::None,
            ..SmtpConfig::default()
        };
        assert!(SmtpCourier::new(&ok, 4).is_ok());
        let no_host = SmtpConfig {
            host: " ".into(),
            ..ok.clone()
        };
        assert!(SmtpCourier::new(&no_host, 4).is_err());
        let bad_from = SmtpConfig {
            from: "not a mailbox".into(),
            ..ok.clone()
        };
        assert!(SmtpCourier::new(&bad_from, 4).is_err());
        for tls in [TlsMode::Starttls, TlsMode::Tls] {
            let secured = SmtpConfig {
                host: "smtp.example.com".into(),
                tls,
                ..ok.clone()
            };
            assert!(SmtpCourier::new(&secured, 4).is_ok(), "{tls:?}");
        }
        let not_a_tls_name = SmtpConfig {
            host: "smtp example".into(),
            tls: TlsMode::Tls,
            ..ok
        };
        assert!(SmtpCourier::new(&not_a_tls_name, 4).is_err());
    }
}
