//! The load generators: `viscount bench checkout`, which shops through the public API,
//! and `viscount bench ingest` ([`ingest`]), which posts signed provider webhooks.
//!
//! N virtual customers (one tokio task each) register and sign in, then loop until the
//! run ends: browse the catalog, search it, fill a new cart with one to three bench
//! products and check out with `Prefer: wait=30`, so a `201` is a settled order
//! (confirmed or cancelled) and a `202` one that did not settle in time. `--seed` first
//! creates the bench products (`BENCH-0001`…), a `BENCH` warehouse and plenty of stock
//! as an admin, and waits until ordering knows every price.
//!
//! Registration and sign-in happen before the clock starts; the run then lasts
//! `--duration`, of which the first `--warmup` is not recorded. The report gives settled
//! checkouts per second over the measured part, the latency of each step's successful
//! requests from HDR histograms, and the errors by kind.
//!
//! This module holds the pure parts (arguments, the tally of errors,
//! the recorder and the report, the table pieces every bench prints); [`run`] talks to
//! the platform. Both benches share them: latencies and errors are recorded per
//! [`Lane`] (checkout's steps, ingest's providers).

mod analytics;
mod console;
mod ingest;
mod ingest_run;
mod latency;
mod run;

use std::collections::BTreeMap;
use std::fmt;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use serde::Serialize;

pub use analytics::{AnalyticsArgs, AnalyticsLoadArgs, AnalyticsReport, analytics, analytics_load};
pub use console::{ConsoleArgs, console};
pub use ingest::{IngestArgs, IngestReport};
pub use ingest_run::ingest;
pub use latency::{LatencyArgs, latency};
pub use run::checkout;

/// Arguments of `viscount bench checkout`.
#[derive(Debug, Clone, clap::Args)]
pub struct CheckoutArgs {
    /// The gateway's base URL.
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    pub target: String,
    /// Virtual customers shopping at once.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub customers: u32,
    /// How long the run lasts, warm-up included (e.g. 60s, 2m, 1m30s, 500ms).
    #[arg(long, default_value = "60s", value_parser = humantime::parse_duration)]
    pub duration: Duration,
    /// The first part of the run whose requests are not recorded.
    #[arg(long, default_value = "5s", value_parser = humantime::parse_duration)]
    pub warmup: Duration,
    /// First create the bench products, their warehouse and stock (needs an admin).
    #[arg(long)]
    pub seed: bool,
    /// How many bench products --seed creates (BENCH-0001...).
    #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u32).range(1..=9_999))]
    pub products: u32,
    /// End the run once this many checkouts have settled (warm-up included), or at
    /// --duration, whichever comes first.
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    pub orders: Option<u64>,
    /// After the run, wait for the confirmation email of every order confirmed during
    /// it and report the delay from `ordering.order.confirmed` to the mail server
    /// accepting the message (notifications' `event_time` → `sent_at`).
    #[arg(long)]
    pub confirmation_delays: bool,
    /// Pay with this provider token (`tok_visa`, `pm_card_visa`: the sandbox and
    /// Stripe both take them) instead of the sandbox's test card number, which a live
    /// provider refuses.
    #[arg(long, value_name = "TOKEN")]
    pub card_token: Option<String>,
    /// Print one JSON object instead of the table.
    #[arg(long)]
    pub json: bool,
    /// Admin email for --seed.
    #[arg(long, env = "VISCOUNT_BOOTSTRAP_ADMIN_EMAIL", hide_env_values = true)]
    pub admin_email: Option<String>,
    /// Admin password for --seed.
    #[arg(
        long,
        env = "VISCOUNT_BOOTSTRAP_ADMIN_PASSWORD",
        hide_env_values = true
    )]
    pub admin_password: Option<String>,
}

/// One step of a shopper's visit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Step {
    /// `POST /api/v1/users` (set-up, before the clock).
    Register,
    /// `POST /api/v1/auth/login`, and `/auth/refresh` when the token runs out.
    Login,
    /// `GET /api/v1/products?limit=20`.
    Browse,
    /// `GET /api/v1/products/search?q=`.
    Search,
    /// `POST /api/v1/carts`.
    Cart,
    /// `PUT /api/v1/carts/{id}/items`.
    AddItem,
    /// `POST /api/v1/orders`.
    Checkout,
}

