//! `viscount bench analytics-load` and `viscount bench analytics`: the figures the
//! analytics issue asks for.
//!
//! `analytics-load` writes a history into analytics' own SQLite file under a data
//! directory, offline, through the same path the consumer takes (each synthetic
//! `ingestion.event.received` becomes a ledger row, its split under every model and
//! its read-model changes): orders across ten channels and a year, payments for most of
//! them and refunds for some. Then `viscount up --data-dir` serves it.
//!
//! `analytics` measures a running platform through its gateway: the latency of
//! `GET /api/v1/attribution/revenue/realtime` over a year of the loaded tenant (periods
//! that start and end mid-hour, so every kind of piece is read), the CSV export's rate
//! and the server's resident memory during it (from `/proc/<pid>/status`, given
//! `--server-pid`), and the time from a Shopify webhook's `200` to its revenue showing
//! in the realtime answer.

use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use contracts::Money;
use contracts::ingestion::{Channel, ChannelFields, EventKind, EventReceived, LineItem, Provider};
use hdrhistogram::Histogram;
use platform::service::Service;
use platform::shutdown::Shutdown;
use reqwest::Client;
use serde::Serialize;
use serde_json::{Value, json};

use super::Rng;
use super::run::{Api, admin_token, must, parse};
use crate::progress;

/// Arguments of `viscount bench analytics-load`.
#[derive(Debug, Clone, clap::Args)]
pub struct AnalyticsLoadArgs {
    /// The platform's data directory (the analytics SQLite file is made there).
    #[arg(long, default_value = "./data")]
    pub data_dir: std::path::PathBuf,
    /// Ledger rows to write.
    #[arg(long, default_value_t = 1_000_000)]
    pub rows: u64,
    /// The tenant they belong to.
    #[arg(long, default_value = "viscount")]
    pub tenant: String,
    /// Days of history, ending now.
    #[arg(long, default_value_t = 365)]
    pub days: u32,
}

