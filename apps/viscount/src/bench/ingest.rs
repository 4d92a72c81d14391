//! `viscount bench ingest`: a load generator that posts signed provider webhooks.
//!
//! As an admin it creates a tenant, configures its four sources (Shopify, Stripe and
//! WooCommerce with generated secrets, PayPal with the sandbox certificate), then N
//! connections (one tokio task each) send deliveries until the run ends, round-robin
//! over the four providers and their topics ([`MIX`]), each signed the way its
//! provider signs it and each with ids of its own, so every delivery is a new event.
//! A `200` naming the event `stored` (or `duplicate`) is an accepted webhook; a `202`
//! (dead-lettered) and anything else are errors. The report gives accepted webhooks per
//! second over the measured part and the latency of accepted deliveries per provider.
//!
//! This module holds the pure parts: the arguments, the mix, writing and signing a
//! delivery; [`ids`] makes each delivery's ids, [`sale`] draws what a delivery is
//! about, [`payload`] writes the bodies, [`report`] the figures, and
//! [`super::ingest_run`] talks to the platform.

mod ids;
mod payload;
mod report;
mod sale;

use std::sync::Arc;
use std::time::Duration;

use contracts::ingestion::Provider;
use ingestion::domain::Topic;
use ingestion::domain::signature::sign::{self, PaypalSigner, SigningError};

use super::{Lane, Rng};
use ids::{Ids, scramble};
pub use report::{IngestReport, PaypalSigning};
use sale::Sale;

/// Arguments of `viscount bench ingest`.
#[derive(Debug, Clone, clap::Args)]
pub struct IngestArgs {
    /// The gateway's base URL.
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    pub target: String,
    /// Connections sending webhooks at once (one delivery in flight on each).
    #[arg(long, default_value_t = 32, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub connections: u32,
    /// How long the run lasts, warm-up included (e.g. 30s, 2m, 1m30s, 500ms). Shorter
    /// by default than `bench checkout`'s: the PayPal deliveries signed before the
    /// clock grow with it.
    #[arg(long, default_value = "30s", value_parser = humantime::parse_duration)]
    pub duration: Duration,
    /// The first part of the run whose requests are not recorded.
    #[arg(long, default_value = "5s", value_parser = humantime::parse_duration)]
    pub warmup: Duration,
    /// PayPal deliveries to sign before the clock starts (RSA costs about 1 ms of CPU
    /// each); the run signs any further ones on the blocking pool, which takes CPU from
    /// the measured platform when both share a machine. 0 signs every one during the
    /// run. [default: enough for the run at the rate --connections can reach]
    #[arg(long)]
    pub paypal_presigned: Option<u64>,
    /// Print one JSON object instead of the table.
    #[arg(long)]
    pub json: bool,
    /// Admin email (creates the bench tenant and its sources).
    #[arg(long, env = "VISCOUNT_BOOTSTRAP_ADMIN_EMAIL", hide_env_values = true)]
    pub admin_email: Option<String>,
    /// Admin password.
    #[arg(
        long,
        env = "VISCOUNT_BOOTSTRAP_ADMIN_PASSWORD",
        hide_env_values = true
    )]
    pub admin_password: Option<String>,
}

impl Lane for Provider {
    fn all() -> &'static [Self] {
        &Provider::ALL
    }

    fn name(self) -> &'static str {
        self.as_str()
    }
}

/// The topics a connection sends, in turn: every four deliveries one of each provider,
/// and over the cycle each provider's topics in rough proportion to real traffic
/// (mostly new orders and payments, some updates, one refund in five).
pub const MIX: [Topic; 20] = [
    Topic::ShopifyOrderCreated,
    Topic::StripeChargeSucceeded,
    Topic::PaypalSaleCompleted,
    Topic::WoocommerceOrderCreated,
    Topic::ShopifyOrderCreated,
    Topic::StripeChargeSucceeded,
    Topic::PaypalSaleCompleted,
    Topic::WoocommerceOrderCreated,
    Topic::ShopifyOrderUpdated,
    Topic::StripeChargeSucceeded,
    Topic::PaypalSaleCompleted,
    Topic::WoocommerceOrderUpdated,
    Topic::ShopifyOrderCreated,
    Topic::StripeChargeSucceeded,
    Topic::PaypalSaleCompleted,
    Topic::WoocommerceOrderCreated,
    Topic::ShopifyRefundCreated,
    Topic::StripeChargeRefunded,
    Topic::PaypalSaleRefunded,
    Topic::WoocommerceOrderUpdated,
];