impl Step {
    /// Every step, in the order a visit makes them.
    pub const ALL: [Step; 7] = [
        Step::Register,
        Step::Login,
        Step::Browse,
        Step::Search,
        Step::Cart,
        Step::AddItem,
        Step::Checkout,
    ];

    /// The step's name in reports.
    pub fn name(self) -> &'static str {
        match self {
            Step::Register => "register",
            Step::Login => "login",
            Step::Browse => "browse",
            Step::Search => "search",
            Step::Cart => "cart",
            Step::AddItem => "add_item",
            Step::Checkout => "checkout",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// What a bench records latencies and counts errors by: the steps of a checkout visit,
/// the providers of `bench ingest`. Each lane gets its own histogram and its own rows in
/// the error list.
pub trait Lane: Copy + Ord + fmt::Debug + 'static {
    /// Every lane, in report order.
    fn all() -> &'static [Self];

    /// The lane's name in reports.
    fn name(self) -> &'static str;

    /// The lane's position in [`Lane::all`].
    fn position(self) -> usize {
        Self::all()
            .iter()
            .position(|lane| *lane == self)
            .unwrap_or_default()
    }
}

impl Lane for Step {
    fn all() -> &'static [Self] {
        &Step::ALL
    }

    fn name(self) -> &'static str {
        Step::name(self)
    }

    fn position(self) -> usize {
        self.index()
    }
}

/// What went wrong with one request of lane `L`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ErrorKind<L = Step> {
    /// An HTTP status the step does not expect.
    Status(L, u16),
    /// No HTTP response: `connect`, `timeout`, `body` or `request`.
    Transport(L, &'static str),
    /// A response whose body is not what the API promises.
    BadBody(L),
    /// A checkout answered `202`: the order did not settle within `Prefer: wait`.
    Unsettled,
    /// A webhook answered `202`: signed correctly but dead-lettered, not stored.
    Dead(L),
}

impl<L: Lane> fmt::Display for ErrorKind<L> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ErrorKind::Status(step, status) => write!(f, "{} HTTP {status}", step.name()),
            ErrorKind::Transport(step, kind) => write!(f, "{} transport {kind}", step.name()),
            ErrorKind::BadBody(step) => write!(f, "{} bad body", step.name()),
            ErrorKind::Unsettled => f.write_str("checkout unsettled (202)"),
            ErrorKind::Dead(lane) => write!(f, "{} dead-lettered (202)", lane.name()),
        }
    }
}

/// How often each kind of error happened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tally<L = Step> {
    counts: BTreeMap<ErrorKind<L>, u64>,
}

impl<L> Default for Tally<L> {
    fn default() -> Self {
        Self {
            counts: BTreeMap::new(),
        }
    }
}

impl<L: Lane> Tally<L> {
    /// Counts one more `kind`.
    pub fn add(&mut self, kind: ErrorKind<L>) {
        *self.counts.entry(kind).or_default() += 1;
    }

    /// Adds every count of `other`.
    pub fn merge(&mut self, other: &Tally<L>) {
        for (kind, count) in &other.counts {
            *self.counts.entry(kind.clone()).or_default() += count;
        }
    }

    /// All errors.
    pub fn total(&self) -> u64 {
        self.counts.values().sum()
    }

    /// Kinds and counts, most frequent first (ties in step order).
    pub fn ranked(&self) -> Vec<(&ErrorKind<L>, u64)> {
        let mut ranked: Vec<_> = self.counts.iter().map(|(k, c)| (k, *c)).collect();
        ranked.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(b.0)));
        ranked
    }

    /// The ranked kinds by their names, for a report.
    pub fn report(&self) -> Ordered<u64> {
        Ordered(
            self.ranked()
                .into_iter()
                .map(|(kind, count)| (kind.to_string(), count))
                .collect(),
        )
    }
}

/// Distinct cancel reasons (or outcomes) kept before the rest are counted as
/// `(other reasons)`: the target names them, so their number is bounded here.
const MAX_REASONS: usize = 20;
const OTHER_REASONS: &str = "(other reasons)";

