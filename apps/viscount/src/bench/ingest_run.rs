//! The network side of `viscount bench ingest`: the bench tenant and its sources,
//! PayPal pre-signing, the connections' loop and the report.
//!
//! PayPal deliveries are signed with RSA-2048, about 1.1 ms of CPU each; at a quarter
//! of several thousand deliveries per second that is more than half of a 2-core
//! machine, taken from the platform being measured when both run on it. So they are
//! signed before the clock starts, on every core, as many as the run is estimated to
//! send (`--paypal-presigned` overrides the estimate), and only the ones beyond that
//! are signed during the run, on the blocking pool. Measured against `viscount up` on
//! the 2-core development machine (32 connections, 30 s with 5 s warm-up): pre-signed,
//! 2,918 accepted webhooks/s, p99 28.7 ms, the generator using about 0.3 cores during
//! the run; every PayPal delivery signed on the blocking pool during the run
//! (`--paypal-presigned 0`), 2,018/s, p99 33.2 ms, the generator using about 0.85
//! cores. The HMAC schemes cost microseconds and are signed at send time (Stripe's
//! signature carries the sending time).

use std::num::NonZero;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use contracts::ingestion::Provider;
use ingestion::domain::Topic;
use ingestion::domain::signature::sandbox;
use ingestion::domain::signature::sign::{PaypalSigner, SigningError};
use platform::shutdown::Shutdown;
use reqwest::{Client, RequestBuilder, StatusCode, Url};
use serde::Deserialize;
use serde_json::json;
use tokio::task::JoinSet;

use super::ingest::{
    Credentials, Delivery, IngestArgs, IngestReport, MIX, PaypalSigning, Writer,
    paypal_presign_estimate,
};
use super::run::{
    Answer, Api, End, Progress, TRANSPORT_BACKOFF, admin_token, exchange, must, parse, pause_after,
    random_seed, run_workers,
};
use super::{ErrorKind, Recorder, Rng, RunFacts};
use crate::progress;

/// Runs `viscount bench ingest`: prints the report on stdout, progress on stderr.
/// Fails when the run could not start, or when no webhook was accepted.
pub async fn ingest(args: IngestArgs, shutdown: Shutdown) -> anyhow::Result<()> {
    if args.warmup >= args.duration {
        bail!(
            "--warmup ({}) must be shorter than --duration ({})",
            humantime::format_duration(args.warmup),
            humantime::format_duration(args.duration)
        );
    }
    let base = args.target.trim_end_matches('/').to_owned();
    if !(base.starts_with("http://") || base.starts_with("https://")) {
        bail!("--target must start with http:// or https://");
    }
    let connections = args.connections as usize;
    let client = Client::builder()
        .pool_max_idle_per_host(connections)
        .tcp_nodelay(true)
        .timeout(Duration::from_secs(30))
        .build()
        .context("cannot build the HTTP client")?;
    let api = Api { client, base };
    let run = random_seed();
    let credentials = Arc::new(Credentials::generate(&mut Rng::new(random_seed())));
    let signer = Arc::new(sandbox::paypal_signer().context("cannot load the sandbox PayPal key")?);

    let tenant = tokio::select! {
        tenant = set_up(&api, &args, &credentials) => tenant?,
        () = shutdown.cancelled() => bail!("interrupted before the run started"),
    };
    let presign = args
        .paypal_presigned
        .unwrap_or_else(|| paypal_presign_estimate(args.connections, args.duration));
    // Pre-signing workers come after the connections, so their serials never meet.
    let pool = presign_paypal(
        presign,
        run,
        connections as u64,
        &credentials,
        &signer,
        &shutdown,
    )
    .await?;

    let urls = Topic::ALL
        .iter()
        .map(|topic| {
            let path = format!(
                "{}/webhooks/{}/{}?tenant={tenant}",
                api.base,
                topic.provider().as_str(),
                topic.path()
            );
            Url::parse(&path).with_context(|| format!("{path} is not a URL"))
        })
        .collect::<anyhow::Result<Vec<Url>>>()?;
    let shared = Arc::new(Shared {
        api,
        urls,
        signer,
        pool: Mutex::new(pool),
        accepted: AtomicU64::new(0),
        errors: AtomicU64::new(0),
        signed_during_run: AtomicU64::new(0),
    });
    let start = Instant::now();
    let measure_from = start + args.warmup;
    let deadline = start + args.duration;
    let end = End {
        stop: shutdown.clone(),
        deadline: tokio::time::Instant::from_std(deadline),
    };
    let workers = (0..connections)
        .map(|n| Connection {
            shared: shared.clone(),
            writer: Some(Writer::new(run, n as u64, credentials.clone())),
            recorder: Recorder::new(measure_from),
            // Each connection starts elsewhere in the mix, so every topic is in flight.
            slot: n,
        })
        .collect::<Vec<_>>();
    let counters = shared.clone();
    let finished_connections = run_workers(
        workers,
        send,
        &end,
        Progress {
            what: "accepted",
            counts: move || {
                (
                    counters.accepted.load(Ordering::Relaxed),
                    counters.errors.load(Ordering::Relaxed),
                )
            },
            start,
            total: args.duration,
            warmup: args.warmup,
        },
    )
    .await?;
    let mut recorded = Recorder::<Provider>::new(measure_from);
    for connection in &finished_connections {
        recorded.merge(&connection.recorder);
    }

    let finished = Instant::now().min(deadline);
    let report = IngestReport::new(
        &recorded,
        &RunFacts {
            target: shared.api.base.clone(),
            workers: connections,
            duration: args.duration,
            warmup: args.warmup,
            measured: finished.saturating_duration_since(measure_from),
            interrupted: shutdown.is_cancelled(),
        },
        &tenant,
        PaypalSigning {
            presigned: presign,
            signed_during_run: shared.signed_during_run.load(Ordering::Relaxed),
        },
    );
    if args.json {
        println!("{}", report.json());
    } else {
        print!("{}", report.table());
    }
    if report.accepted_webhooks == 0 {
        bail!("no webhook was accepted during the measured period");
    }
    Ok(())
}

