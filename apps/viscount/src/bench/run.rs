//! The network side of `viscount bench checkout`: seeding, signing customers up, the
//! shoppers' loop and the progress bar. `bench ingest` reuses the client, the exchange
//! of one request, the admin sign-in, the end of the run and the progress bar.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use platform::shutdown::Shutdown;
use reqwest::{Client, RequestBuilder, StatusCode};
use serde::Deserialize;
use serde_json::json;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use super::{
    CheckoutArgs, ErrorKind, Recorder, Report, Rng, RunFacts, Step, bench_product, search_words,
};
use crate::progress;

/// The stock each bench sku is topped up to by `--seed`.
const STOCK_LEVEL: i64 = 10_000_000;
/// The warehouse `--seed` stocks.
const WAREHOUSE: &str = "BENCH";
/// Requests in flight at once while seeding and signing customers up.
const SETUP_CONCURRENCY: usize = 16;
/// How long `--seed` waits for ordering to learn the bench prices.
const PRICE_WAIT: Duration = Duration::from_secs(60);
/// Pause between two polls.
const POLL: Duration = Duration::from_millis(100);
/// A token this close to expiring is refreshed before the next visit.
const REFRESH_MARGIN: Duration = Duration::from_secs(60);
/// How long a checkout asks ordering to wait for the order to settle.
const CHECKOUT_WAIT: &str = "wait=30";
/// Pause after a request got no response, so a dead target is not spun on.
pub(super) const TRANSPORT_BACKOFF: Duration = Duration::from_millis(100);
/// Longest pause honoured from a `Retry-After`.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(5);
/// Attempts at registering or signing in one customer before giving up on it.
const SIGN_UP_ATTEMPTS: u32 = 3;
/// Password of every bench customer.
const CUSTOMER_PASSWORD: &str = "bench-password-1";

/// Runs `viscount bench checkout`: prints the report on stdout, progress on stderr.
/// Fails when the run could not start, or when no checkout settled.
pub async fn checkout(args: CheckoutArgs, shutdown: Shutdown) -> anyhow::Result<()> {
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
    let customers = args.customers as usize;
    let client = Client::builder()
        .pool_max_idle_per_host(customers + SETUP_CONCURRENCY)
        .tcp_nodelay(true)
        .timeout(Duration::from_secs(60))
        .build()
        .context("cannot build the HTTP client")?;
    let api = Api { client, base };

    let prepared = async {
        let products = if args.seed {
            seed(&api, &args).await?
        } else {
            discover(&api).await?
        };
        let ready = sign_up(&api, customers).await?;
        anyhow::Ok((products, ready))
    };
    let (products, (ready, setup)) = tokio::select! {
        prepared = prepared => prepared?,
        () = shutdown.cancelled() => bail!("interrupted before the run started"),
    };

    let shared = Arc::new(Shared {
        api,
        words: search_words(products.iter().map(|(_, name)| name.as_str())),
        skus: products.into_iter().map(|(sku, _)| sku).collect(),
        settled: AtomicU64::new(0),
        errors: AtomicU64::new(0),
        order_limit: args.orders,
        payment: match &args.card_token {
            Some(token) => json!({"method": "card", "token": token}),
            None => json!({
                "method": "card",
                "card_number": "4242424242424242",
                "exp_month": 12,
                "exp_year": 2099,
                "cvc": "123",
            }),
        },
    });
    let start = Instant::now();
    let measure_from = start + args.warmup;
    let deadline = start + args.duration;
    let end = End {
        stop: shutdown.clone(),
        deadline: tokio::time::Instant::from_std(deadline),
    };
    let shoppers = ready
        .into_iter()
        .enumerate()
        .map(|(n, customer)| Shopper {
            shared: shared.clone(),
            rng: Rng::new(random_seed() ^ n as u64),
            recorder: Recorder::new(measure_from),
            customer,
            confirmed: Vec::new(),
        })
        .collect::<Vec<_>>();
    let counters = shared.clone();
    let finished_shoppers = run_workers(
        shoppers,
        shop,
        &end,
        Progress {
            what: "settled",
            counts: move || {
                (
                    counters.settled.load(Ordering::Relaxed),
                    counters.errors.load(Ordering::Relaxed),
                )
            },
            start,
            total: args.duration,
            warmup: args.warmup,
        },
    )
    .await?;
    let mut recorded = setup;
    for shopper in &finished_shoppers {
        recorded.merge(&shopper.recorder);
    }

    let finished = Instant::now().min(deadline);
    let mut report = Report::new(
        &recorded,
        &RunFacts {
            target: shared.api.base.clone(),
            workers: finished_shoppers.len(),
            duration: args.duration,
            warmup: args.warmup,
            measured: finished.saturating_duration_since(measure_from),
            interrupted: shutdown.is_cancelled(),
        },
    );
    if args.confirmation_delays {
        report.confirmation_delays =
            Some(confirmation_delays(&shared.api, &finished_shoppers).await?);
    }
    if args.json {
        println!("{}", report.json());
    } else {
        print!("{}", report.table());
    }
    if report.settled_checkouts == 0 {
        bail!("no checkout settled during the measured period");
    }
    Ok(())
}

