//! The fault suite: `viscount up --distributed` on a PostgreSQL and a NATS server of its
//! own, under a steady stream of checkouts, refunds and returns, while processes are
//! killed, servers restarted and links cut. After each fault the load stops, the
//! platform is given time to settle, and `viscount verify` must find every invariant
//! holding: nothing lost, nothing twice, nothing oversold, no cent wrong.
//!
//! The default run is the short form CI runs (each fault once, a few seconds of load
//! around it). `VISCOUNT_SOAK_SECONDS=N` keeps the load on for N seconds around each
//! fault instead.

mod drill;
mod support;

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use drill::{OwnNats, OwnPostgres, Proxy, Supervisor, free_port};
use serde_json::{Value, json};
use support::eventually;

const ADMIN_EMAIL: &str = "admin@drill.test";
const ADMIN_PASSWORD: &str = "correct horse battery";
const SKUS: [&str; 3] = ["DRILL-1", "DRILL-2", "DRILL-3"];
/// Units received per sku: the drill sells far fewer, so nothing is refused for stock.
const RECEIVED: i64 = 100_000;

fn environment_ready() -> Option<String> {
    let redis = std::env::var("VISCOUNT_TEST_REDIS_URL").ok();
    let required = std::env::var("VISCOUNT_TEST_REQUIRE_DISTRIBUTED").as_deref() == Ok("1");
    if redis.is_none() {
        assert!(!required, "the fault suite needs VISCOUNT_TEST_REDIS_URL");
        eprintln!("SKIPPED: the fault suite needs Redis");
    }
    redis
}