#[derive(Deserialize)]
struct CreatedTenant {
    id: String,
}

/// Signs the admin in, creates the bench tenant and configures its four sources;
/// returns the tenant's id.
async fn set_up(api: &Api, args: &IngestArgs, credentials: &Credentials) -> anyhow::Result<String> {
    let token = admin_token(
        api,
        args.admin_email.as_deref(),
        args.admin_password.as_deref(),
        "bench ingest",
    )
    .await?;
    let name = format!("Bench ingest {}", credentials.shop);
    let answer = must(
        api.post("/api/v1/tenants")
            .bearer_auth(&token)
            .json(&json!({"name": name})),
        "create the bench tenant",
    )
    .await?;
    if answer.status != StatusCode::CREATED {
        bail!(
            "cannot create the bench tenant: HTTP {}: {}",
            answer.status,
            answer.snippet()
        );
    }
    // The answer also holds the tenant's API key, shown once: the bench has no use
    // for it and never prints it.
    let tenant = parse::<CreatedTenant>(&answer, "create the bench tenant")?.id;
    let sources = [
        (Provider::Shopify, json!({"secret": credentials.shopify})),
        (Provider::Stripe, json!({"secret": credentials.stripe})),
        (
            Provider::Woocommerce,
            json!({"secret": credentials.woocommerce}),
        ),
        (
            Provider::Paypal,
            json!({
                "webhook_id": credentials.paypal_webhook_id,
                "certificate_pem": sandbox::PAYPAL_CERTIFICATE_PEM,
            }),
        ),
    ];
    for (provider, body) in sources {
        let provider = provider.as_str();
        let answer = must(
            api.put(&format!("/api/v1/tenants/{tenant}/sources/{provider}"))
                .bearer_auth(&token)
                .json(&body),
            "configure a source",
        )
        .await?;
        if answer.status != StatusCode::NO_CONTENT {
            bail!(
                "cannot configure the bench tenant's {provider} source: HTTP {}: {}",
                answer.status,
                answer.snippet()
            );
        }
    }
    eprintln!("tenant {tenant} ({name}) created with its four sources");
    Ok(tenant)
}