/// The client and where the gateway is.
#[derive(Clone)]
pub(super) struct Api {
    pub(super) client: Client,
    pub(super) base: String,
}

impl Api {
    pub(super) fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    fn get(&self, path: &str) -> RequestBuilder {
        self.client.get(self.url(path))
    }

    pub(super) fn post(&self, path: &str) -> RequestBuilder {
        self.client.post(self.url(path))
    }

    pub(super) fn put(&self, path: &str) -> RequestBuilder {
        self.client.put(self.url(path))
    }
}

/// A response read to its end.
pub(super) struct Answer {
    pub(super) status: StatusCode,
    pub(super) retry_after: Option<Duration>,
    pub(super) body: Vec<u8>,
}

impl Answer {
    /// The start of the body, for error messages.
    pub(super) fn snippet(&self) -> String {
        String::from_utf8_lossy(&self.body)
            .chars()
            .take(300)
            .collect()
    }
}

/// Sends `request` and reads the whole response; on failure, what kind of transport
/// error it was.
pub(super) async fn exchange(request: RequestBuilder) -> Result<Answer, &'static str> {
    let response = request.send().await.map_err(|e| transport_kind(&e))?;
    let status = response.status();
    let retry_after = response
        .headers()
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(Duration::from_secs);
    let body = response.bytes().await.map_err(|e| transport_kind(&e))?;
    Ok(Answer {
        status,
        retry_after,
        body: body.to_vec(),
    })
}

fn transport_kind(err: &reqwest::Error) -> &'static str {
    if err.is_timeout() {
        "timeout"
    } else if err.is_connect() {
        "connect"
    } else if err.is_body() || err.is_decode() {
        "body"
    } else if err.is_request() {
        "request"
    } else {
        "other"
    }
}

/// For set-up calls, where any failure ends the command.
pub(super) async fn must(request: RequestBuilder, what: &str) -> anyhow::Result<Answer> {
    exchange(request)
        .await
        .map_err(|kind| anyhow::anyhow!("{what}: no response ({kind} error); is the platform up?"))
}

pub(super) fn parse<T: serde::de::DeserializeOwned>(
    answer: &Answer,
    what: &str,
) -> anyhow::Result<T> {
    serde_json::from_slice(&answer.body)
        .with_context(|| format!("{what}: unexpected response body: {}", answer.snippet()))
}

#[derive(Deserialize)]
struct TokenPair {
    access_token: String,
    refresh_token: String,
    expires_in: u64,
}

#[derive(Deserialize)]
struct Created {
    id: String,
}

#[derive(Deserialize)]
struct ProductPage {
    items: Vec<ProductItem>,
}

#[derive(Deserialize)]
struct ProductItem {
    sku: String,
    name: String,
}

#[derive(Deserialize)]
struct StockLevel {
    on_hand: i64,
}

#[derive(Deserialize)]
struct SettledOrder {
    id: String,
    status: String,
    #[serde(default)]
    cancel_reason: Option<String>,
}

/// Signs the admin in; `needed_for` names what needs one, for the error when no
/// credentials were given.
pub(super) async fn admin_token(
    api: &Api,
    email: Option<&str>,
    password: Option<&str>,
    needed_for: &str,
) -> anyhow::Result<String> {
    let (Some(email), Some(password)) = (email, password) else {
        bail!(
            "{needed_for} needs an admin: pass --admin-email and --admin-password, or set \
             VISCOUNT_BOOTSTRAP_ADMIN_EMAIL and VISCOUNT_BOOTSTRAP_ADMIN_PASSWORD"
        );
    };
    let answer = must(
        api.post("/api/v1/auth/login")
            .json(&json!({"email": email, "password": password})),
        "admin login",
    )
    .await?;
    if answer.status != StatusCode::OK {
        bail!(
            "admin login as {email} failed: HTTP {}: {}",
            answer.status,
            answer.snippet()
        );
    }
    Ok(parse::<TokenPair>(&answer, "admin login")?.access_token)
}