/// Adds `count` to `key` in `counts`, or to [`OTHER_REASONS`] once [`MAX_REASONS`]
/// distinct keys are there.
fn add_capped(counts: &mut BTreeMap<String, u64>, key: &str, count: u64) {
    let key = if counts.contains_key(key) || counts.len() < MAX_REASONS {
        key
    } else {
        OTHER_REASONS
    };
    *counts.entry(key.to_owned()).or_default() += count;
}

/// Latency ceiling of the histograms, in microseconds (60 s).
const HISTOGRAM_MAX_MICROS: u64 = 60_000_000;

fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, HISTOGRAM_MAX_MICROS, 3)
        .expect("1 µs to 60 s at 3 significant digits are valid histogram bounds")
}

/// What one worker (a customer, a connection) or the whole run, once merged, saw. Only
/// requests started at or after `measure_from` count.
#[derive(Debug, Clone)]
pub struct Recorder<L = Step> {
    measure_from: Instant,
    /// One histogram per lane, in [`Lane::all`] order.
    latencies: Vec<Histogram<u64>>,
    errors: Tally<L>,
    /// Successes (what the bench's rate counts) by the outcome the target named:
    /// a settled order's status, a webhook's `stored` or `duplicate`.
    outcomes: BTreeMap<String, u64>,
    cancel_reasons: BTreeMap<String, u64>,
}

impl<L: Lane> Recorder<L> {
    /// A recorder ignoring what starts before `measure_from`.
    pub fn new(measure_from: Instant) -> Self {
        Self {
            measure_from,
            latencies: L::all().iter().map(|_| histogram()).collect(),
            errors: Tally::default(),
            outcomes: BTreeMap::new(),
            cancel_reasons: BTreeMap::new(),
        }
    }

    /// Whether a request started at `started` is recorded.
    pub fn counts(&self, started: Instant) -> bool {
        started >= self.measure_from
    }

    /// Records a successful request of `lane`.
    pub fn latency(&mut self, lane: L, started: Instant, elapsed: Duration) {
        if self.counts(started) {
            let micros = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX);
            if let Some(histogram) = self.latencies.get_mut(lane.position()) {
                histogram.saturating_record(micros.max(1));
            }
        }
    }

    /// Records a failed request.
    pub fn error(&mut self, started: Instant, kind: ErrorKind<L>) {
        if self.counts(started) {
            self.errors.add(kind);
        }
    }

    /// Records one success of the bench (what its rate counts) and its outcome.
    pub fn succeeded(&mut self, started: Instant, outcome: &str) {
        if self.counts(started) {
            add_capped(&mut self.outcomes, outcome, 1);
        }
    }

    /// Adds everything `other` recorded.
    pub fn merge(&mut self, other: &Recorder<L>) {
        for (mine, theirs) in self.latencies.iter_mut().zip(&other.latencies) {
            mine.add(theirs)
                .expect("every bench histogram has the same bounds");
        }
        self.errors.merge(&other.errors);
        for (outcome, count) in &other.outcomes {
            add_capped(&mut self.outcomes, outcome, *count);
        }
        for (reason, count) in &other.cancel_reasons {
            add_capped(&mut self.cancel_reasons, reason, *count);
        }
    }

    /// Successes recorded.
    pub fn successes(&self) -> u64 {
        self.outcomes.values().sum()
    }

    /// Successes recorded with `outcome`.
    pub fn outcome(&self, outcome: &str) -> u64 {
        self.outcomes.get(outcome).copied().unwrap_or_default()
    }

    /// The errors recorded.
    pub fn errors(&self) -> &Tally<L> {
        &self.errors
    }

    /// Latency figures of each lane, in [`Lane::all`] order, named.
    pub fn lane_stats(&self) -> Ordered<StepStats> {
        Ordered(
            L::all()
                .iter()
                .zip(&self.latencies)
                .map(|(lane, histogram)| (lane.name().to_owned(), StepStats::of(histogram)))
                .collect(),
        )
    }

    /// Latency figures of every lane together.
    pub fn overall_stats(&self) -> StepStats {
        let mut all = histogram();
        for histogram in &self.latencies {
            all.add(histogram)
                .expect("every bench histogram has the same bounds");
        }
        StepStats::of(&all)
    }
}

