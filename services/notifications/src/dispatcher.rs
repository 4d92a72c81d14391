//! The webhook dispatcher: claims due deliveries of merchants' webhooks and POSTs each to
//! its endpoint, signed as Standard Webhooks asks, several at once and outside any
//! database transaction.
//!
//! It runs in the loop `due` runs for the sender too: a claim is a conditional update
//! with a lease, so replicas never send the same delivery at once and a dispatcher that
//! dies mid-attempt leaves it due again after the lease; each attempt holds one of
//! `concurrency` permits, so a slow endpoint holds up no other.
//!
//! Every attempt carries `webhook-id` (the delivery's id, the same on every attempt so
//! the receiver can drop a repeat), `webhook-timestamp` (the attempt's time, which the
//! receiver checks against replays) and `webhook-signature` over both and the body.
//! Any 2xx is delivery; anything else, a timeout or a refused connection is a failed
//! attempt, retried on the configured schedule and recorded in the delivery log.

use std::time::{Duration, Instant};

use async_trait::async_trait;
use platform::config::ExposeSecret;
use platform::tasks::Tasks;

use crate::app::NotificationsApp;
use crate::config::NotificationsConfig;
use crate::domain::{Attempt, DeliveryStatus, sign};
use crate::due::{self, DueWork, Pace};
use crate::store::webhooks::{self as store, ClaimedDelivery};

/// Sends merchants' webhooks.
pub struct Dispatcher {
    app: NotificationsApp,
    client: reqwest::Client,
}

impl Dispatcher {
    /// The HTTP client attempts go through (built once, at start, so a configuration
    /// it cannot serve stops the start).
    pub fn client(config: &NotificationsConfig) -> Result<reqwest::Client, reqwest::Error> {
        reqwest::Client::builder()
            .timeout(Duration::from_millis(config.webhooks.timeout_ms.max(1)))
            .connect_timeout(Duration::from_secs(5))
            // An endpoint answers for itself; following a redirect would send the
            // signed event somewhere the merchant never registered.
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("Viscount-Webhooks/", env!("CARGO_PKG_VERSION")))
            .build()
    }

    /// Runs the dispatch loop for `app`'s deliveries through `client` until shutdown.
    pub fn start(
        app: NotificationsApp,
        client: reqwest::Client,
        config: &NotificationsConfig,
        tasks: &Tasks,
    ) {
        let pace = Pace::new(config.webhooks.concurrency, config);
        let (wake, clock) = (app.webhook_wake.clone(), app.clock.clone());
        due::start(Self { app, client }, pace, wake, clock, tasks);
    }
}

#[async_trait]
impl DueWork for Dispatcher {
    type Item = ClaimedDelivery;

    const NAME: &'static str = "webhook deliveries";

    async fn next_due(&self) -> Result<Option<i64>, platform::db::Error> {
        store::next_due(self.app.db.reader()).await
    }

    async fn claim(
        &self,
        now: i64,
        lease_until: i64,
        limit: i64,
    ) -> Result<Vec<ClaimedDelivery>, platform::db::Error> {
        let mut tx = self.app.db.begin().await?;
        let claimed = store::claim_due(&mut tx, now, lease_until, limit).await?;
        tx.commit().await?;
        Ok(claimed)
    }

    async fn work(&self, claim: ClaimedDelivery) {
        self.attempt(claim).await;
    }
}

impl Dispatcher {
    #[tracing::instrument(
        skip_all,
        fields(
            delivery_id = %claim.delivery.id,
            endpoint_id = %claim.delivery.endpoint_id,
            event_type = %claim.delivery.event_type,
            attempt = claim.delivery.attempts,
        )
    )]
    async fn attempt(&self, claim: ClaimedDelivery) {
        let ClaimedDelivery {
            mut delivery,
            url,
            secret,
        } = claim;
        let attempt = self
            .post(
                &url,
                secret.expose_secret(),
                &delivery.id,
                &delivery.payload,
                delivery.attempts,
            )
            .await;
        let now = self.app.clock.now_millis();
        delivery.conclude(&attempt, &self.app.webhook_retry, now);
        let outcome = match delivery.status {
            DeliveryStatus::Delivered => "delivered",
            DeliveryStatus::Pending => "retry",
            DeliveryStatus::Failed => "failed",
        };
        match &attempt.error {
            None => tracing::info!(status = ?attempt.status_code, "webhook delivered"),
            Some(error) => tracing::warn!(error = %error, outcome, "webhook attempt failed"),
        }
        // The endpoint got the attempt whatever the database does next; keep trying to
        // record it briefly, or the lease makes it due again (a repeat, which the
        // receiver drops by `webhook-id`, beats a silent loss).
        for retry in 1..=3u32 {
            match self.record(&delivery, &attempt, now).await {
                Ok(true) => {
                    crate::metrics::webhook_attempt(outcome, attempt.duration_ms);
                    return;
                }
                Ok(false) => {
                    tracing::warn!("webhook outcome not recorded: the claim had lapsed");
                    return;
                }
                Err(err) => {
                    tracing::error!(error = %err, retry, "cannot record the webhook outcome");
                    tokio::time::sleep(Duration::from_millis(100 * u64::from(retry))).await;
                }
            }
        }
    }

    async fn record(
        &self,
        delivery: &crate::domain::WebhookDelivery,
        attempt: &Attempt,
        now: i64,
    ) -> Result<bool, platform::db::Error> {
        let mut tx = self.app.db.begin().await?;
        let settled = store::settle(&mut tx, delivery, attempt, now).await?;
        tx.commit().await?;
        Ok(settled)
    }

    /// One signed POST of `body` to `url`.
    async fn post(&self, url: &str, secret: &str, id: &str, body: &str, number: u32) -> Attempt {
        let at = self.app.clock.now_millis();
        let started = Instant::now();
        let mut attempt = Attempt {
            attempt: number,
            at,
            status_code: None,
            error: None,
            duration_ms: 0,
        };
        let timestamp = at.div_euclid(1000);
        let signature = match sign(secret, id, timestamp, body) {
            Ok(signature) => signature,
            Err(err) => {
                attempt.error = Some(err.to_string());
                return attempt;
            }
        };
        let sent = self
            .client
            .post(url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header("webhook-id", id)
            .header("webhook-timestamp", timestamp.to_string())
            .header("webhook-signature", signature)
            .body(body.to_owned())
            .send()
            .await;
        attempt.duration_ms = i64::try_from(started.elapsed().as_millis()).unwrap_or(i64::MAX);
        match sent {
            Ok(response) => {
                let status = response.status();
                attempt.status_code = Some(status.as_u16());
                if !status.is_success() {
                    attempt.error = Some(format!("the endpoint answered {status}"));
                }
            }
            Err(err) => {
                attempt.error = Some(crate::sender::clip(&platform::telemetry::error_chain(&err)));
            }
        }
        attempt
    }
}