/// `--seed`: the bench products, the `BENCH` warehouse and their stock; then waits until
/// ordering can price every bench sku. Returns (sku, name) of the products.
async fn seed(api: &Api, args: &CheckoutArgs) -> anyhow::Result<Vec<(String, String)>> {
    let started = Instant::now();
    let token = Arc::new(
        admin_token(
            api,
            args.admin_email.as_deref(),
            args.admin_password.as_deref(),
            "--seed",
        )
        .await?,
    );
    let answer = must(
        api.post("/api/v1/warehouses")
            .bearer_auth(token.as_str())
            .json(&json!({"code": WAREHOUSE, "name": "Bench"})),
        "create the BENCH warehouse",
    )
    .await?;
    if !matches!(answer.status, StatusCode::CREATED | StatusCode::CONFLICT) {
        bail!(
            "cannot create the {WAREHOUSE} warehouse: HTTP {}: {}",
            answer.status,
            answer.snippet()
        );
    }

    eprintln!("seeding {} bench products...", args.products);
    let api_shared = Arc::new(api.clone());
    let limit = Arc::new(Semaphore::new(SETUP_CONCURRENCY));
    let mut tasks = JoinSet::new();
    for n in 1..=args.products {
        let (api, token, limit) = (api_shared.clone(), token.clone(), limit.clone());
        tasks.spawn(async move {
            let _permit = limit.acquire_owned().await?;
            seed_product(&api, &token, n).await
        });
    }
    let (mut created, mut stocked) = (0, 0);
    while let Some(joined) = tasks.join_next().await {
        let (was_created, was_stocked) = joined.context("a seeding task failed")??;
        created += usize::from(was_created);
        stocked += usize::from(was_stocked);
    }

    let products: Vec<(String, String)> = (1..=args.products)
        .map(|n| {
            let product = bench_product(n);
            (product.sku, product.name)
        })
        .collect();
    wait_for_prices(api, &token, &products).await?;
    eprintln!(
        "seeded in {:.1}s: {} products ({created} new), {stocked} topped up to {STOCK_LEVEL} in \
         {WAREHOUSE}, every price known to ordering",
        started.elapsed().as_secs_f64(),
        products.len(),
    );
    Ok(products)
}

/// Creates bench product `n` if missing and tops its stock up; tells whether it created
/// the product and whether it added stock.
async fn seed_product(api: &Api, token: &str, n: u32) -> anyhow::Result<(bool, bool)> {
    let product = bench_product(n);
    let sku = product.sku.as_str();
    let answer = must(
        api.post("/api/v1/products")
            .bearer_auth(token)
            .json(&json!({
                "sku": sku,
                "name": product.name,
                "description": product.description,
                "price": {"amount": product.price_cents, "currency": "USD"},
            })),
        "create a product",
    )
    .await?;
    let created = match answer.status {
        StatusCode::CREATED => true,
        StatusCode::CONFLICT => false,
        status => bail!("cannot create {sku}: HTTP {status}: {}", answer.snippet()),
    };
    let answer = must(
        api.get(&format!("/api/v1/inventory/{sku}"))
            .bearer_auth(token),
        "read stock",
    )
    .await?;
    if answer.status != StatusCode::OK {
        bail!(
            "cannot read the stock of {sku}: HTTP {}: {}",
            answer.status,
            answer.snippet()
        );
    }
    let on_hand = parse::<StockLevel>(&answer, "read stock")?.on_hand;
    if on_hand >= STOCK_LEVEL {
        return Ok((created, false));
    }
    let answer = must(
        api.post("/api/v1/inventory/adjust")
            .bearer_auth(token)
            .json(&json!({
                "sku": sku,
                "warehouse_id": WAREHOUSE,
                "delta": STOCK_LEVEL - on_hand,
                "reason": "bench stock",
            })),
        "adjust stock",
    )
    .await?;
    if answer.status != StatusCode::OK {
        bail!(
            "cannot stock {sku}: HTTP {}: {}",
            answer.status,
            answer.snippet()
        );
    }
    Ok((created, true))
}

