//! `viscount verify` over a real platform: orders confirmed, declined, short of stock,
//! refunded and cancelled through the public API pass every check. In the embedded
//! shape one thing per check is then corrupted in the SQLite files (and put back), and
//! exactly that check fails, naming the row. In the distributed shape (PostgreSQL and
//! NATS from the environment; skipped without them) the same run passes, a corrupted
//! PostgreSQL row is named, and so is an event no consumer took from its stream.

mod support;

use std::time::Duration;

use platform::bus::{NatsBus, NatsOptions, OutboxRow};
use platform::config::ConfigSource;
use platform::db::{Db, query, query_scalar};
use platform::service::ServiceKind;
use platform::shutdown::Shutdown;
use platform::time::Clock;
use serde_json::{Value, json};
use tokio::time::Instant;
use viscount::verify::{Report, VerifyOptions, handled_event_types, verify};
use viscount::{PlatformOptions, RunningPlatform, Storage};

const ADMIN_EMAIL: &str = "admin@verify.test";
const ADMIN_PASSWORD: &str = "admin-password-1";
const PASSWORD: &str = "correct horse battery";
/// How long the platform may take to settle what the test did.
const SETTLE: Duration = Duration::from_secs(30);
const APPROVE: &str = "4242424242424242";
const DECLINE: &str = "4000000000000002";

/// The gateway of a running platform, with a client.
struct Shop {
    base: String,
    client: reqwest::Client,
}

impl Shop {
    async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        token: Option<&str>,
        body: Option<&Value>,
        key: Option<&str>,
    ) -> (u16, Value) {
        let mut request = self.client.request(method, format!("{}{path}", self.base));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        if let Some(key) = key {
            request = request
                .header("idempotency-key", key)
                .header("prefer", "wait=15");
        }
        let response = request.send().await.expect("request sent");
        let status = response.status().as_u16();
        let text = response.text().await.expect("body");
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    async fn post(&self, path: &str, token: Option<&str>, body: &Value) -> (u16, Value) {
        self.send(reqwest::Method::POST, path, token, Some(body), None)
            .await
    }

    async fn get(&self, path: &str, token: &str) -> Value {
        let (status, body) = self
            .send(reqwest::Method::GET, path, Some(token), None, None)
            .await;
        assert_eq!(status, 200, "GET {path}: {body}");
        body
    }

    async fn login(&self, email: &str, password: &str) -> String {
        let (status, tokens) = self
            .post(
                "/api/v1/auth/login",
                None,
                &json!({"email": email, "password": password}),
            )
            .await;
        assert_eq!(status, 200, "login {email}: {tokens}");
        tokens["access_token"]
            .as_str()
            .expect("access token")
            .to_owned()
    }

    /// A product of `cents` with `units` in the MAIN warehouse, once ordering prices it.
    async fn stocked(&self, admin: &str, sku: &str, cents: i64, units: i64) {
        let (status, body) = self
            .post(
                "/api/v1/products",
                Some(admin),
                &json!({"sku": sku, "name": format!("Product {sku}"), "description": "for sale",
                        "price": {"amount": cents, "currency": "USD"}}),
            )
            .await;
        assert_eq!(status, 201, "create {sku}: {body}");
        let (status, _) = self
            .post(
                "/api/v1/warehouses",
                Some(admin),
                &json!({"code": "MAIN", "name": "Main"}),
            )
            .await;
        assert!([201, 409].contains(&status), "warehouse: {status}");
        let (status, body) = self
            .post(
                "/api/v1/inventory/adjust",
                Some(admin),
                &json!({"sku": sku, "warehouse_id": "MAIN", "delta": units, "reason": "received"}),
            )
            .await;
        assert_eq!(status, 200, "stock {sku}: {body}");
        let (_, cart) = self.post("/api/v1/carts", Some(admin), &json!({})).await;
        let cart = cart["id"].as_str().expect("cart id").to_owned();
        eventually("ordering knows the price", || async {
            let (status, _) = self
                .send(
                    reqwest::Method::PUT,
                    &format!("/api/v1/carts/{cart}/items"),
                    Some(admin),
                    Some(&json!({"sku": sku, "quantity": 1})),
                    None,
                )
                .await;
            (status == 200).then_some(())
        })
        .await;
    }

    /// Places an order with `key`; answers the settled order.
    async fn order(&self, buyer: &str, key: &str, sku: &str, quantity: i64, card: &str) -> Value {
        let body = json!({
            "items": [{"sku": sku, "quantity": quantity}],
            "shipping_address": {"name": "Ann Buyer", "line1": "1 Main St", "city": "Springfield",
                                 "postal_code": "12345", "country": "US"},
            "payment": {"method": "card", "card_number": card, "exp_month": 12, "exp_year": 2099, "cvc": "123"},
        });
        let (status, order) = self
            .send(
                reqwest::Method::POST,
                "/api/v1/orders",
                Some(buyer),
                Some(&body),
                Some(key),
            )
            .await;
        assert_eq!(status, 201, "order {key} settles: {order}");
        order
    }

    /// Waits until the order's payment is captured (refunds and cancellations of a
    /// paid order need it).
    async fn captured(&self, token: &str, order: &Value) {
        let id = order["id"].as_str().expect("order id");
        let total = order["total"]["amount"].clone();
        eventually("the capture", || async {
            let now = self.get(&format!("/api/v1/orders/{id}"), token).await;
            (now["captured"]["amount"] == total).then_some(())
        })
        .await;
    }
}