/// The share of [`MIX`] that goes to `provider`.
pub fn mix_share(provider: Provider) -> f64 {
    let count = MIX.iter().filter(|t| t.provider() == provider).count();
    count as f64 / MIX.len() as f64
}

/// Deliveries per second one connection is assumed able to reach, for the PayPal
/// estimate: a round trip of about 1.7 ms (4 connections reached 470/s each against
/// `viscount up` on the 2-core development machine).
const PER_CONNECTION_RATE: f64 = 600.0;
/// Deliveries per second a run is assumed not to exceed, for the PayPal estimate:
/// twice what `viscount up` took on the 2-core development machine (2,900/s at 32
/// connections) and above the 5,000/s it is meant to reach. Signing for a faster
/// target takes `--paypal-presigned`; the report says how many were signed during
/// the run.
const MACHINE_RATE: f64 = 6_000.0;

/// PayPal deliveries to sign before the clock: what the run would send at the rate
/// `connections` can reach (capped at what one machine can take), so none needs
/// signing during the measured part.
pub fn paypal_presign_estimate(connections: u32, duration: Duration) -> u64 {
    let rate = (f64::from(connections) * PER_CONNECTION_RATE).min(MACHINE_RATE);
    (rate * duration.as_secs_f64() * mix_share(Provider::Paypal)).ceil() as u64
}

/// `PAYPAL-CERT-URL` of every PayPal delivery: where PayPal serves its signing
/// certificates (informational here: the tenant's source holds the certificate).
pub const PAYPAL_CERT_URL: &str =
    "https://api.paypal.com/v1/notifications/certs/CERT-360caa42-fca2a594-a5cafa77";

/// What the bench tenant's sources hold: generated per run.
#[derive(Clone)]
pub struct Credentials {
    /// Shopify's app secret.
    pub shopify: String,
    /// Stripe's endpoint signing secret.
    pub stripe: String,
    /// WooCommerce's webhook secret.
    pub woocommerce: String,
    /// PayPal's webhook id (part of every signed message).
    pub paypal_webhook_id: String,
    /// The shop's name in Shopify's and WooCommerce's headers.
    pub shop: String,
}

impl Credentials {
    /// Fresh credentials drawn from `rng`: a bench tenant's secrets only have to differ
    /// from run to run.
    pub fn generate(rng: &mut Rng) -> Self {
        let ids = Ids::new(rng.next_u64(), rng.next_u64());
        Self {
            shopify: format!("shpss_{}", ids.hex32(1)),
            stripe: format!("whsec_{}", ids.alnum(2, 32)),
            woocommerce: ids.alnum(3, 40),
            paypal_webhook_id: ids.alnum_upper(4, 17),
            shop: format!("bench-{}", ids.alnum_upper(5, 6).to_lowercase()),
        }
    }
}

impl std::fmt::Debug for Credentials {
    // Secrets: never printed.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Credentials(<redacted>)")
    }
}

/// One webhook delivery, ready to post to `/webhooks/{provider}/{topic}`.
#[derive(Debug, Clone)]
pub struct Delivery {
    /// What it delivers.
    pub topic: Topic,
    /// The raw body (what was signed).
    pub body: Vec<u8>,
    /// The provider's headers, the signature among them.
    pub headers: Vec<(&'static str, String)>,
}

/// Writes one worker's deliveries: bodies of randomly drawn sales, ids from the
/// worker's own serials (`worker << 40 | n`, so workers never share one), signed as
/// each provider signs.
pub struct Writer {
    run: u64,
    worker: u64,
    written: u64,
    rng: Rng,
    credentials: Arc<Credentials>,
}

impl Writer {
    /// The writer of worker `worker` (below 2^24) of run `run`.
    pub fn new(run: u64, worker: u64, credentials: Arc<Credentials>) -> Self {
        Self {
            run,
            worker,
            written: 0,
            rng: Rng::new(scramble(run ^ worker.wrapping_add(1))),
            credentials,
        }
    }