/// Polls until ordering prices every sku: a cart line answers 200 instead of 422.
async fn wait_for_prices(
    api: &Api,
    token: &str,
    products: &[(String, String)],
) -> anyhow::Result<()> {
    let deadline = Instant::now() + PRICE_WAIT;
    let answer = must(
        api.post("/api/v1/carts").bearer_auth(token),
        "create a cart",
    )
    .await?;
    if answer.status != StatusCode::CREATED {
        bail!(
            "cannot create a cart (is ordering running?): HTTP {}: {}",
            answer.status,
            answer.snippet()
        );
    }
    let cart = parse::<Created>(&answer, "create a cart")?.id;
    let items = format!("/api/v1/carts/{cart}/items");
    for (sku, _) in products {
        loop {
            let answer = must(
                api.put(&items)
                    .bearer_auth(token)
                    .json(&json!({"sku": sku, "quantity": 1})),
                "add to the cart",
            )
            .await?;
            match answer.status {
                StatusCode::OK => break,
                StatusCode::UNPROCESSABLE_ENTITY if Instant::now() < deadline => {
                    tokio::time::sleep(POLL).await;
                }
                StatusCode::UNPROCESSABLE_ENTITY => bail!(
                    "ordering still does not know the price of {sku} after {}s: {}",
                    PRICE_WAIT.as_secs(),
                    answer.snippet()
                ),
                status => bail!(
                    "cannot add {sku} to a cart: HTTP {status}: {}",
                    answer.snippet()
                ),
            }
        }
        // Take it out again, so the probe cart never grows.
        let answer = must(
            api.put(&items)
                .bearer_auth(token)
                .json(&json!({"sku": sku, "quantity": 0})),
            "empty the cart",
        )
        .await?;
        if answer.status != StatusCode::OK {
            bail!(
                "cannot take {sku} out of a cart: HTTP {}: {}",
                answer.status,
                answer.snippet()
            );
        }
    }
    Ok(())
}

/// Without `--seed`: the skus of the first page of products, `BENCH-` ones if any.
async fn discover(api: &Api) -> anyhow::Result<Vec<(String, String)>> {
    let answer = must(
        api.get("/api/v1/products").query(&[("limit", "100")]),
        "list products",
    )
    .await?;
    if answer.status != StatusCode::OK {
        bail!(
            "cannot list products: HTTP {}: {}",
            answer.status,
            answer.snippet()
        );
    }
    let page: ProductPage = parse(&answer, "list products")?;
    let all: Vec<(String, String)> = page.items.into_iter().map(|p| (p.sku, p.name)).collect();
    let bench: Vec<(String, String)> = all
        .iter()
        .filter(|(sku, _)| sku.starts_with("BENCH-"))
        .cloned()
        .collect();
    let products = if bench.is_empty() { all } else { bench };
    if products.is_empty() {
        bail!("the catalog has no products; run with --seed");
    }
    eprintln!("shopping among {} products", products.len());
    Ok(products)
}

/// A signed-in customer.
struct Customer {
    email: String,
    tokens: Tokens,
}

struct Tokens {
    access: String,
    refresh: String,
    expires_at: Instant,
}

impl From<TokenPair> for Tokens {
    fn from(pair: TokenPair) -> Self {
        Self {
            access: pair.access_token,
            refresh: pair.refresh_token,
            expires_at: Instant::now() + Duration::from_secs(pair.expires_in),
        }
    }
}

pub(super) fn random_seed() -> u64 {
    // A v7 uuid's low 64 bits are random.
    uuid::Uuid::now_v7().as_u128() as u64
}

/// Registers and signs in `count` customers, a few at a time. Customers that cannot are
/// left out (with a warning); none at all is an error. Their requests are recorded.
async fn sign_up(api: &Api, count: usize) -> anyhow::Result<(Vec<Customer>, Recorder)> {
    let started = Instant::now();
    let run_id: String = uuid::Uuid::now_v7()
        .simple()
        .to_string()
        .chars()
        .rev()
        .take(8)
        .collect();
    eprintln!("registering and signing in {count} customers (run {run_id})...");
    let api = Arc::new(api.clone());
    let limit = Arc::new(Semaphore::new(SETUP_CONCURRENCY));
    let mut tasks = JoinSet::new();
    for n in 1..=count {
        let (api, limit) = (api.clone(), limit.clone());
        let email = format!("bench-{run_id}-{n}@bench.viscount.test");
        tasks.spawn(async move {
            let mut recorder = Recorder::new(started);
            let _permit = limit.acquire_owned().await;
            let customer = sign_up_one(&api, email, &mut recorder).await;
            (customer, recorder)
        });
    }
    let mut ready = Vec::with_capacity(count);
    let mut recorder = Recorder::new(started);
    let mut last_failure = None;
    while let Some(joined) = tasks.join_next().await {
        let (customer, recorded) = joined.context("a sign-up task failed")?;
        recorder.merge(&recorded);
        match customer {
            Ok(customer) => ready.push(customer),
            Err(why) => last_failure = Some(why),
        }
    }
    if let Some(why) = &last_failure {
        if ready.is_empty() {
            bail!("no customer could register and sign in; the last failure: {why}");
        }
        eprintln!(
            "warning: only {} of {count} customers could sign in; the last failure: {why}",
            ready.len()
        );
    }
    eprintln!(
        "{} customers ready in {:.1}s",
        ready.len(),
        started.elapsed().as_secs_f64()
    );
    Ok((ready, recorder))
}