/// Arguments of `viscount bench analytics`.
#[derive(Debug, Clone, clap::Args)]
pub struct AnalyticsArgs {
    /// The gateway's base URL.
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    pub target: String,
    /// The loaded tenant.
    #[arg(long, default_value = "viscount")]
    pub tenant: String,
    /// Realtime requests to time.
    #[arg(long, default_value_t = 1_000)]
    pub requests: u32,
    /// Webhooks whose revenue is waited for.
    #[arg(long, default_value_t = 200)]
    pub webhooks: u32,
    /// The server's process id, to read its resident memory during the export.
    #[arg(long)]
    pub server_pid: Option<u32>,
    /// Print one JSON object instead of the table.
    #[arg(long)]
    pub json: bool,
    /// Admin email.
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

/// Events written per transaction while loading.
const LOAD_BATCH: usize = 5_000;

/// Runs `viscount bench analytics-load`; on `shutdown` (Ctrl-C) it stops after the
/// batch in hand, keeping what was written.
pub async fn analytics_load(args: AnalyticsLoadArgs, shutdown: Shutdown) -> anyhow::Result<()> {
    std::fs::create_dir_all(&args.data_dir).context("cannot create the data directory")?;
    let url = platform::db::sqlite_url(&args.data_dir, "analytics");
    let db = platform::db::Db::connect(&url, analytics::Analytics::migrations())
        .await
        .context("cannot open analytics' database")?;
    let outbox = platform::bus::Outbox::offline(platform::service::ServiceKind::Analytics);
    let app = analytics::AnalyticsApp::new(
        db,
        outbox,
        platform::time::Clock::system(),
        analytics::AnalyticsConfig::default(),
    );
    let now = platform::time::now_millis();
    let span = i64::from(args.days.max(1)) * 86_400_000;
    let start = now - span;
    let mut rng = Rng::new(0x5eed_a11a);
    let started = Instant::now();
    let mut batch = Vec::with_capacity(LOAD_BATCH);
    let mut orders = 0u64;
    let bar = progress::counted_bar(args.rows, "rows");
    for row in 0..args.rows {
        // Per ten rows: eight orders, one payment of the order before, one refund.
        let at = start + (span as u128 * u128::from(row) / u128::from(args.rows.max(1))) as i64;
        let kind = match row % 10 {
            8 => EventKind::Payment,
            9 => EventKind::Refund,
            _ => EventKind::Order,
        };
        if kind == EventKind::Order {
            orders += 1;
        }
        let order_id = format!("bench-{}", orders.max(1));
        let channel = Channel::ALL[rng.below(Channel::ALL.len())];
        let amount = 500 + rng.below(20_000) as i64;
        batch.push(EventReceived {
            id: format!("load-{row:010}"),
            tenant_id: args.tenant.clone(),
            provider: Provider::Shopify,
            provider_event_id: format!("load-{row}"),
            topic: "orders/create".into(),
            kind,
            external_id: match kind {
                EventKind::Order => order_id.clone(),
                _ => format!("bench-x-{row}"),
            },
            order_ref: Some(order_id),
            amount: Money {
                amount: if kind == EventKind::Refund {
                    amount / 4
                } else {
                    amount
                },
                currency: "USD".into(),
            },
            line_items: vec![LineItem {
                sku: Some("BENCH-1".into()),
                quantity: 1,
                unit_price: amount,
            }],
            occurred_at: platform::time::rfc3339(at),
            channel_fields: ChannelFields::default(),
            channel,
            customer_ref: Some(format!("customer-{}", rng.below(50_000))),
            received_at: platform::time::rfc3339(at),
        });
        if batch.len() == LOAD_BATCH {
            app.record_events(&batch).await?;
            batch.clear();
            if shutdown.is_cancelled() {
                bail!("interrupted after {} rows", row + 1);
            }
            bar.set_position(row + 1);
        }
    }
    app.record_events(&batch).await?;
    // The line below says what the bar said.
    bar.finish_and_clear();
    println!(
        "loaded {} ledger rows for tenant {} in {:.1} s",
        args.rows,
        args.tenant,
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// What `viscount bench analytics` measured.
#[derive(Debug, Serialize)]
pub struct AnalyticsReport {
    /// Realtime requests timed.
    pub realtime_requests: u32,
    /// Their median latency, ms.
    pub realtime_p50_ms: f64,
    /// Their 99th percentile, ms.
    pub realtime_p99_ms: f64,
    /// CSV rows exported.
    pub export_rows: u64,
    /// CSV rows per second.
    pub export_rows_per_second: f64,
    /// The server's resident memory before the export, MiB.
    pub server_idle_rss_mib: Option<f64>,
    /// Its peak during the export, MiB.
    pub server_peak_rss_mib: Option<f64>,
    /// Webhooks waited for.
    pub webhooks: u32,
    /// Median time from a webhook's 200 to its revenue in realtime, ms.
    pub webhook_to_revenue_p50_ms: f64,
    /// Its 99th percentile, ms.
    pub webhook_to_revenue_p99_ms: f64,
}

/// Runs `viscount bench analytics`.
pub async fn analytics(args: AnalyticsArgs) -> anyhow::Result<()> {
    let base = args.target.trim_end_matches('/').to_owned();
    let client = Client::builder()
        .tcp_nodelay(true)
        .timeout(Duration::from_secs(600))
        .build()
        .context("cannot build the HTTP client")?;
    let api = Api { client, base };
    let token = admin_token(
        &api,
        args.admin_email.as_deref(),
        args.admin_password.as_deref(),
        "the analytics bench",
    )
    .await?;
    let bearer = format!("Bearer {token}");

    // Realtime: a year ending now, from and to mid-hour, cycling the models.
    let mut realtime = histogram();
    let now = platform::time::now_millis();
    let models = [
        "last_touch",
        "first_touch",
        "linear",
        "time_decay",
        "position_based",
    ];
    for i in 0..args.requests {
        let to = now - i64::from(i) * 61_000;
        let from = to - 364 * 86_400_000 - 1_234_567;
        let path = format!(
            "/api/v1/attribution/revenue/realtime?tenant={}&model={}&from={}&to={}",
            args.tenant,
            models[i as usize % models.len()],
            encode(&platform::time::rfc3339(from)),
            encode(&platform::time::rfc3339(to)),
        );
        let started = Instant::now();
        let answer = must(
            api.client
                .get(api.url(&path))
                .header("Authorization", &bearer),
            "realtime",
        )
        .await?;
        let elapsed = started.elapsed();
        if !answer.status.is_success() {
            bail!("realtime answered {}: {}", answer.status, answer.snippet());
        }
        realtime.saturating_record(elapsed.as_micros() as u64);
    }

    // Export: the whole tenant as CSV, counting rows while the server's memory is read.
    let idle = args.server_pid.and_then(resident_mib);
    let sampler = args.server_pid.map(|pid| {
        let (stop, mut stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let mut peak: f64 = 0.0;
            loop {
                if let Some(rss) = resident_mib(pid) {
                    peak = peak.max(rss);
                }
                tokio::select! {
                    _ = &mut stopped => return peak,
                    () = tokio::time::sleep(Duration::from_millis(20)) => {}
                }
            }
        });
        (stop, task)
    });
    let started = Instant::now();
    let response = api
        .client
        .get(api.url(&format!(
            "/api/v1/export/revenue?format=csv&tenant={}&from=2000-01-01",
            args.tenant
        )))
        .header("Authorization", &bearer)
        .send()
        .await
        .context("export")?;
    if !response.status().is_success() {
        bail!("export answered {}", response.status());
    }
    let mut lines = 0u64;
    let mut response = response;
    while let Some(chunk) = response.chunk().await.context("export body")? {
        lines += chunk.iter().filter(|b| **b == b'\n').count() as u64;
    }
    let export_time = started.elapsed();
    let peak = match sampler {
        Some((stop, task)) => {
            let _ = stop.send(());
            task.await.ok()
        }
        None => None,
    };
    let export_rows = lines.saturating_sub(1);

    // Webhook to revenue: a tenant with a Shopify source, one order at a time.
    let secret = format!("bench-{}", platform::ids::new_id());
    let created = must(
        api.post("/api/v1/tenants")
            .header("Authorization", &bearer)
            .json(&json!({"name": "analytics bench"})),
        "tenant",
    )
    .await?;
    let created: Value = parse(&created, "tenant")?;
    let tenant = created["id"].as_str().context("tenant id")?.to_owned();
    must(
        api.put(&format!("/api/v1/tenants/{tenant}/sources/shopify"))
            .header("Authorization", &bearer)
            .json(&json!({"secret": secret})),
        "source",
    )
    .await?;
    let mut to_revenue = histogram();
    let mut total = 0i64;
    for i in 0..args.webhooks {
        let order_at = platform::time::rfc3339(platform::time::now_millis());
        let body = serde_json::to_vec(&json!({
            "id": 1_000_000 + u64::from(i), "currency": "USD", "total_price": "1.00",
            "created_at": order_at, "source_name": "web", "line_items": []
        }))?;
        let signature = ingestion::domain::signature::sign::shopify(secret.as_bytes(), &body);
        let answer = must(
            api.post(&format!("/webhooks/shopify/orders/create?tenant={tenant}"))
                .header("content-type", "application/json")
                .header("X-Shopify-Hmac-Sha256", signature)
                .header("X-Shopify-Topic", "orders/create")
                .header(
                    "X-Shopify-Webhook-Id",
                    format!("bench-wh-{i}-{}", platform::ids::new_id()),
                )
                .body(body),
            "webhook",
        )
        .await?;
        if answer.status.as_u16() != 200 {
            bail!("webhook answered {}: {}", answer.status, answer.snippet());
        }
        let accepted = Instant::now();
        total += 100;
        // The day around now (a realtime question may span at most a year).
        let now = platform::time::now_millis();
        let path = format!(
            "/api/v1/attribution/revenue/realtime?tenant={tenant}&from={}&to={}",
            encode(&platform::time::rfc3339(now - 86_400_000)),
            encode(&platform::time::rfc3339(now + 3_600_000)),
        );
        loop {
            let answer = must(
                api.client
                    .get(api.url(&path))
                    .header("Authorization", &bearer),
                "realtime",
            )
            .await?;
            let seen: Value = parse(&answer, "realtime")?;
            if seen["total"]["amount"].as_i64() == Some(total) {
                break;
            }
            if accepted.elapsed() > Duration::from_secs(30) {
                bail!("webhook {i}'s revenue did not show within 30 s");
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        to_revenue.saturating_record(accepted.elapsed().as_micros() as u64);
    }

    let ms = |h: &Histogram<u64>, q: f64| h.value_at_quantile(q) as f64 / 1_000.0;
    let report = AnalyticsReport {
        realtime_requests: args.requests,
        realtime_p50_ms: ms(&realtime, 0.5),
        realtime_p99_ms: ms(&realtime, 0.99),
        export_rows,
        export_rows_per_second: export_rows as f64 / export_time.as_secs_f64().max(1e-9),
        server_idle_rss_mib: idle,
        server_peak_rss_mib: peak,
        webhooks: args.webhooks,
        webhook_to_revenue_p50_ms: ms(&to_revenue, 0.5),
        webhook_to_revenue_p99_ms: ms(&to_revenue, 0.99),
    };
    if args.json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        println!(
            "realtime revenue     {} requests  p50 {:.2} ms  p99 {:.2} ms",
            report.realtime_requests, report.realtime_p50_ms, report.realtime_p99_ms
        );
        println!(
            "CSV export           {} rows  {:.0} rows/s",
            report.export_rows, report.export_rows_per_second
        );
        if let (Some(idle), Some(peak)) = (report.server_idle_rss_mib, report.server_peak_rss_mib) {
            println!(
                "server memory        idle {idle:.1} MiB  peak during export {peak:.1} MiB  (+{:.1} MiB)",
                peak - idle
            );
        }
        println!(
            "webhook to revenue   {} webhooks  p50 {:.1} ms  p99 {:.1} ms",
            report.webhooks, report.webhook_to_revenue_p50_ms, report.webhook_to_revenue_p99_ms
        );
    }
    Ok(())
}

fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 600_000_000, 3)
        .unwrap_or_else(|_| Histogram::new(3).unwrap_or_else(|_| unreachable!()))
}

/// A query value with the characters RFC 3339 times carry escaped.
fn encode(value: &str) -> String {
    value.replace('+', "%2B").replace(':', "%3A")
}

/// The resident memory of process `pid`, MiB (Linux).
fn resident_mib(pid: u32) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}
