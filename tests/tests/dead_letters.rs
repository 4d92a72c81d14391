//! Dead letters for operators (issue 18): the events services' consumers gave up on,
//! listed, replayed and discarded through the gateway's `/api/v1/admin/dead-letters`,
//! which asks every service — in process in the sandbox, and over HTTP (with a service
//! that does not answer) in the last test.

use std::time::Duration;

use contracts::Event;
use contracts::catalog::AvailabilityChanged;
use contracts::inventory::StockUpdated;
use gateway::{Backend, GatewayConfig};
use platform::bus::Envelope;
use platform::config::ConfigSource;
use platform::db::{Db, query, query_scalar};
use platform::service::{Service, ServiceKind};
use platform::shutdown::Shutdown;
use serde_json::{Value, json};
use viscount_tests::*;

const PATH: &str = "/api/v1/admin/dead-letters";
/// Catalog's consumer retries a failing event five times, the last about 17 s after
/// the first (NATS adds its redelivery to that).
const DEAD_LETTERED: Duration = Duration::from_secs(120);

fn service(app: &TestApp, kind: ServiceKind) -> &dyn Service {
    app.platform
        .as_ref()
        .and_then(|platform| platform.services.iter().find(|s| s.data().kind() == kind))
        .unwrap_or_else(|| panic!("{kind} runs"))
}

/// A unique suffix for this test's names.
fn unique() -> String {
    uuid::Uuid::now_v7().simple().to_string()[20..].to_uppercase()
}

/// An envelope as `producer` would stage it.
fn envelope(producer: ServiceKind, event_type: &str, subject: &str, data: Value) -> Envelope {
    Envelope {
        specversion: "1.0".into(),
        id: platform::ids::new_id(),
        source: format!("/viscount/{producer}"),
        event_type: event_type.into(),
        subject: subject.into(),
        time: platform::time::rfc3339(platform::time::now_millis()),
        datacontenttype: "application/json".into(),
        traceparent: None,
        data,
    }
}

/// Writes a dead letter of `consumer` for `event` into `db`, as the consumer would
/// have after its last attempt at `failed_at`; its id.
async fn dead_letter(db: &Db, consumer: &str, event: &Envelope, failed_at: i64) -> String {
    let id = platform::ids::new_id();
    let mut tx = db.begin().await.expect("transaction");
    query(
        "INSERT INTO dead_letters (id, consumer, event_id, event_type, body, error, attempts, \
         failed_at) VALUES ($1, $2, $3, $4, $5, $6, 5, $7)",
    )
    .bind(&id)
    .bind(consumer)
    .bind(&event.id)
    .bind(&event.event_type)
    .bind(serde_json::to_string(event).expect("envelope"))
    .bind("database error: the disk was full")
    .bind(failed_at)
    .execute(&mut *tx)
    .await
    .expect("dead letter written");
    tx.commit().await.expect("commit");
    id
}

async fn list(app: &TestApp, token: Option<&str>, query: &str) -> reqwest::Response {
    app.get(&format!("{PATH}?{query}"), token).await
}

async fn page(app: &TestApp, token: &str, query: &str) -> Value {
    let response = list(app, Some(token), query).await;
    assert_eq!(response.status(), 200, "list {query}");
    response.json().await.expect("page")
}

fn items(page: &Value) -> Vec<Value> {
    page["items"].as_array().cloned().unwrap_or_default()
}

async fn post(app: &TestApp, path: &str, token: &str) -> reqwest::Response {
    app.client
        .post(app.url(path))
        .bearer_auth(token)
        .send()
        .await
        .expect("request sent")
}

/// A product of catalog with no stock: `(id, sku)`.
async fn product_without_stock(app: &TestApp, admin: &TestUser) -> (String, String) {
    let sku = format!("DLQ-{}", unique());
    let created = app
        .post(
            "/api/v1/products",
            Some(&admin.access),
            &json!({"sku": sku, "name": "Dead letter", "description": "for the desk",
                    "price": {"amount": 1000, "currency": "USD"}}),
        )
        .await;
    assert_eq!(created.status(), 201);
    let product: Value = created.json().await.expect("product");
    assert_eq!(product["in_stock"], false);
    (product["id"].as_str().expect("id").to_owned(), sku)
}

