//! `viscount bench latency`: the latency of one GET under N connections, against one
//! or more URLs in turn (e.g. a product through the gateway and straight from catalog,
//! which gives the gateway's added latency).

use std::time::{Duration, Instant};

use hdrhistogram::Histogram;

/// Arguments of `viscount bench latency`.
#[derive(Debug, Clone, clap::Args)]
pub struct LatencyArgs {
    /// The URLs to GET, measured one after another (repeatable).
    #[arg(long = "url", required = true)]
    pub urls: Vec<String>,
    /// A header sent with every request, as `Name: value` (repeatable), e.g. a bearer
    /// token so the gateway's anonymous cache does not answer.
    #[arg(long = "header")]
    pub headers: Vec<String>,
    /// Concurrent connections, each sending its next request when the last answered.
    #[arg(long, default_value_t = 32)]
    pub connections: usize,
    /// How long each URL is measured.
    #[arg(long, default_value = "10s", value_parser = humantime::parse_duration)]
    pub duration: Duration,
    /// Not recorded at the start of each URL's run.
    #[arg(long, default_value = "2s", value_parser = humantime::parse_duration)]
    pub warmup: Duration,
}

/// One URL's figures.
#[derive(Debug)]
pub struct LatencyReport {
    /// The URL.
    pub url: String,
    /// Answers per second over the measured part.
    pub per_second: f64,
    /// Median, 90th and 99th percentile in microseconds.
    pub p50_us: u64,
    /// 90th percentile.
    pub p90_us: u64,
    /// 99th percentile.
    pub p99_us: u64,
    /// Answers that were not 2xx/304, or no answer.
    pub errors: u64,
}

/// Runs the bench and prints a table.
pub async fn latency(args: LatencyArgs) -> anyhow::Result<()> {
    let mut headers = reqwest::header::HeaderMap::new();
    for raw in &args.headers {
        let (name, value) = raw
            .split_once(':')
            .ok_or_else(|| anyhow::anyhow!("--header must be `Name: value`, got `{raw}`"))?;
        headers.insert(
            reqwest::header::HeaderName::from_bytes(name.trim().as_bytes())?,
            reqwest::header::HeaderValue::from_str(value.trim())?,
        );
    }
    let client = reqwest::Client::builder()
        .default_headers(headers)
        .pool_max_idle_per_host(args.connections)
        .timeout(Duration::from_secs(30))
        .build()?;
    println!(
        "{} connections, {} per URL after {} warm-up",
        args.connections,
        humantime::format_duration(args.duration),
        humantime::format_duration(args.warmup)
    );
    println!(
        "{:>10} {:>10} {:>10} {:>10} {:>8}  url",
        "req/s", "p50", "p90", "p99", "errors"
    );
    for url in &args.urls {
        let report = measure(&client, url, &args).await?;
        let ms = |us: u64| format!("{:.2} ms", us as f64 / 1000.0);
        println!(
            "{:>10.0} {:>10} {:>10} {:>10} {:>8}  {}",
            report.per_second,
            ms(report.p50_us),
            ms(report.p90_us),
            ms(report.p99_us),
            report.errors,
            report.url
        );
    }
    Ok(())
}

async fn measure(
    client: &reqwest::Client,
    url: &str,
    args: &LatencyArgs,
) -> anyhow::Result<LatencyReport> {
    let targets = vec![(client.clone(), url.to_owned()); args.connections];
    measure_each(&targets, args.duration, args.warmup).await
}

/// The latency of GETs at once, one per `(client, url)` of `targets` (a connection
/// each, its next request sent when the last answered), over `duration` after
/// `warmup`; reported under the first URL.
pub(super) async fn measure_each(
    targets: &[(reqwest::Client, String)],
    duration: Duration,
    warmup: Duration,
) -> anyhow::Result<LatencyReport> {
    let started = Instant::now();
    let measure_from = started + warmup;
    let end = measure_from + duration;
    let url = targets
        .first()
        .map(|(_, url)| url.clone())
        .unwrap_or_default();
    let workers: Vec<_> = targets
        .iter()
        .map(|(client, url)| {
            let (client, url) = (client.clone(), url.clone());
            tokio::spawn(async move {
                let mut histogram = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3)?;
                let mut errors = 0u64;
                while Instant::now() < end {
                    let sent = Instant::now();
                    let ok = match client.get(&url).send().await {
                        Ok(answer) => {
                            let status = answer.status();
                            answer.bytes().await.is_ok()
                                && (status.is_success() || status.as_u16() == 304)
                        }
                        Err(_) => false,
                    };
                    if sent >= measure_from {
                        if ok {
                            histogram.saturating_record(sent.elapsed().as_micros() as u64);
                        } else {
                            errors += 1;
                        }
                    }
                }
                Ok::<_, anyhow::Error>((histogram, errors))
            })
        })
        .collect();
    let mut total = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3)?;
    let mut errors = 0;
    for worker in workers {
        let (histogram, worker_errors) = worker.await??;
        total.add(histogram)?;
        errors += worker_errors;
    }
    Ok(LatencyReport {
        url,
        per_second: total.len() as f64 / duration.as_secs_f64(),
        p50_us: total.value_at_quantile(0.50),
        p90_us: total.value_at_quantile(0.90),
        p99_us: total.value_at_quantile(0.99),
        errors,
    })
}