    /// The next delivery of `topic`, happening at `now_unix` (Stripe signs with that
    /// time). A PayPal one is signed with `signer`: RSA, about 1 ms of CPU.
    pub fn write(
        &mut self,
        topic: Topic,
        now_unix: i64,
        signer: &PaypalSigner,
    ) -> Result<Delivery, SigningError> {
        let ids = Ids::new(self.run, (self.worker << 40) | self.written);
        self.written += 1;
        let sale = Sale::draw(&mut self.rng, now_unix);
        let secrets = &*self.credentials;
        let delivery = match topic {
            Topic::ShopifyOrderCreated
            | Topic::ShopifyOrderUpdated
            | Topic::ShopifyRefundCreated => {
                let body = match topic {
                    Topic::ShopifyRefundCreated => payload::shopify_refund(&sale, ids),
                    _ => payload::shopify_order(&sale, ids, topic == Topic::ShopifyOrderUpdated),
                };
                let signature = sign::shopify(secrets.shopify.as_bytes(), &body);
                Delivery {
                    topic,
                    headers: vec![
                        ("X-Shopify-Topic", topic.provider_name().to_owned()),
                        ("X-Shopify-Hmac-Sha256", signature),
                        (
                            "X-Shopify-Shop-Domain",
                            format!("{}.myshopify.com", secrets.shop),
                        ),
                        ("X-Shopify-API-Version", "2024-10".to_owned()),
                        ("X-Shopify-Webhook-Id", ids.uuid(1_000)),
                        ("X-Shopify-Event-Id", ids.uuid(1_001)),
                        ("X-Shopify-Triggered-At", sale::utc(now_unix)),
                    ],
                    body,
                }
            }
            Topic::StripeChargeSucceeded | Topic::StripeChargeRefunded => {
                let refunded = topic == Topic::StripeChargeRefunded;
                let body = payload::stripe_charge(&sale, ids, refunded);
                let signature = sign::stripe(secrets.stripe.as_bytes(), now_unix, &body);
                Delivery {
                    topic,
                    headers: vec![
                        ("Stripe-Signature", signature),
                        (
                            "User-Agent",
                            "Stripe/1.0 (+https://stripe.com/docs/webhooks)".into(),
                        ),
                    ],
                    body,
                }
            }
            Topic::PaypalSaleCompleted | Topic::PaypalSaleRefunded => {
                let refunded = topic == Topic::PaypalSaleRefunded;
                let body = payload::paypal_sale(&sale, ids, refunded);
                let transmission_id = ids.uuid(1_002);
                let transmission_time = sale::utc(now_unix);
                let signature = sign::paypal(
                    signer,
                    &transmission_id,
                    &transmission_time,
                    &secrets.paypal_webhook_id,
                    &body,
                )?;
                Delivery {
                    topic,
                    headers: vec![
                        ("PAYPAL-TRANSMISSION-ID", transmission_id),
                        ("PAYPAL-TRANSMISSION-TIME", transmission_time),
                        ("PAYPAL-TRANSMISSION-SIG", signature),
                        ("PAYPAL-AUTH-ALGO", "SHA256withRSA".to_owned()),
                        ("PAYPAL-CERT-URL", PAYPAL_CERT_URL.to_owned()),
                        ("PAYPAL-AUTH-VERSION", "v2".to_owned()),
                    ],
                    body,
                }
            }
            Topic::WoocommerceOrderCreated | Topic::WoocommerceOrderUpdated => {
                let status = match topic {
                    Topic::WoocommerceOrderCreated => "processing",
                    _ if self.rng.below(2) == 0 => "refunded",
                    _ => "completed",
                };
                let body = payload::woocommerce_order(&sale, ids, status);
                let signature = sign::woocommerce(secrets.woocommerce.as_bytes(), &body);
                let event = topic.provider_name().trim_start_matches("order.");
                Delivery {
                    topic,
                    headers: vec![
                        (
                            "X-WC-Webhook-Source",
                            format!("https://{}.example.com/", secrets.shop),
                        ),
                        ("X-WC-Webhook-Topic", topic.provider_name().to_owned()),
                        ("X-WC-Webhook-Resource", "order".to_owned()),
                        ("X-WC-Webhook-Event", event.to_owned()),
                        ("X-WC-Webhook-Signature", signature),
                        ("X-WC-Webhook-ID", "7".to_owned()),
                        ("X-WC-Webhook-Delivery-ID", ids.hex32(1_003)),
                    ],
                    body,
                }
            }
        };
        Ok(delivery)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use ingestion::domain::signature::{self, Headers, VerificationKey, sandbox};

    use serde_json::Value;

    use super::*;

    const NOW: i64 = 1_790_000_000;

    struct Sent<'a>(&'a [(&'static str, String)]);

    impl Headers for Sent<'_> {
        fn header(&self, name: &str) -> Option<&str> {
            self.0
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.as_str())
        }
    }

    fn header<'a>(delivery: &'a Delivery, name: &str) -> &'a str {
        delivery
            .headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map_or("", |(_, v)| v.as_str())
    }