both_shapes! {
    async fn a_poisoned_event_is_listed_for_admins_and_a_replay_that_fails_again_counts(app) {
        let admin = app.admin().await;
        let customer = app.user("customer").await;
        // Inventory announces a sku catalog cannot accept: catalog's consumer gives up.
        let inventory = service(&app, ServiceKind::Inventory).data().clone();
        let mut tx = inventory.db.begin().await.expect("transaction");
        let poison = StockUpdated { sku: "bad sku!".into(), on_hand: 1, reserved: 0, available: 1 };
        let staged = inventory.outbox.stage(&mut tx, &poison).await.expect("staged");
        tx.commit().await.expect("commit");
        inventory.outbox.wake();

        let letter = eventually(DEAD_LETTERED, "catalog's dead letter", || async {
            items(&page(&app, &admin.access, "service=catalog&status=waiting").await)
                .into_iter()
                .find(|letter| letter["event_id"] == staged.id.as_str())
        })
        .await;
        assert_eq!(letter["service"], "catalog");
        assert_eq!(letter["consumer"], "catalog");
        assert_eq!(letter["event_type"], StockUpdated::TYPE);
        assert_eq!(letter["event"]["type"], StockUpdated::TYPE);
        assert_eq!(letter["event"]["data"]["sku"], "bad sku!");
        assert_eq!(letter["attempts"], 5);
        assert_eq!(letter["status"], "waiting");
        assert_eq!(letter["replayed_at"], Value::Null);
        assert!(letter["error"].as_str().is_some_and(|e| e.contains("bad sku!")), "{letter}");
        let chain: Vec<&str> = letter["error_chain"].as_array().expect("chain").iter()
            .filter_map(Value::as_str).collect();
        assert_eq!(chain.len(), 1, "one cause, its own colons kept: {chain:?}");
        assert_eq!(chain[0], letter["error"].as_str().expect("error"));
        assert!(letter["failed_at"].as_str().and_then(platform::time::parse_rfc3339).is_some());
        let id = letter["id"].as_str().expect("id").to_owned();

        // The same letter in the merged list of every service.
        let merged = page(&app, &admin.access, "limit=100").await;
        assert!(items(&merged).iter().any(|l| l["id"] == id.as_str()), "{merged}");
        assert_eq!(merged["unavailable"], json!([]));

        // Admins only.
        assert_problem(list(&app, None, "").await, 401).await;
        assert_problem(list(&app, Some(&customer.access), "").await, 403).await;
        assert_problem(post(&app, &format!("{PATH}/{id}/replay"), &customer.access).await, 403).await;
        assert_problem(app.delete(&format!("{PATH}/{id}"), &customer.access).await, 403).await;

        // The event fails again: 409 saying why, one more attempt, the letter waits on.
        let failed = assert_problem(post(&app, &format!("{PATH}/{id}/replay"), &admin.access).await, 409).await;
        assert!(failed["detail"].as_str().is_some_and(|d| d.contains("bad sku!")), "{failed}");
        assert!(failed["error"].as_str().is_some_and(|e| e.contains("bad sku!")), "{failed}");
        let after = items(&page(&app, &admin.access, "service=catalog&status=waiting").await)
            .into_iter()
            .find(|l| l["id"] == id.as_str())
            .expect("still waiting");
        assert_eq!(after["attempts"], 6);
        assert_eq!(after["status"], "waiting");
    }

    async fn a_replay_takes_effect_once_and_a_discarded_letter_is_gone(app) {
        let admin = app.admin().await;
        let (product, sku) = product_without_stock(&app, &admin).await;
        let catalog = service(&app, ServiceKind::Catalog).db().clone();
        // Stock catalog's consumer missed: replaying it makes the product available.
        let missed = envelope(ServiceKind::Inventory, StockUpdated::TYPE, &sku,
            json!({"sku": sku, "on_hand": 7, "reserved": 0, "available": 7}));
        let now = platform::time::now_millis();
        let replayable = dead_letter(&catalog, "catalog", &missed, now - 2_000).await;
        let other = envelope(ServiceKind::Inventory, StockUpdated::TYPE, &sku,
            json!({"sku": sku, "on_hand": 0, "reserved": 0, "available": 0}));
        let discardable = dead_letter(&catalog, "catalog", &other, now - 1_000).await;

        let replayed = post(&app, &format!("{PATH}/{replayable}/replay"), &admin.access).await;
        assert_eq!(replayed.status(), 200);
        let replayed: Value = replayed.json().await.expect("letter");
        assert_eq!(replayed["id"], replayable.as_str());
        assert_eq!(replayed["status"], "replayed");
        assert!(replayed["replayed_at"].as_str().and_then(platform::time::parse_rfc3339).is_some());
        let shown: Value = app.get(&format!("/api/v1/products/{product}"), None).await
            .json().await.expect("product");
        assert_eq!(shown["in_stock"], true, "the replayed stock took effect: {shown}");

        // Once: a second replay is refused, and the event was applied a single time.
        let again = assert_problem(post(&app, &format!("{PATH}/{replayable}/replay"), &admin.access).await, 409).await;
        assert!(again["type"].as_str().is_some_and(|t| t.ends_with("dead-letter-replayed")), "{again}");
        let inbox: i64 = query_scalar("SELECT COUNT(*) FROM inbox WHERE consumer = 'catalog' AND event_id = $1")
            .bind(&missed.id).fetch_one(catalog.reader()).await.expect("inbox");
        assert_eq!(inbox, 1);
        let announced: i64 = query_scalar("SELECT COUNT(*) FROM outbox WHERE event_type = $1 AND subject = $2")
            .bind(AvailabilityChanged::TYPE).bind(&sku).fetch_one(catalog.reader()).await.expect("outbox");
        assert_eq!(announced, 1, "the availability was announced once");

        // Filters: status and event type.
        let replayed_only = items(&page(&app, &admin.access, "status=replayed&limit=100").await);
        assert!(replayed_only.iter().any(|l| l["id"] == replayable.as_str()));
        assert!(replayed_only.iter().all(|l| l["status"] == "replayed"));
        let waiting = items(&page(&app, &admin.access, "status=waiting&limit=100").await);
        assert!(waiting.iter().any(|l| l["id"] == discardable.as_str()));
        assert!(waiting.iter().all(|l| l["id"] != replayable.as_str()));
        let other_type = items(&page(&app, &admin.access, "event_type=ordering.order.created.v1").await);
        assert!(other_type.iter().all(|l| l["id"] != discardable.as_str()));
        let problem = assert_problem(list(&app, Some(&admin.access), "status=lost").await, 422).await;
        assert_eq!(error_fields(&problem), ["status"]);

        // Discarded: gone, and so is anything done with it.
        let discarded = app.delete(&format!("{PATH}/{discardable}"), &admin.access).await;
        assert_eq!(discarded.status(), 204);
        assert_problem(app.delete(&format!("{PATH}/{discardable}"), &admin.access).await, 404).await;
        assert_problem(post(&app, &format!("{PATH}/{discardable}/replay"), &admin.access).await, 404).await;
        let all = items(&page(&app, &admin.access, "limit=100").await);
        assert!(all.iter().all(|l| l["id"] != discardable.as_str()));
        let shown: Value = app.get(&format!("/api/v1/products/{product}"), None).await
            .json().await.expect("product");
        assert_eq!(shown["in_stock"], true, "the discarded letter never applied");
    }

    async fn the_merged_list_pages_across_services_newest_first(app) {
        let admin = app.admin().await;
        let event_type = format!("test.dlq.paged{}.v1", unique().to_lowercase());
        let base = platform::time::now_millis() - 3_600_000;
        let catalog = service(&app, ServiceKind::Catalog).db().clone();
        let fulfillment = service(&app, ServiceKind::Fulfillment).db().clone();
        // Interleaved in time, with a tie across the two services.
        let mut written: Vec<(i64, String, &str)> = Vec::new();
        for (offset, db, name) in [
            (0, &catalog, "catalog"),
            (10, &fulfillment, "fulfillment"),
            (20, &catalog, "catalog"),
            (20, &fulfillment, "fulfillment"),
            (30, &fulfillment, "fulfillment"),
            (40, &catalog, "catalog"),
        ] {
            let event = envelope(ServiceKind::Ordering, &event_type, "s", json!({}));
            let id = dead_letter(db, name, &event, base + offset).await;
            written.push((base + offset, id, name));
        }
        written.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| b.1.cmp(&a.1)));
        let expected: Vec<(String, String)> =
            written.iter().map(|(_, id, name)| (id.clone(), (*name).to_owned())).collect();

        let mut seen = Vec::new();
        let mut pages = 0;
        let mut cursor: Option<String> = None;
        loop {
            let mut query = format!("event_type={event_type}&limit=2");
            if let Some(cursor) = &cursor {
                query.push_str(&format!("&cursor={cursor}"));
            }
            let page = page(&app, &admin.access, &query).await;
            pages += 1;
            assert_eq!(page["unavailable"], json!([]));
            for letter in items(&page) {
                seen.push((letter["id"].as_str().expect("id").to_owned(),
                           letter["service"].as_str().expect("service").to_owned()));
            }
            match page["next_cursor"].as_str() {
                Some(next) => cursor = Some(next.to_owned()),
                None => break,
            }
            assert!(pages < 10, "the pages end");
        }
        assert_eq!(seen, expected, "every letter once, newest first across services");
        assert!(pages >= 3, "{pages} pages of 2");

        // One service's own pages.
        let first = page(&app, &admin.access, &format!("event_type={event_type}&limit=2&service=fulfillment")).await;
        let next = first["next_cursor"].as_str().expect("a second page");
        let second = page(&app, &admin.access, &format!("event_type={event_type}&limit=2&service=fulfillment&cursor={next}")).await;
        let fulfillments: Vec<Value> = items(&first).into_iter().chain(items(&second)).collect();
        assert_eq!(fulfillments.len(), 3);
        assert!(fulfillments.iter().all(|l| l["service"] == "fulfillment"));
        assert_eq!(second["next_cursor"], Value::Null);

        let unknown = assert_problem(list(&app, Some(&admin.access), "service=nowhere").await, 422).await;
        assert_eq!(error_fields(&unknown), ["service"]);
        let forged = assert_problem(list(&app, Some(&admin.access), "cursor=bm90LWpzb24").await, 422).await;
        assert_eq!(error_fields(&forged), ["cursor"]);
    }
}