/// Polls `check` until it answers, or panics after [`SETTLE`].
async fn eventually<T, F, Fut>(what: &str, check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    support::eventually(SETTLE, what, check).await
}

fn id_of(order: &Value) -> String {
    order["id"].as_str().expect("order id").to_owned()
}

/// Opens `kind`'s database, as an operator's tool would.
async fn open(storage: &Storage, kind: ServiceKind) -> Db {
    let declaration = viscount::declaration(kind).expect("a backend");
    Db::connect(&storage.database_url(kind), declaration.migrations())
        .await
        .expect("database opens")
}

/// Runs one statement with text arguments on `kind`'s database.
async fn execute(storage: &Storage, kind: ServiceKind, sql: &str, args: &[&str]) -> u64 {
    let db = open(storage, kind).await;
    let mut statement = query(sql);
    for arg in args {
        statement = statement.bind(*arg);
    }
    let mut tx = db.begin().await.expect("begin");
    let changed = statement
        .execute(&mut *tx)
        .await
        .unwrap_or_else(|err| panic!("{sql}: {err}"))
        .rows_affected();
    tx.commit().await.expect("commit");
    db.close().await;
    changed
}

/// One text value from `kind`'s database.
async fn text(storage: &Storage, kind: ServiceKind, sql: &str, args: &[&str]) -> String {
    let db = open(storage, kind).await;
    let mut select = query_scalar::<String>(sql);
    for arg in args {
        select = select.bind(*arg);
    }
    let value = select
        .fetch_one(db.reader())
        .await
        .unwrap_or_else(|err| panic!("{sql}: {err}"));
    db.close().await;
    value
}

/// Asserts that `name` is the one failing check and that a violation of it contains
/// each of `needles`.
fn only_failing(report: &Report, name: &str, needles: &[&str]) {
    let text = report.render_text();
    for check in &report.checks {
        assert_eq!(
            check.ok,
            check.name != name,
            "{name} alone should fail:\n{text}"
        );
    }
    let check = report.check(name).expect("the check is in the report");
    for needle in needles {
        assert!(
            check.violations.iter().any(|v| v.contains(needle)),
            "{name} should name {needle:?}:\n{text}"
        );
    }
}

/// Starts every service and the gateway in this process on `storage`.
async fn start(storage: &Storage) -> RunningPlatform {
    // Rate limits no test reaches (every call comes from 127.0.0.1), no response cache.
    let config = ConfigSource::from_parts(
        "[gateway.rate_limits]\nanonymous_per_minute = 1000000\nuser_per_minute = 1000000\n\
         premium_per_minute = 1000000\n[gateway.cache]\nenabled = false\n",
        std::iter::empty::<(String, String)>(),
    )
    .expect("configuration");
    RunningPlatform::start(
        PlatformOptions {
            storage: storage.clone(),
            listen: "127.0.0.1:0".into(),
            config,
            clock: Clock::system(),
            bootstrap_admin: Some((ADMIN_EMAIL.into(), ADMIN_PASSWORD.into())),
        },
        Shutdown::new(),
    )
    .await
    .expect("platform starts")
}