/// Registers one customer and signs it in, retrying what may pass on a second try.
async fn sign_up_one(
    api: &Api,
    email: String,
    recorder: &mut Recorder,
) -> Result<Customer, String> {
    let register = || {
        api.post("/api/v1/users").json(&json!({
            "email": email,
            "password": CUSTOMER_PASSWORD,
            "name": "Bench Customer",
        }))
    };
    // 409: an earlier attempt got through even though its answer was lost.
    attempt(
        recorder,
        Step::Register,
        register,
        &[StatusCode::CREATED, StatusCode::CONFLICT],
    )
    .await?;
    let login = || {
        api.post("/api/v1/auth/login")
            .json(&json!({"email": email, "password": CUSTOMER_PASSWORD}))
    };
    let answer = attempt(recorder, Step::Login, login, &[StatusCode::OK]).await?;
    let pair: TokenPair = serde_json::from_slice(&answer.body).map_err(|e| {
        recorder.error(Instant::now(), ErrorKind::BadBody(Step::Login));
        format!("login answered {e}")
    })?;
    Ok(Customer {
        email,
        tokens: pair.into(),
    })
}

/// Sends what `request` builds until it answers one of `expected`, retrying transport
/// errors, 429 and 5xx up to [`SIGN_UP_ATTEMPTS`] times.
async fn attempt(
    recorder: &mut Recorder,
    step: Step,
    request: impl Fn() -> RequestBuilder,
    expected: &[StatusCode],
) -> Result<Answer, String> {
    let mut tries = 0;
    loop {
        tries += 1;
        let started = Instant::now();
        let (why, pause) = match exchange(request()).await {
            Ok(answer) if expected.contains(&answer.status) => {
                recorder.latency(step, started, started.elapsed());
                return Ok(answer);
            }
            Ok(answer) => {
                recorder.error(started, ErrorKind::Status(step, answer.status.as_u16()));
                let why = format!(
                    "{} answered HTTP {}: {}",
                    step.name(),
                    answer.status,
                    answer.snippet()
                );
                let retryable = answer.status == StatusCode::TOO_MANY_REQUESTS
                    || answer.status.is_server_error();
                if !retryable {
                    return Err(why);
                }
                let pause = answer
                    .retry_after
                    .unwrap_or(Duration::from_millis(500))
                    .min(MAX_RETRY_AFTER);
                (why, pause)
            }
            Err(kind) => {
                recorder.error(started, ErrorKind::Transport(step, kind));
                (
                    format!("{}: no response ({kind} error)", step.name()),
                    Duration::from_millis(500),
                )
            }
        };
        if tries >= SIGN_UP_ATTEMPTS {
            return Err(why);
        }
        tokio::time::sleep(pause).await;
    }
}

/// What every shopper shares.
struct Shared {
    api: Api,
    skus: Vec<String>,
    words: Vec<String>,
    /// Settled checkouts so far, warm-up included (for the progress bar).
    settled: AtomicU64,
    /// Errors so far, warm-up included (for the progress bar).
    errors: AtomicU64,
    /// `--orders`: settled checkouts that end the run.
    order_limit: Option<u64>,
    /// What each order pays with (`--card-token`, or the sandbox's test card).
    payment: serde_json::Value,
}

/// When the run ends: at the deadline, or on ctrl-c.
#[derive(Clone)]
pub(super) struct End {
    pub(super) stop: Shutdown,
    pub(super) deadline: tokio::time::Instant,
}

impl End {
    /// `work`'s output, or `None` when the run ended first (the work is dropped).
    pub(super) async fn before<T>(&self, work: impl Future<Output = T>) -> Option<T> {
        tokio::select! {
            biased;
            () = self.stop.cancelled() => None,
            () = tokio::time::sleep_until(self.deadline) => None,
            out = work => Some(out),
        }
    }
}

/// What a shopper does after a step failed.
enum Pace {
    /// Start the next visit.
    Next,
    /// Sign in again first (a 401).
    Reauth,
    /// Wait first (429, 5xx, no response).
    Wait(Duration),
}

/// One virtual customer.
struct Shopper {
    shared: Arc<Shared>,
    customer: Customer,
    rng: Rng,
    recorder: Recorder,
    /// Orders this customer saw confirmed, warm-up included.
    confirmed: Vec<String>,
}