impl Recorder<Step> {
    /// Records a settled checkout and its final status.
    pub fn settled(&mut self, started: Instant, status: &str, cancel_reason: Option<&str>) {
        if !self.counts(started) {
            return;
        }
        self.succeeded(started, status);
        if status == "cancelled" {
            add_capped(
                &mut self.cancel_reasons,
                cancel_reason.unwrap_or("(no reason given)"),
                1,
            );
        }
    }

    /// Settled checkouts recorded.
    pub fn settled_count(&self) -> u64 {
        self.successes()
    }
}

/// Latency figures of one step, in milliseconds.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StepStats {
    /// Successful requests recorded.
    pub count: u64,
    /// Median.
    pub p50_ms: f64,
    /// 95th percentile.
    pub p95_ms: f64,
    /// 99th percentile.
    pub p99_ms: f64,
    /// Slowest.
    pub max_ms: f64,
}

impl StepStats {
    /// The figures of durations given in milliseconds.
    pub fn of_millis(values: impl IntoIterator<Item = i64>) -> Self {
        let mut recorded = histogram();
        for millis in values {
            let micros = u64::try_from(millis.max(0))
                .unwrap_or(0)
                .saturating_mul(1_000);
            let _ = recorded.record(micros.clamp(1, HISTOGRAM_MAX_MICROS));
        }
        Self::of(&recorded)
    }

    fn of(histogram: &Histogram<u64>) -> Self {
        let ms = |micros: u64| micros as f64 / 1_000.0;
        if histogram.is_empty() {
            return Self {
                count: 0,
                p50_ms: 0.0,
                p95_ms: 0.0,
                p99_ms: 0.0,
                max_ms: 0.0,
            };
        }
        Self {
            count: histogram.len(),
            p50_ms: ms(histogram.value_at_quantile(0.50)),
            p95_ms: ms(histogram.value_at_quantile(0.95)),
            p99_ms: ms(histogram.value_at_quantile(0.99)),
            max_ms: ms(histogram.max()),
        }
    }
}

/// Named entries serialized as a JSON object in their order here.
#[derive(Debug, Clone, PartialEq)]
pub struct Ordered<V>(pub Vec<(String, V)>);

impl<V: Serialize> Serialize for Ordered<V> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_map(self.0.iter().map(|(k, v)| (k, v)))
    }
}

/// Facts about a run that the recorder does not know.
#[derive(Debug, Clone)]
pub struct RunFacts {
    /// The gateway driven.
    pub target: String,
    /// Workers that ran: customers that shopped (registered and signed in), or
    /// connections that sent webhooks.
    pub workers: usize,
    /// The planned run, warm-up included.
    pub duration: Duration,
    /// The unrecorded start of the run.
    pub warmup: Duration,
    /// The recorded part of the run as it happened (shorter when interrupted).
    pub measured: Duration,
    /// Whether ctrl-c ended the run early.
    pub interrupted: bool,
}

impl RunFacts {
    /// `count` per second of the measured part (0 when nothing was measured).
    pub fn per_second(&self, count: u64) -> f64 {
        let measured_s = self.measured.as_secs_f64();
        if measured_s > 0.0 {
            count as f64 / measured_s
        } else {
            0.0
        }
    }
}

/// The figures of a run, printed as a table or as JSON.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    /// The gateway driven.
    pub target: String,
    /// Customers that shopped.
    pub customers: usize,
    /// The planned run in seconds, warm-up included.
    pub duration_s: f64,
    /// The unrecorded warm-up in seconds.
    pub warmup_s: f64,
    /// The recorded part of the run in seconds.
    pub measured_s: f64,
    /// Whether ctrl-c ended the run early.
    pub interrupted: bool,
    /// Checkouts that answered `201` with a settled order.
    pub settled_checkouts: u64,
    /// Settled checkouts per second of the measured period.
    pub settled_per_second: f64,
    /// Settled as `confirmed`.
    pub confirmed: u64,
    /// Settled as `cancelled`.
    pub cancelled: u64,
    /// Settled in any other status.
    pub other_settled: u64,
    /// Latency of each step's successful requests.
    pub steps: Ordered<StepStats>,
    /// All errors.
    pub errors_total: u64,
    /// Errors by kind, most frequent first.
    pub errors: Ordered<u64>,
    /// Why cancelled orders were cancelled, most frequent first.
    pub cancel_reasons: Ordered<u64>,
    /// With `--confirmation-delays`: order confirmed → confirmation email accepted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub confirmation_delays: Option<ConfirmationDelays>,
}