/// Signs `count` PayPal deliveries (PayPal's topics in [`MIX`] proportion) before the
/// clock starts, on every core, with a progress note on stderr. Workers
/// `first_worker..` write them.
async fn presign_paypal(
    count: u64,
    run: u64,
    first_worker: u64,
    credentials: &Arc<Credentials>,
    signer: &Arc<PaypalSigner>,
    shutdown: &Shutdown,
) -> anyhow::Result<Vec<Delivery>> {
    if count == 0 {
        return Ok(Vec::new());
    }
    let threads = std::thread::available_parallelism().map_or(1, NonZero::get) as u64;
    eprintln!(
        "signing {count} PayPal deliveries before the clock starts (RSA, about 1 ms each, on \
         {threads} threads)..."
    );
    let started = Instant::now();
    let bar = progress::counted_bar(count, "signed");
    let stop = Arc::new(AtomicBool::new(false));
    let topics: Vec<Topic> = MIX
        .into_iter()
        .filter(|topic| topic.provider() == Provider::Paypal)
        .collect();
    let mut tasks = JoinSet::new();
    for thread in 0..threads {
        let share = count / threads + u64::from(thread < count % threads);
        let (bar, stop, signer, topics) =
            (bar.clone(), stop.clone(), signer.clone(), topics.clone());
        let mut writer = Writer::new(run, first_worker + thread, credentials.clone());
        tasks.spawn_blocking(move || {
            let mut deliveries = Vec::with_capacity(usize::try_from(share).unwrap_or(0));
            for (n, topic) in topics.iter().cycle().enumerate() {
                if n as u64 >= share || stop.load(Ordering::Relaxed) {
                    break;
                }
                deliveries.push(writer.write(*topic, unix_now(), &signer)?);
                bar.inc(1);
            }
            Ok::<_, SigningError>(deliveries)
        });
    }
    let mut pool = Vec::with_capacity(usize::try_from(count).unwrap_or(0));
    loop {
        tokio::select! {
            joined = tasks.join_next() => match joined {
                None => break,
                Some(joined) => pool.extend(
                    joined
                        .context("a signing thread failed")?
                        .context("cannot sign a PayPal delivery")?,
                ),
            },
            () = shutdown.cancelled(), if !stop.load(Ordering::Relaxed) => {
                stop.store(true, Ordering::Relaxed);
            }
        }
    }
    // The summary line below says what the bar said.
    bar.finish_and_clear();
    if shutdown.is_cancelled() {
        bail!("interrupted before the run started");
    }
    eprintln!(
        "signed {} PayPal deliveries in {:.1}s",
        pool.len(),
        started.elapsed().as_secs_f64()
    );
    Ok(pool)
}

/// Now, in unix seconds.
fn unix_now() -> i64 {
    platform::time::now_millis() / 1_000
}

/// What every connection shares.
struct Shared {
    api: Api,
    /// The webhook URL of each topic, in [`Topic::ALL`] order.
    urls: Vec<Url>,
    signer: Arc<PaypalSigner>,
    /// PayPal deliveries signed before the clock.
    pool: Mutex<Vec<Delivery>>,
    /// Accepted webhooks so far, warm-up included (for the progress bar).
    accepted: AtomicU64,
    /// Errors so far, warm-up included (for the progress bar).
    errors: AtomicU64,
    /// PayPal deliveries signed during the run because the pool ran out.
    signed_during_run: AtomicU64,
}

/// One connection's sender.
struct Connection {
    shared: Arc<Shared>,
    /// `None` only while a PayPal delivery is being signed on the blocking pool.
    writer: Option<Writer>,
    recorder: Recorder<Provider>,
    /// The next position in [`MIX`].
    slot: usize,
}

/// A webhook's answer body, as far as the bench reads it.
#[derive(Deserialize)]
struct Receipt<'a> {
    status: &'a str,
}