/// The orders [`shop_a_little`] placed, each settled its own way.
struct Placed {
    /// Confirmed (two units of VERIFY-A).
    confirmed: Value,
    /// Cancelled: the card was declined.
    declined: Value,
    /// Cancelled: not enough VERIFY-B.
    short: Value,
    /// Confirmed, then 500 of its 1500 refunded.
    refunded: Value,
    /// Confirmed, then cancelled by its buyer (money and stock back).
    undone: Value,
}

/// Shops on `platform` the ways an order can end, through its gateway.
async fn shop_a_little(platform: &RunningPlatform) -> Placed {
    let shop = Shop {
        base: format!("http://{}", platform.addr),
        client: reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .expect("client"),
    };
    let admin = shop.login(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    let (status, user) = shop
        .post(
            "/api/v1/users",
            None,
            &json!({"email": "ann@verify.test", "password": PASSWORD, "name": "Ann"}),
        )
        .await;
    assert_eq!(status, 201, "register: {user}");
    let buyer = shop.login("ann@verify.test", PASSWORD).await;
    shop.stocked(&admin, "VERIFY-A", 1500, 10).await;
    shop.stocked(&admin, "VERIFY-B", 700, 1).await;

    let confirmed = shop
        .order(&buyer, "key-confirmed", "VERIFY-A", 2, APPROVE)
        .await;
    assert_eq!(confirmed["status"], "confirmed", "{confirmed}");
    let declined = shop
        .order(&buyer, "key-declined", "VERIFY-A", 1, DECLINE)
        .await;
    assert_eq!(declined["status"], "cancelled", "{declined}");
    let short = shop
        .order(&buyer, "key-short", "VERIFY-B", 2, APPROVE)
        .await;
    assert_eq!(short["status"], "cancelled", "{short}");
    let refunded = shop
        .order(&buyer, "key-refunded", "VERIFY-A", 1, APPROVE)
        .await;
    shop.captured(&buyer, &refunded).await;
    let (status, body) = shop
        .post(
            &format!("/api/v1/orders/{}/refund", id_of(&refunded)),
            Some(&admin),
            &json!({"amount": {"amount": 500, "currency": "USD"}}),
        )
        .await;
    assert_eq!(status, 200, "refund: {body}");
    let undone = shop
        .order(&buyer, "key-undone", "VERIFY-A", 1, APPROVE)
        .await;
    shop.captured(&buyer, &undone).await;
    let (status, body) = shop
        .post(
            &format!("/api/v1/orders/{}/cancel", id_of(&undone)),
            Some(&buyer),
            &json!({"reason": "changed my mind"}),
        )
        .await;
    assert_eq!(status, 200, "cancel: {body}");
    Placed {
        confirmed,
        declined,
        short,
        refunded,
        undone,
    }
}

/// Verifies until every invariant holds (the events drain), or panics with the last
/// report after [`SETTLE`].
///
/// Held twice in a row, a quarter second apart: one report reads the services one after
/// another, so it can pass while a consumer commits what it will publish next (it read
/// that producer's outbox just before the commit, and the consumer's stream just after
/// the ack). Such a chain is not still in flight a quarter second later.
async fn settled_report(options: &VerifyOptions) -> Report {
    let deadline = Instant::now() + SETTLE;
    let mut held = false;
    loop {
        let report = verify(options).await.expect("verify runs");
        if report.ok() && held {
            return report;
        }
        held = report.ok();
        if held {
            tokio::time::sleep(Duration::from_millis(250)).await;
            continue;
        }
        assert!(
            Instant::now() < deadline,
            "the platform did not settle:\n{}",
            report.render_text()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_passes_a_clean_run_and_names_each_corrupted_row() {
    let dir = tempfile::tempdir().expect("temp dir");
    let storage = Storage::Embedded {
        data_dir: dir.path().to_path_buf(),
    };
    let platform = start(&storage).await;

    // The table verify reads the embedded logs with is what each service handles.
    for service in platform.services.iter() {
        let kind = service.data().kind();
        let handled: Vec<&str> = match service.consumer() {
            Some(consumer) => contracts::schema::registry()
                .into_iter()
                .map(|schema| schema.event_type)
                .filter(|event_type| consumer.handler.handles(event_type))
                .collect(),
            None => Vec::new(),
        };
        let mut listed = handled_event_types(kind);
        listed.sort_unstable();
        let mut handled = handled;
        handled.sort_unstable();
        assert_eq!(
            listed, handled,
            "handled_event_types({kind}) is not what {kind} handles"
        );
    }

    let Placed {
        confirmed,
        declined,
        short,
        refunded,
        undone: _,
    } = shop_a_little(&platform).await;

    // Once the events drain, every invariant holds.
    let options = VerifyOptions {
        storage: storage.clone(),
    };
    let report = settled_report(&options).await;
    platform.stop().await.expect("platform stops");
    let report_after_stop = verify(&options).await.expect("verify runs");
    assert!(
        report_after_stop.ok(),
        "{}",
        report_after_stop.render_text()
    );
    let names: Vec<&str> = report.checks.iter().map(|c| c.name).collect();
    assert_eq!(
        names,
        [
            "orders_settled",
            "orders_idempotent",
            "stock_balanced",
            "payments_balanced",
            "shipments_unique",
            "confirmations_unique",
            "events_delivered",
            "dead_letters",
        ]
    );
    let checked = |name: &str| report.check(name).map(|c| c.checked).unwrap_or(0);
    assert_eq!(checked("orders_settled"), 5, "{}", report.render_text());
    for name in names.iter().filter(|name| **name != "dead_letters") {
        assert!(
            checked(name) > 0,
            "{name} looked at nothing:\n{}",
            report.render_text()
        );
    }

    let dir = &storage;
    let confirmed_id = id_of(&confirmed);
    let declined_id = id_of(&declined);
    let short_id = id_of(&short);
    let refunded_id = id_of(&refunded);
    let corrupted = || async { verify(&options).await.expect("verify runs") };

    // orders_settled: a saga that never ended, a cancellation without its reason.
    execute(
        dir,
        ServiceKind::Ordering,
        "UPDATE orders SET status = 'pending' WHERE id = $1",
        &[&short_id],
    )
    .await;
    only_failing(
        &corrupted().await,
        "orders_settled",
        &[&format!("order {short_id} is pending")],
    );
    execute(
        dir,
        ServiceKind::Ordering,
        "UPDATE orders SET status = 'cancelled' WHERE id = $1",
        &[&short_id],
    )
    .await;
    let reason = text(
        dir,
        ServiceKind::Ordering,
        "SELECT cancel_reason FROM orders WHERE id = $1",
        &[&declined_id],
    )
    .await;
    execute(
        dir,
        ServiceKind::Ordering,
        "UPDATE orders SET cancel_reason = NULL WHERE id = $1",
        &[&declined_id],
    )
    .await;
    only_failing(
        &corrupted().await,
        "orders_settled",
        &[&format!(
            "order {declined_id} is cancelled without a reason"
        )],
    );
    execute(
        dir,
        ServiceKind::Ordering,
        "UPDATE orders SET cancel_reason = $1 WHERE id = $2",
        &[&reason, &declined_id],
    )
    .await;

    // orders_idempotent: one key's stored answer made to name another key's order.
    let body_of = "SELECT body FROM idempotency_keys WHERE key = $1";
    let original = text(dir, ServiceKind::Ordering, body_of, &["key-confirmed"]).await;
    let other = text(dir, ServiceKind::Ordering, body_of, &["key-refunded"]).await;
    let set_body = "UPDATE idempotency_keys SET body = $1 WHERE key = $2";
    execute(
        dir,
        ServiceKind::Ordering,
        set_body,
        &[&other, "key-confirmed"],
    )
    .await;
    only_failing(
        &corrupted().await,
        "orders_idempotent",
        &[&format!(
            "answered order {refunded_id}, placed under key \"key-refunded\""
        )],
    );
    execute(
        dir,
        ServiceKind::Ordering,
        set_body,
        &[&original, "key-confirmed"],
    )
    .await;

    // stock_balanced: a unit gone from a level without a movement.
    let level =
        "UPDATE stock_levels SET on_hand = on_hand + CAST($1 AS BIGINT) WHERE sku = 'VERIFY-A'";
    execute(dir, ServiceKind::Inventory, level, &["-1"]).await;
    only_failing(
        &corrupted().await,
        "stock_balanced",
        &["sku VERIFY-A at warehouse", "but its movements sum to"],
    );
    execute(dir, ServiceKind::Inventory, level, &["1"]).await;

    // payments_balanced: a refund total its ledger does not back.
    let refund_total =
        "UPDATE payments SET refunded = refunded + CAST($1 AS BIGINT) WHERE order_id = $2";
    execute(
        dir,
        ServiceKind::Payments,
        refund_total,
        &["100", &refunded_id],
    )
    .await;
    let payment_id = refunded["payment_id"].as_str().expect("payment id");
    only_failing(
        &corrupted().await,
        "payments_balanced",
        &[
            &format!("payment {payment_id}: refunded 600 but its ledger's refunds sum to 500"),
            &format!("order {refunded_id} records 500 refunded, its payment 600"),
        ],
    );
    execute(
        dir,
        ServiceKind::Payments,
        refund_total,
        &["-100", &refunded_id],
    )
    .await;

    // shipments_unique: a confirmed order's parcel gone.
    let move_parcels = "UPDATE shipments SET order_id = $1 WHERE order_id = $2";
    assert!(
        execute(
            dir,
            ServiceKind::Fulfillment,
            move_parcels,
            &["lost-order", &confirmed_id]
        )
        .await
            > 0
    );
    only_failing(
        &corrupted().await,
        "shipments_unique",
        &[
            &format!("order {confirmed_id} has no shipment"),
            "for order lost-order, which does not exist",
        ],
    );
    execute(
        dir,
        ServiceKind::Fulfillment,
        move_parcels,
        &[&confirmed_id, "lost-order"],
    )
    .await;

    // confirmations_unique: the confirmation written twice.
    let copies = execute(
        dir,
        ServiceKind::Notifications,
        "INSERT INTO notifications (id, dedupe_key, user_id, template_id, channel, category, recipient, \
         subject, body, html, status, attempts, last_error, next_attempt_at, transport, created_at, \
         updated_at, sent_at, event_type, event_subject, event_time, attachments) \
         SELECT id || '-copy', dedupe_key || '-copy', user_id, template_id, channel, category, recipient, \
         subject, body, html, status, attempts, last_error, next_attempt_at, transport, created_at, \
         updated_at, sent_at, event_type, event_subject, event_time, attachments \
         FROM notifications WHERE event_subject = $1 AND template_id LIKE 'order_confirmed.%'",
        &[&confirmed_id],
    )
    .await;
    assert!(copies > 0, "the confirmation was written");
    only_failing(
        &corrupted().await,
        "confirmations_unique",
        &[&format!(
            "order {confirmed_id} has 2 confirmation messages on"
        )],
    );
    execute(
        dir,
        ServiceKind::Notifications,
        "DELETE FROM notifications WHERE id LIKE '%-copy'",
        &[],
    )
    .await;

    // events_delivered: a consumer's cursor moved back; an event left unpublished.
    let position = text(
        dir,
        ServiceKind::Inventory,
        "SELECT CAST(position AS TEXT) FROM bus_cursors WHERE consumer = 'inventory<-ordering'",
        &[],
    )
    .await;
    let set_cursor = "UPDATE bus_cursors SET position = CAST($1 AS BIGINT) WHERE consumer = 'inventory<-ordering'";
    execute(dir, ServiceKind::Inventory, set_cursor, &["0"]).await;
    only_failing(
        &corrupted().await,
        "events_delivered",
        &[
            "inventory has not applied ordering.order.created.v1",
            &format!("(subject {confirmed_id})"),
        ],
    );
    execute(dir, ServiceKind::Inventory, set_cursor, &[&position]).await;
    let last = text(
        dir,
        ServiceKind::Ordering,
        "SELECT CAST(MAX(seq) AS TEXT) FROM outbox",
        &[],
    )
    .await;
    let published = text(
        dir,
        ServiceKind::Ordering,
        "SELECT CAST(published_at AS TEXT) FROM outbox WHERE seq = CAST($1 AS BIGINT)",
        &[&last],
    )
    .await;
    let set_published =
        "UPDATE outbox SET published_at = CAST($1 AS BIGINT) WHERE seq = CAST($2 AS BIGINT)";
    execute(
        dir,
        ServiceKind::Ordering,
        "UPDATE outbox SET published_at = NULL WHERE seq = CAST($1 AS BIGINT)",
        &[&last],
    )
    .await;
    only_failing(
        &corrupted().await,
        "events_delivered",
        &[
            "ordering's outbox holds",
            &format!("seq {last}) unpublished"),
        ],
    );
    execute(
        dir,
        ServiceKind::Ordering,
        set_published,
        &[&published, &last],
    )
    .await;

    // dead_letters: an event payments gave up on; once replayed it is no longer one.
    execute(
        dir,
        ServiceKind::Payments,
        "INSERT INTO dead_letters (id, consumer, event_id, event_type, body, error, attempts, failed_at) \
         VALUES ('dl-verify', 'payments', 'evt-verify', 'ordering.order.confirmed.v1', '{}', 'boom', 5, 0)",
        &[],
    )
    .await;
    only_failing(
        &corrupted().await,
        "dead_letters",
        &[
            "dead letter dl-verify in payments: payments gave up on ordering.order.confirmed.v1 evt-verify after 5 attempts: boom",
        ],
    );
    execute(
        dir,
        ServiceKind::Payments,
        "UPDATE dead_letters SET replayed_at = 1 WHERE id = 'dl-verify'",
        &[],
    )
    .await;
    let replayed = corrupted().await;
    assert!(replayed.ok(), "{}", replayed.render_text());
    assert_eq!(replayed.check("dead_letters").map(|c| c.checked), Some(1));
}

/// PostgreSQL and NATS of the environment; `None` (skipped) when absent, a panic when
/// the distributed shape is required.
fn distributed_environment() -> Option<(String, String)> {
    let pg = std::env::var("VISCOUNT_TEST_POSTGRES_URL").ok();
    let nats = std::env::var("VISCOUNT_TEST_NATS_URL").ok();
    match (pg, nats) {
        (Some(pg), Some(nats)) if !pg.is_empty() && !nats.is_empty() => Some((pg, nats)),
        _ => {
            assert!(
                std::env::var("VISCOUNT_TEST_REQUIRE_DISTRIBUTED").as_deref() != Ok("1"),
                "distributed shape required but VISCOUNT_TEST_POSTGRES_URL / _NATS_URL are not set"
            );
            eprintln!("SKIPPED: the distributed shape needs PostgreSQL and NATS");
            None
        }
    }
}

/// Drops a distributed test's databases and streams when it ends, passed or not.
struct Cleanup {
    storage: Storage,
    nats: NatsOptions,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        let urls: Vec<String> = ServiceKind::backends()
            .map(|kind| self.storage.database_url(kind))
            .collect();
        support::drop_databases_and_streams(urls, self.nats.clone());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_reads_postgres_and_the_nats_consumers() {
    let Some((postgres_url, nats_url)) = distributed_environment() else {
        return;
    };
    let namespace = format!("vv{}", &uuid::Uuid::now_v7().simple().to_string()[20..]);
    let nats = NatsOptions {
        url: nats_url,
        namespace: namespace.clone(),
    };
    let storage = Storage::Distributed {
        postgres_url,
        database_prefix: format!("{namespace}_"),
        nats: nats.clone(),
        redis_url: None,
    };
    let _cleanup = Cleanup {
        storage: storage.clone(),
        nats: nats.clone(),
    };
    let platform = start(&storage).await;
    let Placed { undone, .. } = shop_a_little(&platform).await;
    let options = VerifyOptions {
        storage: storage.clone(),
    };
    let report = settled_report(&options).await;
    assert_eq!(report.check("orders_settled").map(|c| c.checked), Some(5));
    platform.stop().await.expect("platform stops");
    let stopped = verify(&options).await.expect("verify runs");
    assert!(stopped.ok(), "{}", stopped.render_text());

    // A PostgreSQL row: ordering forgets the refund of the order its buyer cancelled.
    let undone_id = id_of(&undone);
    let forget = "UPDATE orders SET refunded_amount = CAST($1 AS BIGINT) WHERE id = $2";
    execute(&storage, ServiceKind::Ordering, forget, &["0", &undone_id]).await;
    only_failing(
        &verify(&options).await.expect("verify runs"),
        "payments_balanced",
        &[&format!(
            "order {undone_id} records 0 refunded, its payment 1500"
        )],
    );
    execute(
        &storage,
        ServiceKind::Ordering,
        forget,
        &["1500", &undone_id],
    )
    .await;

    // An event in ordering's stream that no consumer (none runs now) has taken.
    let bus = NatsBus::connect(&nats).await.expect("nats");
    let sent = bus
        .publish(&[OutboxRow {
            seq: 1,
            id: "evt-verify-nats".into(),
            event_type: "ordering.order.created.v1".into(),
            body: "{}".into(),
        }])
        .await
        .expect("published");
    assert_eq!(sent, [1]);
    let stream = format!("{}_VISCOUNT_ORDERING", namespace.to_ascii_uppercase());
    only_failing(
        &verify(&options).await.expect("verify runs"),
        "events_delivered",
        &[&format!(
            "consumer inventory of stream {stream} has 1 events not delivered"
        )],
    );
}