/// How long confirmation emails took, from the order's confirmation event to the mail
/// server accepting the message.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ConfirmationDelays {
    /// Orders confirmed during the run (warm-up included).
    pub orders: u64,
    /// The delays of the emails that were sent.
    pub delay: StepStats,
    /// Orders whose email was not sent in time (still queued, failed or suppressed).
    pub missing: u64,
}

impl Report {
    /// The report of `recorded` over a run described by `facts`.
    pub fn new(recorded: &Recorder, facts: &RunFacts) -> Self {
        let settled = recorded.settled_count();
        let confirmed = recorded.outcome("confirmed");
        let cancelled = recorded.outcome("cancelled");
        let mut reasons: Vec<(String, u64)> = recorded
            .cancel_reasons
            .iter()
            .map(|(reason, count)| (reason.clone(), *count))
            .collect();
        reasons.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        Self {
            target: facts.target.clone(),
            customers: facts.workers,
            duration_s: facts.duration.as_secs_f64(),
            warmup_s: facts.warmup.as_secs_f64(),
            measured_s: facts.measured.as_secs_f64(),
            interrupted: facts.interrupted,
            settled_checkouts: settled,
            settled_per_second: facts.per_second(settled),
            confirmed,
            cancelled,
            other_settled: settled.saturating_sub(confirmed + cancelled),
            steps: recorded.lane_stats(),
            errors_total: recorded.errors.total(),
            errors: recorded.errors.report(),
            cancel_reasons: Ordered(reasons),
            confirmation_delays: None,
        }
    }

    /// The report as one line of JSON.
    pub fn json(&self) -> String {
        serde_json::to_string(self).expect("a report is plain numbers and strings")
    }

    /// The report as a human-readable table.
    pub fn table(&self) -> String {
        use std::fmt::Write as _;
        let mut out = String::new();
        write_heading(
            &mut out,
            "bench checkout",
            &format!("{} customers", self.customers),
            self.duration_s,
            self.warmup_s,
            &self.target,
            self.interrupted,
        );
        let other = if self.other_settled > 0 {
            format!(", other {}", self.other_settled)
        } else {
            String::new()
        };
        write_rate(
            &mut out,
            "settled checkouts",
            self.settled_checkouts,
            self.measured_s,
            self.settled_per_second,
            &format!(
                "confirmed {}, cancelled {}{other}",
                self.confirmed, self.cancelled
            ),
        );
        let _ = writeln!(out);
        write_latencies(
            &mut out,
            "step",
            &self.steps,
            "(successful requests only; register and the first login happen before the clock)",
        );
        let _ = writeln!(out);
        write_errors(&mut out, self.errors_total, &self.errors);
        if !self.cancel_reasons.0.is_empty() {
            let _ = writeln!(out, "cancel reasons:");
            write_counts(&mut out, &self.cancel_reasons);
        }
        if let Some(delays) = &self.confirmation_delays {
            let d = &delays.delay;
            let _ = writeln!(out);
            let _ = writeln!(
                out,
                "order confirmed -> confirmation email accepted: {} of {} orders, p50 {:.1} ms, p95 {:.1} ms, p99 {:.1} ms, max {:.1} ms{}",
                d.count,
                delays.orders,
                d.p50_ms,
                d.p95_ms,
                d.p99_ms,
                d.max_ms,
                if delays.missing > 0 {
                    format!(" ({} not sent in time)", delays.missing)
                } else {
                    String::new()
                }
            );
        }
        out
    }
}

/// The first line of a bench's table: what ran, how long, against what.
pub fn write_heading(
    out: &mut String,
    bench: &str,
    workers: &str,
    duration_s: f64,
    warmup_s: f64,
    target: &str,
    interrupted: bool,
) {
    use std::fmt::Write as _;
    // Whole milliseconds: the seconds came from a `Duration`, and float noise would
    // print as nanoseconds.
    let secs =
        |s: f64| humantime::format_duration(Duration::from_millis((s * 1_000.0).round() as u64));
    let _ = writeln!(
        out,
        "{bench}: {workers}, {} run ({} warm-up) against {target}{}",
        secs(duration_s),
        secs(warmup_s),
        if interrupted { " (interrupted)" } else { "" }
    );
}