    fn credentials() -> Arc<Credentials> {
        Arc::new(Credentials::generate(&mut Rng::new(5)))
    }

    fn verify(
        credentials: &Credentials,
        delivery: &Delivery,
        body: &[u8],
    ) -> Result<signature::Verified, signature::SignatureError> {
        let key = match delivery.topic.provider() {
            Provider::Shopify => VerificationKey::Hmac(credentials.shopify.as_bytes()),
            Provider::Stripe => VerificationKey::Hmac(credentials.stripe.as_bytes()),
            Provider::Woocommerce => VerificationKey::Hmac(credentials.woocommerce.as_bytes()),
            Provider::Paypal => VerificationKey::Paypal {
                webhook_id: &credentials.paypal_webhook_id,
                certificate_pem: sandbox::PAYPAL_CERTIFICATE_PEM,
            },
            Provider::Viscount => unreachable!("no webhook topic is Viscount's own"),
        };
        signature::verify(
            delivery.topic.provider(),
            key,
            &Sent(&delivery.headers),
            body,
            NOW + 5,
        )
    }

    #[test]
    fn every_topics_delivery_verifies_with_its_providers_scheme() {
        let signer = sandbox::paypal_signer().expect("the sandbox key loads");
        let credentials = credentials();
        let mut writer = Writer::new(7, 3, credentials.clone());
        for topic in Topic::ALL {
            let delivery = writer.write(topic, NOW, &signer).expect("signed");
            let verified = verify(&credentials, &delivery, &delivery.body)
                .unwrap_or_else(|e| panic!("{topic:?}: {e}"));
            let expected_id = match topic.provider() {
                Provider::Shopify => Some(header(&delivery, "X-Shopify-Webhook-Id")),
                Provider::Woocommerce => Some(header(&delivery, "X-WC-Webhook-Delivery-ID")),
                Provider::Paypal => Some(header(&delivery, "PAYPAL-TRANSMISSION-ID")),
                Provider::Stripe => None,
                Provider::Viscount => unreachable!("no webhook topic is Viscount's own"),
            };
            assert_eq!(verified.delivery_id.as_deref(), expected_id, "{topic:?}");
            // The signature covers the body: one byte more and it no longer verifies.
            let mut tampered = delivery.body.clone();
            tampered.push(b' ');
            assert!(
                verify(&credentials, &delivery, &tampered).is_err(),
                "{topic:?}"
            );
        }
    }

    #[test]
    fn bodies_name_their_topic_and_carry_amounts_and_ids() {
        let signer = sandbox::paypal_signer().expect("the sandbox key loads");
        let mut writer = Writer::new(7, 1, credentials());
        for topic in Topic::ALL {
            let delivery = writer.write(topic, NOW, &signer).expect("signed");
            let body: Value = serde_json::from_slice(&delivery.body).expect("JSON");
            let has = |pointer: &str| {
                body.pointer(pointer)
                    .is_some_and(|v| !v.is_null() && v != "")
            };
            let fields: &[&str] = match topic {
                Topic::ShopifyOrderCreated | Topic::ShopifyOrderUpdated => &[
                    "/id",
                    "/total_price",
                    "/currency",
                    "/line_items/0/sku",
                    "/line_items/0/price",
                    "/landing_site",
                    "/email",
                    "/customer/first_name",
                    "/browser_ip",
                ],
                Topic::ShopifyRefundCreated => &[
                    "/id",
                    "/order_id",
                    "/transactions/0/amount",
                    "/transactions/0/currency",
                ],
                Topic::StripeChargeSucceeded | Topic::StripeChargeRefunded => &[
                    "/id",
                    "/data/object/id",
                    "/data/object/amount",
                    "/data/object/currency",
                    "/data/object/metadata/order_id",
                    "/data/object/billing_details/email",
                ],
                Topic::PaypalSaleCompleted | Topic::PaypalSaleRefunded => &[
                    "/id",
                    "/resource/id",
                    "/resource/amount/total",
                    "/resource/amount/currency",
                    "/resource/invoice_number",
                ],
                Topic::WoocommerceOrderCreated | Topic::WoocommerceOrderUpdated => &[
                    "/id",
                    "/total",
                    "/currency",
                    "/line_items/0/sku",
                    "/billing/email",
                    "/meta_data/0/key",
                ],
            };
            for field in fields {
                assert!(has(field), "{topic:?} lacks {field}: {body}");
            }
            match topic.provider() {
                Provider::Stripe => assert_eq!(body["type"], topic.provider_name()),
                Provider::Paypal => assert_eq!(body["event_type"], topic.provider_name()),
                Provider::Shopify => {
                    assert_eq!(header(&delivery, "X-Shopify-Topic"), topic.provider_name());
                }
                Provider::Woocommerce => {
                    assert_eq!(
                        header(&delivery, "X-WC-Webhook-Topic"),
                        topic.provider_name()
                    );
                }
                Provider::Viscount => unreachable!("no webhook topic is Viscount's own"),
            }
        }
        // Stripe refunds name what was refunded before, for the refunded amount.
        let refund = writer
            .write(Topic::StripeChargeRefunded, NOW, &signer)
            .expect("signed");
        let body: Value = serde_json::from_slice(&refund.body).expect("JSON");
        assert_eq!(body["data"]["previous_attributes"]["amount_refunded"], 0);
        assert!(body["data"]["object"]["amount_refunded"].as_i64() > Some(0));
    }