/// A shopper's loop until the run ends (the deadline, ctrl-c or `--orders`); returns
/// the shopper with what it recorded.
async fn shop(mut shopper: Shopper, end: End) -> Shopper {
    loop {
        if let Some(limit) = shopper.shared.order_limit
            && shopper.shared.settled.load(Ordering::Relaxed) >= limit
        {
            break;
        }
        let Some(outcome) = end.before(shopper.visit()).await else {
            break;
        };
        let pause = match outcome {
            Ok(()) | Err(Pace::Next) => None,
            Err(Pace::Reauth) => match end.before(shopper.reauth()).await {
                None => break,
                Some(Err(Pace::Wait(pause))) => Some(pause),
                Some(Ok(()) | Err(Pace::Next | Pace::Reauth)) => None,
            },
            Err(Pace::Wait(pause)) => Some(pause),
        };
        if let Some(pause) = pause
            && end.before(tokio::time::sleep(pause)).await.is_none()
        {
            break;
        }
    }
    shopper
}

impl Shopper {
    fn fail(&mut self, started: Instant, kind: ErrorKind) {
        self.shared.errors.fetch_add(1, Ordering::Relaxed);
        self.recorder.error(started, kind);
    }

    /// Sends `request` for `step`; the body when it answers `expected`.
    async fn call(
        &mut self,
        step: Step,
        request: RequestBuilder,
        expected: StatusCode,
    ) -> Result<(Instant, Vec<u8>), Pace> {
        let started = Instant::now();
        match exchange(request).await {
            Ok(answer) if answer.status == expected => {
                self.recorder.latency(step, started, started.elapsed());
                Ok((started, answer.body))
            }
            Ok(answer) => {
                self.fail(started, ErrorKind::Status(step, answer.status.as_u16()));
                Err(pace_after(&answer))
            }
            Err(kind) => {
                self.fail(started, ErrorKind::Transport(step, kind));
                Err(Pace::Wait(TRANSPORT_BACKOFF))
            }
        }
    }

    fn parse<T: serde::de::DeserializeOwned>(
        &mut self,
        step: Step,
        started: Instant,
        body: &[u8],
    ) -> Result<T, Pace> {
        serde_json::from_slice(body).map_err(|_| {
            self.fail(started, ErrorKind::BadBody(step));
            Pace::Next
        })
    }

    fn authed(&self, request: RequestBuilder) -> RequestBuilder {
        request.bearer_auth(&self.customer.tokens.access)
    }

    /// One visit: browse, search, a new cart with 1–3 products, checkout.
    async fn visit(&mut self) -> Result<(), Pace> {
        if Instant::now() + REFRESH_MARGIN >= self.customer.tokens.expires_at {
            self.reauth().await?;
        }
        let shared = self.shared.clone();
        let api = &shared.api;

        let browse = self.authed(api.get("/api/v1/products").query(&[("limit", "20")]));
        self.call(Step::Browse, browse, StatusCode::OK).await?;

        if !shared.words.is_empty() {
            let word = &shared.words[self.rng.below(shared.words.len())];
            let search = self.authed(
                api.get("/api/v1/products/search")
                    .query(&[("q", word.as_str())]),
            );
            self.call(Step::Search, search, StatusCode::OK).await?;
        }

        let cart = self.authed(api.post("/api/v1/carts"));
        let (started, body) = self.call(Step::Cart, cart, StatusCode::CREATED).await?;
        let cart: Created = self.parse(Step::Cart, started, &body)?;

        let lines = 1 + self.rng.below(3);
        let items = format!("/api/v1/carts/{}/items", cart.id);
        for index in self.rng.distinct(lines, shared.skus.len()) {
            let add = self.authed(
                api.put(&items)
                    .json(&json!({"sku": shared.skus[index], "quantity": 1})),
            );
            self.call(Step::AddItem, add, StatusCode::OK).await?;
        }

        let order = self.authed(
            api.post("/api/v1/orders")
                .header("Idempotency-Key", uuid::Uuid::now_v7().to_string())
                .header("Prefer", CHECKOUT_WAIT)
                .json(&json!({
                    "cart_id": cart.id,
                    "shipping_address": {
                        "name": "Bench Customer",
                        "line1": "1 Load Test Lane",
                        "city": "Springfield",
                        "postal_code": "12345",
                        "country": "US",
                    },
                    "payment": self.shared.payment,
                })),
        );
        let started = Instant::now();
        match exchange(order).await {
            Ok(answer) if answer.status == StatusCode::CREATED => {
                self.recorder
                    .latency(Step::Checkout, started, started.elapsed());
                let order: SettledOrder = self.parse(Step::Checkout, started, &answer.body)?;
                self.shared.settled.fetch_add(1, Ordering::Relaxed);
                self.recorder
                    .settled(started, &order.status, order.cancel_reason.as_deref());
                if order.status == "confirmed" {
                    self.confirmed.push(order.id);
                }
                Ok(())
            }
            Ok(answer) if answer.status == StatusCode::ACCEPTED => {
                self.fail(started, ErrorKind::Unsettled);
                Ok(())
            }
            Ok(answer) => {
                self.fail(
                    started,
                    ErrorKind::Status(Step::Checkout, answer.status.as_u16()),
                );
                Err(pace_after(&answer))
            }
            Err(kind) => {
                self.fail(started, ErrorKind::Transport(Step::Checkout, kind));
                Err(Pace::Wait(TRANSPORT_BACKOFF))
            }
        }
    }