/// The line of a bench's headline rate: `label: count in 5.0s = 2.00/s (detail)`.
pub fn write_rate(
    out: &mut String,
    label: &str,
    count: u64,
    measured_s: f64,
    per_second: f64,
    detail: &str,
) {
    use std::fmt::Write as _;
    let _ = write!(
        out,
        "{label}: {count} in {measured_s:.1}s = {per_second:.2}/s"
    );
    if detail.is_empty() {
        let _ = writeln!(out);
    } else {
        let _ = writeln!(out, " ({detail})");
    }
}

/// The latency table: one row per lane (a dash for lanes without requests), then
/// `note`. The first column is at least 10 wide, wider for longer names.
pub fn write_latencies(out: &mut String, column: &str, rows: &Ordered<StepStats>, note: &str) {
    use std::fmt::Write as _;
    let width = rows
        .0
        .iter()
        .map(|(name, _)| name.chars().count())
        .chain([column.chars().count(), 10])
        .max()
        .unwrap_or(10);
    let _ = writeln!(
        out,
        "{column:<width$} {:>8} {:>10} {:>10} {:>10} {:>10}",
        "count", "p50 ms", "p95 ms", "p99 ms", "max ms"
    );
    for (name, stats) in &rows.0 {
        if stats.count == 0 {
            let _ = writeln!(
                out,
                "{name:<width$} {:>8} {:>10} {:>10} {:>10} {:>10}",
                0, "-", "-", "-", "-"
            );
        } else {
            let _ = writeln!(
                out,
                "{name:<width$} {:>8} {:>10.2} {:>10.2} {:>10.2} {:>10.2}",
                stats.count, stats.p50_ms, stats.p95_ms, stats.p99_ms, stats.max_ms
            );
        }
    }
    let _ = writeln!(out, "{note}");
}

/// `errors: none`, or the total and each kind with its count.
pub fn write_errors(out: &mut String, total: u64, errors: &Ordered<u64>) {
    use std::fmt::Write as _;
    if errors.0.is_empty() {
        let _ = writeln!(out, "errors: none");
    } else {
        let _ = writeln!(out, "errors: {total}");
        write_counts(out, errors);
    }
}

/// Indented `name  count` lines.
fn write_counts(out: &mut String, counts: &Ordered<u64>) {
    use std::fmt::Write as _;
    for (name, count) in &counts.0 {
        let _ = writeln!(out, "  {name:<36} {count:>8}");
    }
}

/// A bench product: what `--seed` creates as number `n` (1-based).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BenchProduct {
    /// `BENCH-0001`...
    pub sku: String,
    /// A name made of searchable words.
    pub name: String,
    /// A short description.
    pub description: String,
    /// Price in cents, between 1.99 and 99.99.
    pub price_cents: i64,
}

const ADJECTIVES: &[&str] = &[
    "swift", "steady", "quiet", "sturdy", "bright", "nimble", "humble", "clever", "gentle",
    "brisk", "plain", "rapid", "calm",
];
const NOUNS: &[&str] = &[
    "widget", "gadget", "sprocket", "gizmo", "bracket", "spindle", "lever", "pulley", "ratchet",
    "flange", "toggle",
];

/// The `n`th bench product (1-based); the same `n` always gives the same product.
pub fn bench_product(n: u32) -> BenchProduct {
    let i = n as usize;
    let adjective = ADJECTIVES[(i * 7) % ADJECTIVES.len()];
    let noun = NOUNS[i % NOUNS.len()];
    BenchProduct {
        sku: format!("BENCH-{n:04}"),
        name: format!("Bench {adjective} {noun}"),
        description: format!(
            "A {adjective} {noun} made for load tests of the checkout (bench item {n})."
        ),
        price_cents: 199 + (i64::from(n) * 613) % 98 * 100,
    }
}