in_both_shapes!(a_gateway_over_http_names_the_service_that_does_not_answer);

/// Catalog served on its own listener and a gateway in front of it over HTTP, with
/// ordering at an address where nothing listens.
async fn a_gateway_over_http_names_the_service_that_does_not_answer(shape: Shape) {
    let Some(app) = spawn_app(shape).await else {
        return;
    };
    let admin = app.admin().await;
    let catalog = service(&app, ServiceKind::Catalog);
    let event = envelope(ServiceKind::Inventory, "test.dlq.remote.v1", "s", json!({}));
    let id = dead_letter(
        catalog.db(),
        "catalog",
        &event,
        platform::time::now_millis(),
    )
    .await;

    let shutdown = Shutdown::new();
    let served = platform::http::standalone_app(
        "catalog",
        platform::service::full_router(catalog),
        catalog.readiness(),
    );
    let listener = platform::http::server::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let catalog_url = format!("http://{}", listener.local_addr().expect("address"));
    let catalog_server = tokio::spawn(platform::http::serve(listener, served, shutdown.clone()));
    // Bound and dropped: nothing listens there any more.
    let gone = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let ordering_url = format!("http://{}", gone.local_addr().expect("address"));
    drop(gone);
    let tasks = platform::tasks::Tasks::new(shutdown.clone());
    let gateway_app = gateway::router(
        vec![
            (
                ServiceKind::Catalog,
                Backend::at(ServiceKind::Catalog, &catalog_url),
            ),
            (
                ServiceKind::Ordering,
                Backend::at(ServiceKind::Ordering, &ordering_url),
            ),
        ],
        &GatewayConfig::default(),
        gateway::Edge {
            authenticator: None,
            live: platform::live::LiveConfig::new(),
            redis_url: None,
            redis_prefix: String::new(),
            bus: None,
            tasks,
            config: ConfigSource::default(),
            api_documents: Vec::new(),
        },
    )
    .expect("gateway builds");
    let listener = platform::http::server::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let gateway_url = format!("http://{}", listener.local_addr().expect("address"));
    let gateway_server = tokio::spawn(platform::http::serve(
        listener,
        gateway_app,
        shutdown.clone(),
    ));
    let client = &app.client;

    let page: Value = client
        .get(format!("{gateway_url}{PATH}?event_type=test.dlq.remote.v1"))
        .bearer_auth(&admin.access)
        .send()
        .await
        .expect("list")
        .json()
        .await
        .expect("page");
    let ids: Vec<&str> = page["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter_map(|l| l["id"].as_str())
        .collect();
    assert_eq!(ids, [id.as_str()], "{page}");
    assert_eq!(page["unavailable"], json!(["ordering"]));
    let anonymous = client
        .get(format!("{gateway_url}{PATH}"))
        .send()
        .await
        .expect("list");
    assert_problem(anonymous, 401).await;

    // A letter no service that answered knows: 503 naming the one that did not.
    let unknown = client
        .post(format!(
            "{gateway_url}{PATH}/{}/replay",
            platform::ids::new_id()
        ))
        .bearer_auth(&admin.access)
        .send()
        .await
        .expect("replay");
    let problem = assert_problem(unknown, 503).await;
    assert_eq!(problem["unavailable"], json!(["ordering"]));
    let only_ordering = client
        .get(format!("{gateway_url}{PATH}?service=ordering"))
        .bearer_auth(&admin.access)
        .send()
        .await
        .expect("list");
    assert_problem(only_ordering, 503).await;

    // Catalog's letter is found over HTTP.
    let discarded = client
        .delete(format!("{gateway_url}{PATH}/{id}"))
        .bearer_auth(&admin.access)
        .send()
        .await
        .expect("discard");
    assert_eq!(discarded.status(), 204);
    let left: i64 = query_scalar("SELECT COUNT(*) FROM dead_letters WHERE id = $1")
        .bind(&id)
        .fetch_one(catalog.db().reader())
        .await
        .expect("count");
    assert_eq!(left, 0);

    shutdown.cancel();
    gateway_server
        .await
        .expect("gateway joins")
        .expect("gateway stops");
    catalog_server
        .await
        .expect("catalog joins")
        .expect("catalog stops");
}