    /// New tokens: refreshed, or from signing in again when the refresh fails.
    async fn reauth(&mut self) -> Result<(), Pace> {
        let api = &self.shared.api;
        let refresh = api
            .post("/api/v1/auth/refresh")
            .json(&json!({"refresh_token": self.customer.tokens.refresh}));
        let login = api.post("/api/v1/auth/login").json(&json!({
            "email": self.customer.email,
            "password": CUSTOMER_PASSWORD,
        }));
        let answer = match self.call(Step::Login, refresh, StatusCode::OK).await {
            Ok(answer) => answer,
            Err(_) => self
                .call(Step::Login, login, StatusCode::OK)
                .await
                .map_err(|_| Pace::Wait(Duration::from_secs(1)))?,
        };
        let (started, body) = answer;
        let pair: TokenPair = self.parse(Step::Login, started, &body)?;
        self.customer.tokens = pair.into();
        Ok(())
    }
}

/// What to do after an unexpected status.
fn pace_after(answer: &Answer) -> Pace {
    if answer.status == StatusCode::UNAUTHORIZED {
        return Pace::Reauth;
    }
    pause_after(answer).map_or(Pace::Next, Pace::Wait)
}

/// How long to hold off after an unexpected status: a 429's `Retry-After` (at most
/// [`MAX_RETRY_AFTER`]), a short pause after a 5xx, none otherwise.
pub(super) fn pause_after(answer: &Answer) -> Option<Duration> {
    match answer.status {
        StatusCode::TOO_MANY_REQUESTS => Some(
            answer
                .retry_after
                .unwrap_or(Duration::from_secs(1))
                .min(MAX_RETRY_AFTER),
        ),
        status if status.is_server_error() => Some(TRANSPORT_BACKOFF),
        _ => None,
    }
}

/// The progress bar's settings: what the successes are called, how to read them and
/// the errors, and the run's clock.
pub(super) struct Progress<C> {
    pub(super) what: &'static str,
    pub(super) counts: C,
    pub(super) start: Instant,
    pub(super) total: Duration,
    pub(super) warmup: Duration,
}

/// Runs `work` for every worker (one task each) until `end`, with the progress bar,
/// and answers the workers as they finished, for their recorders.
pub(super) async fn run_workers<W, Fut, C>(
    workers: impl IntoIterator<Item = W>,
    work: impl Fn(W, End) -> Fut,
    end: &End,
    progress: Progress<C>,
) -> anyhow::Result<Vec<W>>
where
    W: Send + 'static,
    Fut: Future<Output = W> + Send + 'static,
    C: Fn() -> (u64, u64) + Send + 'static,
{
    let mut tasks = JoinSet::new();
    for worker in workers {
        tasks.spawn(work(worker, end.clone()));
    }
    let progress_done = Shutdown::new();
    let bar = tokio::spawn(draw_progress(
        progress.what,
        progress.counts,
        progress.start,
        progress.total,
        progress.warmup,
        progress_done.clone(),
    ));
    let mut finished = Vec::new();
    while let Some(joined) = tasks.join_next().await {
        finished.push(joined.context("a worker task failed")?);
    }
    progress_done.cancel();
    bar.await.context("the progress bar failed")?;
    Ok(finished)
}