    /// The id a stored event is keyed by, per provider.
    fn event_id(delivery: &Delivery) -> String {
        let body: Value = serde_json::from_slice(&delivery.body).expect("JSON");
        match delivery.topic.provider() {
            Provider::Shopify => header(delivery, "X-Shopify-Webhook-Id").to_owned(),
            Provider::Woocommerce => header(delivery, "X-WC-Webhook-Delivery-ID").to_owned(),
            Provider::Stripe | Provider::Paypal => body["id"].as_str().expect("id").to_owned(),
            Provider::Viscount => unreachable!("no webhook topic is Viscount's own"),
        }
    }

    #[test]
    fn every_delivery_has_ids_of_its_own() {
        let signer = sandbox::paypal_signer().expect("the sandbox key loads");
        let credentials = credentials();
        let mut seen = HashSet::new();
        let mut transmissions = HashSet::new();
        for worker in [0, 1, 2] {
            let mut writer = Writer::new(99, worker, credentials.clone());
            for n in 0..400 {
                let topic = MIX[n % MIX.len()];
                // RSA is slow: a few PayPal deliveries are enough.
                if topic.provider() == Provider::Paypal && n > 60 {
                    continue;
                }
                let delivery = writer.write(topic, NOW, &signer).expect("signed");
                let id = event_id(&delivery);
                assert!(seen.insert(id.clone()), "{id} twice");
                if topic.provider() == Provider::Paypal {
                    let transmission = header(&delivery, "PAYPAL-TRANSMISSION-ID").to_owned();
                    assert!(transmissions.insert(transmission));
                }
            }
        }
        assert!(seen.len() > 900, "{}", seen.len());
    }

    #[test]
    fn the_mix_takes_turns_over_all_four_providers_and_covers_every_topic() {
        for (n, window) in MIX.chunks(4).enumerate() {
            let providers: Vec<Provider> = window.iter().map(|t| t.provider()).collect();
            assert_eq!(providers, Provider::ALL.to_vec(), "round {n}");
        }
        for topic in Topic::ALL {
            assert!(MIX.contains(&topic), "{topic:?} is never sent");
        }
        for provider in Provider::ALL {
            assert!((mix_share(provider) - 0.25).abs() < 1e-9);
        }
    }

    #[test]
    fn the_paypal_estimate_grows_with_connections_and_time_up_to_a_ceiling() {
        let estimate = paypal_presign_estimate;
        assert_eq!(estimate(1, Duration::ZERO), 0);
        assert_eq!(estimate(1, Duration::from_secs(10)), 1_500);
        assert_eq!(estimate(2, Duration::from_secs(10)), 3_000);
        assert_eq!(estimate(4, Duration::from_secs(20)), 12_000);
        assert_eq!(estimate(32, Duration::from_secs(30)), 45_000);
        // Past the machine's ceiling, more connections need no more.
        assert_eq!(
            estimate(1_000, Duration::from_secs(10)),
            estimate(100, Duration::from_secs(10))
        );
    }

    #[test]
    fn credentials_differ_per_run_and_never_print() {
        let one = Credentials::generate(&mut Rng::new(1));
        let two = Credentials::generate(&mut Rng::new(2));
        assert_ne!(one.shopify, two.shopify);
        assert_ne!(one.paypal_webhook_id, two.paypal_webhook_id);
        assert!(one.stripe.starts_with("whsec_"));
        let printed = format!("{one:?}");
        assert!(!printed.contains(&one.shopify) && !printed.contains(&one.woocommerce));
    }
}