/// A connection's loop until the run ends (the deadline or ctrl-c); returns the
/// connection with what it recorded.
async fn send(mut connection: Connection, end: End) -> Connection {
    loop {
        let topic = MIX[connection.slot % MIX.len()];
        connection.slot += 1;
        let delivery = match end.before(connection.next_delivery(topic)).await {
            None => break,
            Some(Ok(delivery)) => delivery,
            Some(Err(why)) => {
                // Signing with the checked-in key cannot fail short of a broken random
                // source; say so once and stop this connection.
                eprintln!("a connection stopped: {why:#}");
                break;
            }
        };
        let provider = delivery.topic.provider();
        let request = connection.request(delivery);
        let started = Instant::now();
        let Some(answer) = end.before(exchange(request)).await else {
            break;
        };
        let elapsed = started.elapsed();
        if let Some(pause) = connection.record(provider, started, elapsed, answer)
            && end.before(tokio::time::sleep(pause)).await.is_none()
        {
            break;
        }
    }
    connection
}

impl Connection {
    /// The next delivery of `topic`: HMAC-signed here, PayPal from the pre-signed pool,
    /// or signed on the blocking pool once that ran out.
    async fn next_delivery(&mut self, topic: Topic) -> anyhow::Result<Delivery> {
        if topic.provider() == Provider::Paypal {
            let presigned = self
                .shared
                .pool
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .pop();
            if let Some(delivery) = presigned {
                return Ok(delivery);
            }
            let mut writer = self.writer.take().context("the writer is busy")?;
            let signer = self.shared.signer.clone();
            let (writer, delivery) = tokio::task::spawn_blocking(move || {
                let delivery = writer.write(topic, unix_now(), &signer);
                (writer, delivery)
            })
            .await
            .context("a signing task failed")?;
            self.writer = Some(writer);
            self.shared
                .signed_during_run
                .fetch_add(1, Ordering::Relaxed);
            return delivery.context("cannot sign a PayPal delivery");
        }
        let writer = self.writer.as_mut().context("the writer is busy")?;
        writer
            .write(topic, unix_now(), &self.shared.signer)
            .context("cannot sign a delivery")
    }

    /// The POST of `delivery` to its topic's webhook URL.
    fn request(&self, delivery: Delivery) -> RequestBuilder {
        let index = Topic::ALL
            .iter()
            .position(|topic| *topic == delivery.topic)
            .unwrap_or_default();
        let mut request = self
            .shared
            .api
            .client
            .post(self.shared.urls[index].clone())
            .header(reqwest::header::CONTENT_TYPE, "application/json");
        for (name, value) in delivery.headers {
            request = request.header(name, value);
        }
        request.body(delivery.body)
    }

    fn fail(&mut self, started: Instant, kind: ErrorKind<Provider>) {
        self.shared.errors.fetch_add(1, Ordering::Relaxed);
        self.recorder.error(started, kind);
    }

    /// Records the outcome of a delivery of `provider`; how long to hold off before the
    /// next one, if at all.
    fn record(
        &mut self,
        provider: Provider,
        started: Instant,
        elapsed: Duration,
        answer: Result<Answer, &'static str>,
    ) -> Option<Duration> {
        let answer = match answer {
            Ok(answer) => answer,
            Err(kind) => {
                self.fail(started, ErrorKind::Transport(provider, kind));
                return Some(TRANSPORT_BACKOFF);
            }
        };
        match answer.status {
            StatusCode::OK => {
                match serde_json::from_slice::<Receipt<'_>>(&answer.body) {
                    Ok(Receipt {
                        status: status @ ("stored" | "duplicate"),
                    }) => {
                        self.shared.accepted.fetch_add(1, Ordering::Relaxed);
                        self.recorder.latency(provider, started, elapsed);
                        self.recorder.succeeded(started, status);
                    }
                    _ => self.fail(started, ErrorKind::BadBody(provider)),
                }
                None
            }
            StatusCode::ACCEPTED => {
                self.fail(started, ErrorKind::Dead(provider));
                None
            }
            status => {
                self.fail(started, ErrorKind::Status(provider, status.as_u16()));
                pause_after(&answer)
            }
        }
    }
}