/// Draws the progress bar on stderr until `done` (indicatif hides it when stderr is not
/// a terminal). `counts` reads the successes (named `what` on the bar) and the errors
/// so far; the bar is moved four times a second.
pub(super) async fn draw_progress(
    what: &'static str,
    counts: impl Fn() -> (u64, u64),
    start: Instant,
    total: Duration,
    warmup: Duration,
    done: Shutdown,
) {
    let bar = progress::run_bar(total);
    let mut ticks = tokio::time::interval(Duration::from_millis(250));
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    // (when, settled) samples of the last two seconds or so, for the current rate
    // (indicatif's own rate is of the bar's position, which here is time).
    let mut samples: std::collections::VecDeque<(Instant, u64)> = std::collections::VecDeque::new();
    loop {
        let finished = tokio::select! {
            () = done.cancelled() => true,
            _ = ticks.tick() => false,
        };
        let now = Instant::now();
        let (settled, errors) = counts();
        samples.push_back((now, settled));
        while samples.len() > 2
            && samples
                .front()
                .is_some_and(|(at, _)| now.duration_since(*at) > Duration::from_secs(2))
        {
            samples.pop_front();
        }
        let rate = match samples.front() {
            Some((at, before)) if now.duration_since(*at) > Duration::from_millis(100) => {
                settled.saturating_sub(*before) as f64 / now.duration_since(*at).as_secs_f64()
            }
            _ => 0.0,
        };
        let elapsed = now.duration_since(start).min(total);
        bar.set_position(u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX));
        bar.set_message(progress::run_message(
            what,
            settled,
            rate,
            errors,
            elapsed < warmup,
        ));
        if finished {
            bar.finish();
            // indicatif leaves the cursor after the bar; the report (on stdout, often
            // the same terminal) starts on a line of its own.
            if !bar.is_hidden() {
                eprintln!();
            }
            return;
        }
    }
}

/// How long `--confirmation-delays` waits for the last confirmation email.
const MESSAGE_WAIT: Duration = Duration::from_secs(60);
/// The event a confirmation email answers.
const CONFIRMED_EVENT: &str = "ordering.order.confirmed.v1";

/// A customer's message as notifications lists it (the fields the delay needs).
#[derive(Deserialize)]
struct Message {
    channel: String,
    status: String,
    #[serde(default)]
    event_type: Option<String>,
    #[serde(default)]
    event_subject: Option<String>,
    #[serde(default)]
    event_time: Option<String>,
    #[serde(default)]
    sent_at: Option<String>,
}

#[derive(Deserialize)]
struct MessagePage {
    items: Vec<Message>,
    #[serde(default)]
    next_cursor: Option<String>,
}

/// Waits (at most [`MESSAGE_WAIT`]) for the confirmation email of every order the
/// shoppers saw confirmed, and measures each from the confirmation event's time to the
/// moment the mail server accepted it, both as notifications recorded them.
async fn confirmation_delays(
    api: &Api,
    shoppers: &[Shopper],
) -> anyhow::Result<super::ConfirmationDelays> {
    let deadline = Instant::now() + MESSAGE_WAIT;
    let orders: usize = shoppers.iter().map(|s| s.confirmed.len()).sum();
    let mut delays = Vec::with_capacity(orders);
    let mut missing = 0;
    for shopper in shoppers.iter().filter(|s| !s.confirmed.is_empty()) {
        let token = &shopper.customer.tokens.access;
        let mut waiting: Vec<&str> = shopper.confirmed.iter().map(String::as_str).collect();
        loop {
            let mut cursor: Option<String> = None;
            loop {
                let mut path = "/api/v1/users/me/notifications?limit=100".to_owned();
                if let Some(cursor) = &cursor {
                    path.push_str(&format!("&cursor={cursor}"));
                }
                let page: MessagePage = parse(
                    &must(api.get(&path).bearer_auth(token), "list messages").await?,
                    "list messages",
                )?;
                for message in page.items {
                    let Some(subject) = message.event_subject.as_deref() else {
                        continue;
                    };
                    if message.channel != "email"
                        || message.event_type.as_deref() != Some(CONFIRMED_EVENT)
                    {
                        continue;
                    }
                    let Some(at) = waiting.iter().position(|id| *id == subject) else {
                        continue;
                    };
                    match message.status.as_str() {
                        "sent" => {
                            let (Some(from), Some(to)) = (
                                message
                                    .event_time
                                    .as_deref()
                                    .and_then(platform::time::parse_rfc3339),
                                message
                                    .sent_at
                                    .as_deref()
                                    .and_then(platform::time::parse_rfc3339),
                            ) else {
                                bail!("a sent message without event_time or sent_at");
                            };
                            delays.push(to - from);
                            waiting.swap_remove(at);
                        }
                        "queued" => {}
                        _ => {
                            missing += 1;
                            waiting.swap_remove(at);
                        }
                    }
                }
                cursor = page.next_cursor;
                if cursor.is_none() {
                    break;
                }
            }
            if waiting.is_empty() || Instant::now() >= deadline {
                missing += waiting.len() as u64;
                break;
            }
            tokio::time::sleep(POLL).await;
        }
    }
    Ok(super::ConfirmationDelays {
        orders: orders as u64,
        delay: super::StepStats::of_millis(delays),
        missing,
    })
}