fn soak() -> Duration {
    std::env::var("VISCOUNT_SOAK_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .map_or(Duration::from_secs(3), Duration::from_secs)
}

/// The drill's view of the platform: where to reach it and who acts.
#[derive(Clone)]
struct Shop {
    client: reqwest::Client,
    gateway: String,
    admin: String,
    buyer: String,
}

impl Shop {
    async fn post(&self, token: &str, path: &str, body: Value) -> Option<(u16, Value)> {
        let answer = self
            .client
            .post(format!("{}{path}", self.gateway))
            .bearer_auth(token)
            .json(&body)
            .send()
            .await
            .ok()?;
        let status = answer.status().as_u16();
        Some((status, answer.json().await.unwrap_or(Value::Null)))
    }

    async fn get(&self, token: &str, path: &str) -> Option<(u16, Value)> {
        let answer = self
            .client
            .get(format!("{}{path}", self.gateway))
            .bearer_auth(token)
            .send()
            .await
            .ok()?;
        let status = answer.status().as_u16();
        Some((status, answer.json().await.unwrap_or(Value::Null)))
    }
}

async fn sign_in(client: &reqwest::Client, gateway: &str, email: &str, password: &str) -> String {
    eventually(Duration::from_secs(60), "sign-in", || async {
        let answer: Value = client
            .post(format!("{gateway}/api/v1/auth/login"))
            .json(&json!({"email": email, "password": password}))
            .send()
            .await
            .ok()?
            .json()
            .await
            .ok()?;
        answer["access_token"].as_str().map(str::to_owned)
    })
    .await
}

/// Products with stock, a buyer, and ordering pricing every sku.
async fn stock_the_shop(shop: &Shop) {
    let (status, _) = shop
        .post(
            &shop.admin,
            "/api/v1/warehouses",
            json!({"code": "MAIN", "name": "Main"}),
        )
        .await
        .expect("warehouse");
    assert!([201, 409].contains(&status), "warehouse: {status}");
    for sku in SKUS {
        let (status, body) = shop
            .post(
                &shop.admin,
                "/api/v1/products",
                json!({"sku": sku, "name": format!("Product {sku}"), "description": "drill",
                       "price": {"amount": 1500, "currency": "USD"}}),
            )
            .await
            .expect("product");
        assert_eq!(status, 201, "product {sku}: {body}");
        let (status, body) = shop
            .post(
                &shop.admin,
                "/api/v1/inventory/adjust",
                json!({"sku": sku, "warehouse_id": "MAIN", "delta": RECEIVED, "reason": "received"}),
            )
            .await
            .expect("adjust");
        assert_eq!(status, 200, "stock {sku}: {body}");
    }
    let (_, cart) = shop
        .post(&shop.buyer, "/api/v1/carts", json!({}))
        .await
        .expect("cart");
    let cart = cart["id"].as_str().expect("cart id").to_owned();
    for sku in SKUS {
        eventually(
            Duration::from_secs(60),
            "ordering prices the sku",
            || async {
                let answer = shop
                    .client
                    .put(format!("{}/api/v1/carts/{cart}/items", shop.gateway))
                    .bearer_auth(&shop.buyer)
                    .json(&json!({"sku": sku, "quantity": 1}))
                    .send()
                    .await
                    .ok()?;
                (answer.status() == 200).then_some(())
            },
        )
        .await;
    }
}

fn order_body(sku: &str, quantity: i64) -> Value {
    json!({
        "items": [{"sku": sku, "quantity": quantity}],
        "shipping_address": {"name": "Ann Buyer", "line1": "1 Main St", "city": "Springfield",
                             "postal_code": "12345", "country": "US"},
        "payment": {"method": "card", "card_number": "4242424242424242", "exp_month": 12,
                    "exp_year": 2099, "cvc": "123"}
    })
}

/// A checkout as the load made it: sku, quantity, and the order id it got back.
type Attempt = (String, i64, Option<String>);

/// What the load saw: each idempotency key and the order it got, if any.
#[derive(Default)]
struct Ledger {
    keys: std::sync::Mutex<HashMap<String, Attempt>>,
    confirmed: std::sync::Mutex<Vec<String>>,
    checkouts: AtomicU64,
    errors: AtomicU64,
    /// How checkouts were answered (`201 confirmed`, `503`, ...), for the report.
    answers: std::sync::Mutex<std::collections::BTreeMap<String, u64>>,
    refunds: AtomicU64,
    returns: AtomicU64,
}

/// One shopper's loop: mostly checkouts, now and then a partial refund of a confirmed
/// order (by the admin) or a return of one, until `stop`.
async fn shopper(shop: Shop, ledger: Arc<Ledger>, stop: Arc<AtomicBool>, seed: u64) {
    let mut turn = seed;
    while !stop.load(Ordering::Relaxed) {
        turn += 1;
        let confirmed = ledger
            .confirmed
            .lock()
            .map(|c| c.clone())
            .unwrap_or_default();
        match turn % 10 {
            3 if !confirmed.is_empty() => {
                let order = &confirmed[(turn as usize / 10) % confirmed.len()];
                refund(&shop, &ledger, order).await;
            }
            7 if !confirmed.is_empty() => {
                let order = &confirmed[(turn as usize / 10) % confirmed.len()];
                give_back(&shop, &ledger, order).await;
            }
            _ => checkout(&shop, &ledger, turn).await,
        }
    }
}

async fn checkout(shop: &Shop, ledger: &Ledger, turn: u64) {
    let key = uuid::Uuid::now_v7().to_string();
    let sku = SKUS[(turn % 3) as usize];
    let quantity = 1 + (turn % 2) as i64;
    ledger
        .keys
        .lock()
        .expect("keys")
        .insert(key.clone(), (sku.to_owned(), quantity, None));
    ledger.checkouts.fetch_add(1, Ordering::Relaxed);
    let answer = shop
        .client
        .post(format!("{}/api/v1/orders", shop.gateway))
        .bearer_auth(&shop.buyer)
        .header("idempotency-key", &key)
        .header("prefer", "wait=5")
        .json(&order_body(sku, quantity))
        .send()
        .await;
    let status = answer.as_ref().map(|a| a.status().as_u16()).unwrap_or(0);
    match answer {
        Ok(answer) if answer.status().is_success() => {
            let order: Value = answer.json().await.unwrap_or_default();
            let outcome = format!(
                "{status} {} {}",
                order["status"].as_str().unwrap_or("?"),
                order["cancel_reason"].as_str().unwrap_or("")
            );
            *ledger
                .answers
                .lock()
                .expect("answers")
                .entry(outcome)
                .or_default() += 1;
            if let Some(id) = order["id"].as_str() {
                if let Some(entry) = ledger.keys.lock().expect("keys").get_mut(&key) {
                    entry.2 = Some(id.to_owned());
                }
                if order["status"] == "confirmed" {
                    ledger
                        .confirmed
                        .lock()
                        .expect("confirmed")
                        .push(id.to_owned());
                }
            }
        }
        _ => {
            *ledger
                .answers
                .lock()
                .expect("answers")
                .entry(status.to_string())
                .or_default() += 1;
            ledger.errors.fetch_add(1, Ordering::Relaxed);
            // A shopper whose checkout failed tries again a moment later, not at once.
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

async fn refund(shop: &Shop, ledger: &Ledger, order: &str) {
    // 100 cents at a time: a refund past what was captured is refused (409), not lost.
    if let Some((status, _)) = shop
        .post(
            &shop.admin,
            &format!("/api/v1/orders/{order}/refund"),
            json!({"amount": {"amount": 100, "currency": "USD"}}),
        )
        .await
        && status < 300
    {
        ledger.refunds.fetch_add(1, Ordering::Relaxed);
    }
}

/// Ships, delivers and takes back one unit of `order`; any step may fail under a fault.
async fn give_back(shop: &Shop, ledger: &Ledger, order: &str) {
    let Some((200, shipments)) = shop
        .get(&shop.admin, &format!("/api/v1/orders/{order}/shipments"))
        .await
    else {
        return;
    };
    let shipments = shipments["items"]
        .as_array()
        .or(shipments.as_array())
        .cloned()
        .unwrap_or_default();
    let Some(shipment) = shipments.first() else {
        return;
    };
    let Some(id) = shipment["id"].as_str() else {
        return;
    };
    let sku = shipment["lines"][0]["sku"]
        .as_str()
        .or(shipment["items"][0]["sku"].as_str())
        .unwrap_or(SKUS[0])
        .to_owned();
    for step in ["dispatch", "deliver"] {
        let _ = shop
            .post(
                &shop.admin,
                &format!("/api/v1/shipments/{id}/{step}"),
                json!({}),
            )
            .await;
    }
    let Some((201, opened)) = shop
        .post(
            &shop.buyer,
            "/api/v1/returns",
            json!({"order_id": order, "lines": [{"sku": sku, "quantity": 1}], "reason": "too big"}),
        )
        .await
    else {
        return;
    };
    let Some(return_id) = opened["id"].as_str() else {
        return;
    };
    for step in ["approve", "receive"] {
        let _ = shop
            .post(
                &shop.admin,
                &format!("/api/v1/returns/{return_id}/{step}"),
                json!({}),
            )
            .await;
    }
    ledger.returns.fetch_add(1, Ordering::Relaxed);
}

/// The platform's URLs and servers for `viscount verify`.
struct Platform {
    postgres: OwnPostgres,
    nats: OwnNats,
    namespace: String,
    supervisor: Supervisor,
    shop: Shop,
}

impl Platform {
    /// Runs `viscount verify` until every invariant holds or `deadline` passes; the
    /// last report either way.
    async fn verified(&self, deadline: Duration) -> (bool, String) {
        let until = Instant::now() + deadline;
        loop {
            let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_viscount"));
            command
                .args(["verify", "--postgres-url", &self.postgres.url()])
                .args(["--nats-url", &self.nats.url()])
                .args(["--nats-namespace", &self.namespace]);
            let output = tokio::task::spawn_blocking(move || command.output())
                .await
                .expect("verify thread")
                .expect("viscount verify runs");
            let report = String::from_utf8_lossy(&output.stdout).into_owned()
                + &String::from_utf8_lossy(&output.stderr);
            if output.status.success() || Instant::now() >= until {
                return (output.status.success(), report);
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }
}

/// Runs the load for `soak`, with `fault` injected after the first third and `recover`
/// after the second; then stops it and waits for the invariants.
async fn under_load(
    platform: &mut Platform,
    ledger: &Arc<Ledger>,
    name: &str,
    fault: impl FnOnce(&mut Platform),
    recover: impl FnOnce(&mut Platform),
) {
    let stop = Arc::new(AtomicBool::new(false));
    let before = ledger.checkouts.load(Ordering::Relaxed);
    let workers: Vec<_> = (0..4)
        .map(|seed| {
            tokio::spawn(shopper(
                platform.shop.clone(),
                ledger.clone(),
                stop.clone(),
                seed * 1_000_003,
            ))
        })
        .collect();
    let confirmed = || ledger.confirmed.lock().map(|c| c.len()).unwrap_or(0);
    let third = soak() / 3;
    let started = Instant::now();
    eventually(
        Duration::from_secs(60),
        &format!("checkouts before {name}"),
        || async { (started.elapsed() >= third && confirmed() > 0).then_some(()) },
    )
    .await;
    eprintln!("{name}: fault at {:?}", started.elapsed());
    fault(platform);
    tokio::time::sleep(third).await;
    eprintln!("{name}: recovery at {:?}", started.elapsed());
    recover(platform);
    // Load goes on until the platform confirms checkouts again.
    let resumed = confirmed();
    let until = Instant::now() + Duration::from_secs(120);
    while confirmed() < resumed + 5 {
        assert!(
            Instant::now() < until,
            "no checkouts confirmed after {name}; answers so far: {:?}",
            ledger.answers.lock().map(|a| a.clone()).unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    eprintln!("{name}: confirming again at {:?}", started.elapsed());
    tokio::time::sleep(third).await;
    stop.store(true, Ordering::Relaxed);
    for worker in workers {
        worker.await.expect("shopper");
    }
    let (ok, report) = platform.verified(Duration::from_secs(120)).await;
    eprintln!(
        "== {name}: {} checkouts ({} errors seen by clients), {} refunds, {} returns so far\n{report}",
        ledger.checkouts.load(Ordering::Relaxed) - before,
        ledger.errors.load(Ordering::Relaxed),
        ledger.refunds.load(Ordering::Relaxed),
        ledger.returns.load(Ordering::Relaxed),
    );
    assert!(ok, "after {name} an invariant does not hold:\n{report}");
}

/// No key lost, none twice: every key replayed gets the order it got before, or (if
/// the client never heard back) the one order made for it.
async fn replay_every_key(shop: &Shop, ledger: &Ledger) {
    let keys: Vec<(String, Attempt)> = ledger
        .keys
        .lock()
        .expect("keys")
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let mut lost = Vec::new();
    // A claim whose request died with its process (or could not be released while
    // PostgreSQL was down) answers 409 until it is stale, then the retry takes it over.
    let until = Instant::now()
        + Duration::from_millis(platform::idempotency::STALE_CLAIM_MS as u64 + 30_000);
    for (key, (sku, quantity, seen)) in keys {
        let (status, order) = loop {
            let answer = shop
                .client
                .post(format!("{}/api/v1/orders", shop.gateway))
                .bearer_auth(&shop.buyer)
                .header("idempotency-key", &key)
                .json(&order_body(&sku, quantity))
                .send()
                .await
                .expect("replay");
            let status = answer.status().as_u16();
            let order: Value = answer.json().await.unwrap_or_default();
            if status != 409 || Instant::now() >= until {
                break (status, order);
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        };
        match (seen, order["id"].as_str()) {
            (Some(seen), Some(now)) if seen != now => {
                lost.push(format!("key {key}: order {seen} then {now}"))
            }
            (_, None) => lost.push(format!("key {key}: replay answered {status} {order}")),
            _ => {}
        }
    }
    assert!(
        lost.is_empty(),
        "keys not answered with their one order: {lost:#?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn no_fault_loses_duplicates_oversells_or_miscounts() {
    let Some(redis) = environment_ready() else {
        return;
    };
    let required = std::env::var("VISCOUNT_TEST_REQUIRE_DISTRIBUTED").as_deref() == Ok("1");
    let (Some(postgres), Some(nats)) = (OwnPostgres::start(), OwnNats::start()) else {
        assert!(
            !required,
            "the fault suite needs PostgreSQL's server binaries and nats-server"
        );
        eprintln!("SKIPPED: no PostgreSQL server binaries or nats-server to run privately");
        return;
    };
    let payments_db = Proxy::start(postgres.port).await;
    let ordering_nats = Proxy::start(nats.port).await;
    let workdir = tempfile::tempdir().expect("workdir");
    let namespace = format!("drill{}", &uuid::Uuid::now_v7().simple().to_string()[24..]);
    let gateway_port = free_port();
    let args: Vec<String> = [
        "--postgres-url".to_owned(),
        postgres.url(),
        "--nats-url".to_owned(),
        nats.url(),
        "--nats-namespace".to_owned(),
        namespace.clone(),
        "--redis-url".to_owned(),
        redis,
        "--listen".to_owned(),
        format!("127.0.0.1:{gateway_port}"),
        "--coordination-listen".to_owned(),
        format!("127.0.0.1:{}", free_port()),
        "--replicas".to_owned(),
        "ordering=2".to_owned(),
        "--child-env".to_owned(),
        format!(
            "payments:VISCOUNT_DATABASE_URL=postgres://postgres@127.0.0.1:{}/viscount_payments",
            payments_db.port
        ),
        "--child-env".to_owned(),
        format!(
            "ordering:VISCOUNT_NATS_URL=nats://127.0.0.1:{}",
            ordering_nats.port
        ),
    ]
    .to_vec();
    let supervisor = Supervisor::start(
        &args,
        &[
            ("VISCOUNT_BOOTSTRAP_ADMIN_EMAIL", ADMIN_EMAIL),
            ("VISCOUNT_BOOTSTRAP_ADMIN_PASSWORD", ADMIN_PASSWORD),
            ("VISCOUNT_DISCOVERY__TTL_SECONDS", "3"),
            ("VISCOUNT_DISCOVERY__REFRESH_MS", "250"),
            // The drill's shoppers are one address: no tier may refuse them.
            ("VISCOUNT_GATEWAY__RATE_LIMITS__ENABLED", "false"),
            // A payment left pending by a process killed between creating it and
            // storing its order is given up within the drill's wait, not 15 minutes.
            ("VISCOUNT_PAYMENTS__PENDING_EXPIRY_SECS", "30"),
            // One buyer checks out many times a minute here: not a card tester.
            (
                "VISCOUNT_PAYMENTS__FRAUD_MAX_ATTEMPTS_PER_MINUTE",
                "1000000",
            ),
            ("VISCOUNT_PAYMENTS__EXPIRY_SWEEP_INTERVAL_MS", "1000"),
            ("VISCOUNT_IDENTITY__FAILED_LOGINS_PER_IP", "1000000"),
        ],
        workdir.path(),
    );
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(40))
        .build()
        .expect("client");
    let gateway = supervisor.gateway.clone();
    assert_eq!(gateway, format!("http://127.0.0.1:{gateway_port}"));
    let admin = sign_in(&client, &gateway, ADMIN_EMAIL, ADMIN_PASSWORD).await;
    let registered = client
        .post(format!("{gateway}/api/v1/users"))
        .json(
            &json!({"email": "buyer@drill.test", "password": "buyer password 1", "name": "Buyer"}),
        )
        .send()
        .await
        .expect("register");
    assert_eq!(registered.status(), 201);
    let buyer = sign_in(&client, &gateway, "buyer@drill.test", "buyer password 1").await;
    let shop = Shop {
        client,
        gateway,
        admin,
        buyer,
    };
    stock_the_shop(&shop).await;
    let mut platform = Platform {
        postgres,
        nats,
        namespace,
        supervisor,
        shop: shop.clone(),
    };
    let ledger = Arc::new(Ledger::default());

    // F1: every service killed in turn, mid-load; the supervisor restarts each.
    let services = [
        "identity.1",
        "catalog.1",
        "inventory.1",
        "payments.1",
        "ordering.1",
        "fulfillment.1",
        "notifications.1",
        "ingestion.1",
        "analytics.1",
    ];
    under_load(
        &mut platform,
        &ledger,
        "F1 kill -9 each service in turn",
        |platform| {
            for instance in services {
                let old = platform.supervisor.kill(instance);
                platform
                    .supervisor
                    .wait_restarted(instance, old, Duration::from_secs(30));
            }
        },
        |_| {},
    )
    .await;
    // F2: the gateway.
    under_load(
        &mut platform,
        &ledger,
        "F2 kill -9 the gateway",
        |platform| {
            let old = platform.supervisor.kill("gateway.1");
            platform
                .supervisor
                .wait_restarted("gateway.1", old, Duration::from_secs(30));
        },
        |_| {},
    )
    .await;
    // F3: NATS restarted (killed, then started on the same store).
    under_load(
        &mut platform,
        &ledger,
        "F3 restart NATS",
        |platform| platform.nats.kill(),
        |platform| platform.nats.up(),
    )
    .await;
    // F4: PostgreSQL stopped as by a crash, then started.
    under_load(
        &mut platform,
        &ledger,
        "F4 PostgreSQL immediate stop and start",
        |platform| platform.postgres.stop_immediately(),
        |platform| platform.postgres.up(),
    )
    .await;
    // F5: payments cut off from PostgreSQL, then ordering cut off from NATS.
    let cut = payments_db.clone();
    let healed = payments_db.clone();
    under_load(
        &mut platform,
        &ledger,
        "F5a partition payments from PostgreSQL",
        move |_| cut.partition(),
        move |_| healed.heal(),
    )
    .await;
    let cut = ordering_nats.clone();
    let healed = ordering_nats.clone();
    under_load(
        &mut platform,
        &ledger,
        "F5b partition ordering from NATS",
        move |_| cut.partition(),
        move |_| healed.heal(),
    )
    .await;
    // F6: coordination.
    under_load(
        &mut platform,
        &ledger,
        "F6 kill -9 coordination",
        |platform| {
            let old = platform.supervisor.kill("coordination.1");
            platform
                .supervisor
                .wait_restarted("coordination.1", old, Duration::from_secs(30));
        },
        |_| {},
    )
    .await;

    replay_every_key(&platform.shop, &ledger).await;
    let (ok, report) = platform.verified(Duration::from_secs(60)).await;
    assert!(ok, "after the replay an invariant does not hold:\n{report}");
    let restarts = platform
        .supervisor
        .log_matching("process exited; restarting it");
    assert!(
        restarts.len() >= services.len() + 2,
        "every killed process was restarted by the supervisor: {restarts:#?}"
    );
    let children = platform.supervisor.last_pids();
    assert!(
        platform.supervisor.interrupt(),
        "up --distributed stops cleanly on Ctrl-C"
    );
    // A pid is only that child if it still runs `viscount serve` (pids are reused).
    let alive: Vec<u32> = children
        .into_iter()
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline"))
                .is_ok_and(|cmdline| String::from_utf8_lossy(&cmdline).contains("serve"))
        })
        .collect();
    assert!(
        alive.is_empty(),
        "children left running after Ctrl-C: {alive:?}"
    );
}