/// Distinct lowercase words of at least three letters in `names`, for searches.
pub fn search_words<'a>(names: impl IntoIterator<Item = &'a str>) -> Vec<String> {
    let mut words: Vec<String> = names
        .into_iter()
        .flat_map(|name| name.split(|c: char| !c.is_alphanumeric()))
        .filter(|word| word.chars().count() >= 3)
        .map(str::to_lowercase)
        .collect();
    words.sort();
    words.dedup();
    words
}

/// A small, fast pseudo-random generator (SplitMix64); good enough to pick products.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator starting at `seed`.
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (`n` > 0).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n.max(1) as u64) as usize
    }

    /// Up to `count` distinct indexes below `n`.
    pub fn distinct(&mut self, count: usize, n: usize) -> Vec<usize> {
        let mut picked: Vec<usize> = Vec::with_capacity(count);
        while picked.len() < count.min(n) {
            let candidate = self.below(n);
            if !picked.contains(&candidate) {
                picked.push(candidate);
            }
        }
        picked
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_on_the_command_line_read_like_people_write_them() {
        #[derive(clap::Parser)]
        struct Cli {
            #[command(flatten)]
            args: CheckoutArgs,
        }
        let parse = |extra: &[&str]| {
            <Cli as clap::Parser>::try_parse_from(["checkout"].iter().chain(extra))
                .map(|cli| cli.args)
        };
        let args = parse(&["--duration", "1m30s", "--warmup", "500ms"]).expect("parses");
        assert_eq!(args.duration, Duration::from_secs(90));
        assert_eq!(args.warmup, Duration::from_millis(500));
        let defaults = parse(&[]).expect("parses");
        assert_eq!(defaults.duration, Duration::from_secs(60));
        assert_eq!(defaults.warmup, Duration::from_secs(5));
        assert_eq!(
            parse(&["--duration", "2m"]).expect("parses").duration,
            Duration::from_secs(120)
        );
        for bad in ["", "ten seconds", "-5s", "5x"] {
            assert!(parse(&["--duration", bad]).is_err(), "{bad:?} is refused");
        }
    }

    #[test]
    fn the_tally_counts_ranks_and_merges_kinds() {
        let mut a = Tally::default();
        a.add(ErrorKind::Status(Step::Checkout, 409));
        a.add(ErrorKind::Unsettled);
        a.add(ErrorKind::Unsettled);
        let mut b = Tally::default();
        b.add(ErrorKind::Transport(Step::Browse, "timeout"));
        b.add(ErrorKind::Status(Step::Checkout, 409));
        b.add(ErrorKind::Status(Step::Checkout, 409));
        a.merge(&b);
        assert_eq!(a.total(), 6);
        let ranked: Vec<(String, u64)> = a
            .ranked()
            .into_iter()
            .map(|(k, c)| (k.to_string(), c))
            .collect();
        assert_eq!(
            ranked,
            vec![
                ("checkout HTTP 409".to_owned(), 3),
                ("checkout unsettled (202)".to_owned(), 2),
                ("browse transport timeout".to_owned(), 1),
            ]
        );
    }

    #[test]
    fn warm_up_requests_are_not_recorded() {
        let start = Instant::now();
        let measure_from = start + Duration::from_secs(5);
        let mut recorder = Recorder::new(measure_from);
        recorder.latency(Step::Browse, start, Duration::from_millis(3));
        recorder.error(start, ErrorKind::Unsettled);
        recorder.settled(start, "confirmed", None);
        assert_eq!(recorder.settled_count(), 0);
        assert_eq!(recorder.errors().total(), 0);
        recorder.latency(Step::Browse, measure_from, Duration::from_millis(3));
        recorder.error(measure_from, ErrorKind::Unsettled);
        recorder.settled(measure_from, "cancelled", Some("payment declined"));
        assert_eq!(recorder.settled_count(), 1);
        assert_eq!(recorder.errors().total(), 1);
    }

    fn sample_report() -> Report {
        let start = Instant::now();
        let mut one = Recorder::new(start);
        let mut two = Recorder::new(start);
        for ms in 1..=100 {
            one.latency(Step::Browse, start, Duration::from_millis(ms));
        }
        two.latency(Step::Checkout, start, Duration::from_millis(250));
        for _ in 0..8 {
            one.settled(start, "confirmed", None);
        }
        two.settled(start, "cancelled", Some("payment declined"));
        two.settled(start, "cancelled", Some("payment declined"));
        two.error(start, ErrorKind::Status(Step::Cart, 503));
        one.merge(&two);
        Report::new(
            &one,
            &RunFacts {
                target: "http://127.0.0.1:8080".into(),
                workers: 4,
                duration: Duration::from_secs(10),
                warmup: Duration::from_secs(5),
                measured: Duration::from_secs(5),
                interrupted: false,
            },
        )
    }

    #[test]
    fn the_report_has_rates_and_percentiles() {
        let report = sample_report();
        assert_eq!(report.settled_checkouts, 10);
        assert_eq!(report.confirmed, 8);
        assert_eq!(report.cancelled, 2);
        assert!((report.settled_per_second - 2.0).abs() < 1e-9);
        let browse = &report.steps.0[Step::Browse.index()].1;
        assert_eq!(browse.count, 100);
        // Three significant digits: within 0.1 % of the exact figures.
        assert!((browse.p50_ms - 50.0).abs() < 0.1, "{}", browse.p50_ms);
        assert!((browse.p95_ms - 95.0).abs() < 0.1, "{}", browse.p95_ms);
        assert!((browse.p99_ms - 99.0).abs() < 0.1, "{}", browse.p99_ms);
        assert!((browse.max_ms - 100.0).abs() < 0.1, "{}", browse.max_ms);
        assert_eq!(report.steps.0[Step::Login.index()].1.count, 0);
        assert_eq!(report.errors.0, vec![("cart HTTP 503".to_owned(), 1)]);
        assert_eq!(
            report.cancel_reasons.0,
            vec![("payment declined".to_owned(), 2)]
        );
    }

    #[test]
    fn the_json_report_keeps_step_order_and_figures() {
        let report = sample_report();
        let json: serde_json::Value =
            serde_json::from_str(&report.json()).expect("the report is JSON");
        assert_eq!(json["settled_checkouts"], 10);
        assert_eq!(json["confirmed"], 8);
        assert_eq!(json["cancelled"], 2);
        assert_eq!(json["errors"]["cart HTTP 503"], 1);
        assert_eq!(json["steps"]["browse"]["count"], 100);
        assert!(json["steps"]["checkout"]["p99_ms"].as_f64().is_some());
        let text = report.json();
        let order: Vec<usize> = Step::ALL
            .iter()
            .map(|step| {
                let name = step.name();
                text.find(&format!("\"{name}\":{{")).expect(name)
            })
            .collect();
        assert!(order.windows(2).all(|w| w[0] < w[1]), "{text}");
    }

    #[test]
    fn the_table_shows_every_step_and_error() {
        let table = sample_report().table();
        assert!(
            table.contains("settled checkouts: 10 in 5.0s = 2.00/s"),
            "{table}"
        );
        assert!(table.contains("confirmed 8, cancelled 2"), "{table}");
        for step in Step::ALL {
            assert!(table.contains(step.name()), "{table}");
        }
        assert!(table.contains("cart HTTP 503"), "{table}");
        assert!(table.contains("payment declined"), "{table}");
        assert!(table.contains("10s run (5s warm-up)"), "{table}");
    }

    #[test]
    fn bench_products_are_stable_and_searchable() {
        let first = bench_product(1);
        assert_eq!(first.sku, "BENCH-0001");
        assert_eq!(bench_product(1), first);
        assert_eq!(bench_product(9_999).sku, "BENCH-9999");
        for n in 1..=200 {
            let p = bench_product(n);
            assert!((199..=9_999).contains(&p.price_cents), "{}", p.price_cents);
        }
        let words = search_words(["Bench swift widget", "Bench calm widget", "a b"]);
        assert_eq!(words, vec!["bench", "calm", "swift", "widget"]);
    }

    #[test]
    fn the_rng_picks_distinct_indexes_in_range() {
        let mut rng = Rng::new(7);
        for _ in 0..100 {
            let picked = rng.distinct(3, 5);
            assert_eq!(picked.len(), 3);
            assert!(picked.iter().all(|i| *i < 5));
            let mut sorted = picked.clone();
            sorted.sort_unstable();
            sorted.dedup();
            assert_eq!(sorted.len(), 3);
        }
        assert_eq!(rng.distinct(3, 2).len(), 2);
    }
}
