//! Coordination through the gateway, in both shapes: the registry (register, heartbeat,
//! TTL expiry, deregistration), the health poller following a live instance up and
//! down, configuration documents under If-Match with racing writers, lock fencing
//! under contenders and an expired lease, the schema registry and its compatibility
//! check, and who may call what.

use std::sync::Arc;
use std::sync::atomic::{AtomicU16, Ordering};
use std::time::Duration;

use platform::live::LiveConfig;
use platform::service::ServiceKind;
use serde_json::{Value, json};
use viscount_tests::{TestApp, assert_problem, both_shapes, error_fields, eventually};

/// Long enough for the sweeper (every 500 ms) and the health poller (every second).
const SETTLE: Duration = Duration::from_secs(10);

fn registration(service: &str, instance_id: &str, address: &str, ttl_seconds: i64) -> Value {
    json!({
        "service": service,
        "instance_id": instance_id,
        "address": address,
        "version": "1.2.3",
        "ttl_seconds": ttl_seconds,
    })
}

/// The instances of `service` in the registry, as the listing shows them.
async fn instances(app: &TestApp, token: &str, service: &str) -> Vec<Value> {
    let response = app
        .get(&format!("/api/v1/services?service={service}"), Some(token))
        .await;
    assert_eq!(response.status(), 200, "list {service}");
    let listed: Value = response.json().await.expect("json");
    let entries = listed.as_array().expect("a plain JSON array");
    entries
        .iter()
        .filter(|entry| entry["service"] == service)
        .flat_map(|entry| entry["instances"].as_array().cloned().unwrap_or_default())
        .collect()
}

fn ids(instances: &[Value]) -> Vec<String> {
    instances
        .iter()
        .filter_map(|i| i["instance_id"].as_str().map(str::to_owned))
        .collect()
}

/// A `/health/ready` on 127.0.0.1 answering the status the test sets (200 at first).
async fn flippable_instance() -> (String, Arc<AtomicU16>) {
    let status = Arc::new(AtomicU16::new(200));
    let answer = status.clone();
    let router = axum::Router::new().route(
        "/health/ready",
        axum::routing::get(move || {
            let answer = answer.clone();
            async move {
                axum::http::StatusCode::from_u16(answer.load(Ordering::Relaxed))
                    .unwrap_or(axum::http::StatusCode::INTERNAL_SERVER_ERROR)
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let address = format!("http://{}", listener.local_addr().expect("address"));
    tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    (address, status)
}

/// PUT a configuration document with `If-Match: "<version>"` (none when `None`).
async fn put_config(
    app: &TestApp,
    token: &str,
    service: &str,
    if_match: Option<u64>,
    body: &Value,
) -> reqwest::Response {
    let mut request = app
        .client
        .put(app.url(&format!("/api/v1/config/{service}")))
        .bearer_auth(token)
        .json(body);
    if let Some(version) = if_match {
        request = request.header("if-match", format!("\"{version}\""));
    }
    request.send().await.expect("request sent")
}

/// The live configuration the services of the test's process share.
fn live(app: &TestApp) -> &LiveConfig {
    &app.platform.as_ref().expect("platform runs").live
}

fn etag(response: &reqwest::Response) -> Option<String> {
    response
        .headers()
        .get("etag")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

both_shapes! {
    async fn the_registry_is_for_the_platform_and_admins_only(app) {
        assert_problem(app.get("/api/v1/services", None).await, 401).await;
        let customer = app.user("cust").await;
        assert_problem(app.get("/api/v1/services", Some(&customer.access)).await, 403).await;
        let refused = app
            .post("/api/v1/services/register", Some(&customer.access), &registration("ordering", "o-1", "http://127.0.0.1:9", 30))
            .await;
        assert_problem(refused, 403).await;
        assert_problem(app.get("/api/v1/config/payments", Some(&customer.access)).await, 403).await;
        assert_problem(app.post("/api/v1/locks/nightly", None, &json!({"owner": "a", "ttl_seconds": 5})).await, 401).await;
        let admin = app.admin().await;
        let response = app.get("/api/v1/services", Some(&admin.access)).await;
        assert_eq!(response.status(), 200);
        let listed: Value = response.json().await.expect("json");
        assert!(listed.is_array(), "{listed}");
    }

    async fn instances_register_heartbeat_are_listed_and_deregister(app) {
        let admin = app.admin().await;
        let token = admin.access.as_str();
        let response = app
            .post("/api/v1/services/register", Some(token), &registration("ordering", "ordering-a", "http://127.0.0.1:9/", 30))
            .await;
        assert_eq!(response.status(), 201);
        assert_eq!(
            response.headers().get("location").and_then(|v| v.to_str().ok()),
            Some("/api/v1/services/ordering/instances/ordering-a")
        );
        let first: Value = response.json().await.expect("json");
        assert_eq!(first["service"], "ordering");
        assert_eq!(first["address"], "http://127.0.0.1:9");
        assert_eq!(first["ttl_seconds"], 30);
        assert_eq!(first["status"], "unknown");
        assert_eq!(first["config_version"], 0);
        assert!(first["last_seen"].as_str().is_some_and(|t| t.ends_with('Z')));

        let listed = instances(&app, token, "ordering").await;
        assert_eq!(ids(&listed), ["ordering-a"]);
        assert_eq!(listed[0]["version"], "1.2.3");

        // A heartbeat is the same call: 200, the new version kept.
        app.clock.advance(Duration::from_secs(2));
        let mut beat = registration("ordering", "ordering-a", "http://127.0.0.1:9", 30);
        beat["version"] = json!("1.2.4");
        let response = app.post("/api/v1/services/register", Some(token), &beat).await;
        assert_eq!(response.status(), 200);
        let again: Value = response.json().await.expect("json");
        assert_eq!(again["version"], "1.2.4");
        assert_ne!(again["last_seen"], first["last_seen"]);
        let listed = instances(&app, token, "ordering").await;
        assert_eq!(ids(&listed), ["ordering-a"]);
        assert_eq!(listed[0]["version"], "1.2.4");

        // Bad registrations name each bad field.
        let bad = app
            .post(
                "/api/v1/services/register",
                Some(token),
                &json!({"service": "billing", "instance_id": "a/b", "address": "ftp://x", "version": "1", "ttl_seconds": 0}),
            )
            .await;
        let problem = assert_problem(bad, 422).await;
        let mut fields = error_fields(&problem);
        fields.sort();
        assert_eq!(fields, ["address", "instance_id", "service", "ttl_seconds"]);
        let too_long = app
            .post("/api/v1/services/register", Some(token), &registration("ordering", "x", "http://127.0.0.1:9", 301))
            .await;
        assert_eq!(error_fields(&assert_problem(too_long, 422).await), ["ttl_seconds"]);
        let unknown_filter = app.get("/api/v1/services?service=billing", Some(token)).await;
        assert_eq!(error_fields(&assert_problem(unknown_filter, 422).await), ["service"]);

        let gone = app.delete("/api/v1/services/ordering/instances/ordering-a", token).await;
        assert_eq!(gone.status(), 204);
        assert!(instances(&app, token, "ordering").await.is_empty());
        assert_problem(app.delete("/api/v1/services/ordering/instances/ordering-a", token).await, 404).await;
        assert_problem(app.delete("/api/v1/services/billing/instances/x", token).await, 404).await;
    }

    async fn an_instance_that_misses_its_ttl_is_dropped_and_a_heartbeat_keeps_one(app) {
        let admin = app.admin().await;
        let token = admin.access.as_str();
        for id in ["beating", "silent"] {
            let response = app
                .post("/api/v1/services/register", Some(token), &registration("catalog", id, "http://127.0.0.1:9", 5))
                .await;
            assert_eq!(response.status(), 201);
        }
        app.clock.advance(Duration::from_secs(3));
        let beat = app
            .post("/api/v1/services/register", Some(token), &registration("catalog", "beating", "http://127.0.0.1:9", 5))
            .await;
        assert_eq!(beat.status(), 200);
        // "silent" expired at 5 s, "beating" expires at 8 s.
        app.clock.advance(Duration::from_secs(3));
        let left = eventually(SETTLE, "the sweeper to drop the silent instance", || async {
            let left = ids(&instances(&app, token, "catalog").await);
            (!left.contains(&"silent".to_owned())).then_some(left)
        })
        .await;
        assert_eq!(left, ["beating"]);
    }

    async fn the_health_poller_follows_an_instance_up_and_down(app) {
        let admin = app.admin().await;
        let token = admin.access.as_str();
        let (address, status) = flippable_instance().await;
        let response = app
            .post("/api/v1/services/register", Some(token), &registration("notifications", "n-1", &address, 300))
            .await;
        assert_eq!(response.status(), 201);

        let instance_status = |wanted: &'static str| {
            let app = &app;
            async move {
                let response = app.get("/api/v1/services/notifications/health", Some(token)).await;
                assert_eq!(response.status(), 200);
                let health: Value = response.json().await.expect("json");
                let mine = health["instances"]
                    .as_array()
                    .and_then(|all| all.iter().find(|i| i["instance_id"] == "n-1").cloned())?;
                (mine["status"] == wanted).then_some((health, mine))
            }
        };
        let (health, mine) = eventually(SETTLE, "the instance to be polled up", || instance_status("up")).await;
        assert_eq!(health["service"], "notifications");
        assert_eq!(health["status"], "up");
        assert_eq!(mine["address"], address.as_str());
        assert!(mine["last_checked"].as_str().is_some_and(|t| t.ends_with('Z')));

        let platform: Value = app
            .get("/api/v1/services/health", Some(token))
            .await
            .json()
            .await
            .expect("json");
        assert_eq!(platform["services"]["notifications"]["status"], "up");
        assert_eq!(platform["services"]["notifications"]["instances"], 1);

        status.store(503, Ordering::Relaxed);
        let (health, _) = eventually(SETTLE, "the instance to be polled down", || instance_status("down")).await;
        assert_eq!(health["status"], "down");
        let listed = instances(&app, token, "notifications").await;
        assert_eq!(listed[0]["status"], "down");

        status.store(200, Ordering::Relaxed);
        eventually(SETTLE, "the instance to come back up", || instance_status("up")).await;
        assert_problem(app.get("/api/v1/services/billing/health", Some(token)).await, 404).await;
    }

    async fn configuration_needs_if_match_and_one_of_two_racing_writes_wins(app) {
        let admin = app.admin().await;
        let token = admin.access.as_str();
        let response = app.get("/api/v1/config/payments", Some(token)).await;
        assert_eq!(response.status(), 200);
        assert_eq!(etag(&response).as_deref(), Some("\"0\""));
        let empty: Value = response.json().await.expect("json");
        assert_eq!(empty, json!({"service": "payments", "version": 0, "values": {}}));

        let values = json!({"values": {"max_amount_minor": 50_000, "currency": "EUR", "log_level": "debug"}});
        assert_problem(put_config(&app, token, "payments", None, &values).await, 428).await;

        let response = put_config(&app, token, "payments", Some(0), &values).await;
        assert_eq!(response.status(), 200);
        assert_eq!(etag(&response).as_deref(), Some("\"1\""));
        let written: Value = response.json().await.expect("json");
        assert_eq!(written["version"], 1);
        assert_eq!(written["values"], values["values"]);
        assert_eq!(written["applied_live"], json!(["log_level", "max_amount_minor"]));
        assert_eq!(written["needs_restart"], json!(["currency"]));
        // The services of this process have it at once.
        let applied = live(&app).current(ServiceKind::Payments);
        assert_eq!(applied.version, 1);
        assert_eq!(applied.values.get("max_amount_minor"), Some(&json!(50_000)));

        // A stale version, a bare-number If-Match.
        let stale = app
            .client
            .put(app.url("/api/v1/config/payments"))
            .bearer_auth(token)
            .header("if-match", "0")
            .json(&values)
            .send()
            .await
            .expect("sent");
        let problem = assert_problem(stale, 412).await;
        assert_eq!(problem["current_version"], 1);

        let wrong_type = put_config(&app, token, "payments", Some(1), &json!({"values": {"fraud_max_attempts_per_minute": "five"}})).await;
        assert_eq!(error_fields(&assert_problem(wrong_type, 422).await), ["values.fraud_max_attempts_per_minute"]);
        let not_object = put_config(&app, token, "payments", Some(1), &json!({"values": [1, 2]})).await;
        assert_eq!(error_fields(&assert_problem(not_object, 422).await), ["values"]);
        let rate_limits = put_config(&app, token, "gateway", Some(0), &json!({"values": {"rate_limits": {"anonymous_per_minute": -1}}})).await;
        assert_eq!(error_fields(&assert_problem(rate_limits, 422).await), ["values.rate_limits.anonymous_per_minute"]);
        // The gateway reads its cache live, so its members are checked and it is applied
        // live; a key it reads only at start is kept whatever it holds.
        let cache = put_config(&app, token, "gateway", Some(0), &json!({"values": {"cache": {"enabled": "yes", "max_entries": -5}}})).await;
        assert_eq!(error_fields(&assert_problem(cache, 422).await), ["values.cache.enabled", "values.cache.max_entries"]);
        let response = put_config(&app, token, "gateway", Some(0), &json!({"values": {"cache": {"ttl_secs": 5}, "request_timeout_secs": "soon"}})).await;
        assert_eq!(response.status(), 200);
        let written: Value = response.json().await.expect("json");
        assert_eq!(written["applied_live"], json!(["cache"]));
        assert_eq!(written["needs_restart"], json!(["request_timeout_secs"]));
        assert_problem(put_config(&app, token, "billing", Some(0), &values).await, 404).await;
        let customer = app.user("cust").await;
        assert_problem(put_config(&app, &customer.access, "payments", Some(1), &values).await, 403).await;

        // Two writers that read version 1: exactly one wins.
        let a = json!({"values": {"max_amount_minor": 1}});
        let b = json!({"values": {"max_amount_minor": 2}});
        let (first, second) = tokio::join!(
            put_config(&app, token, "payments", Some(1), &a),
            put_config(&app, token, "payments", Some(1), &b),
        );
        let mut statuses = [first.status().as_u16(), second.status().as_u16()];
        statuses.sort_unstable();
        assert_eq!(statuses, [200, 412]);
        // The loser is told the version the winner wrote.
        let loser = if first.status() == 412 { first } else { second };
        assert_eq!(assert_problem(loser, 412).await["current_version"], 2);

        let now: Value = app.get("/api/v1/config/payments", Some(token)).await.json().await.expect("json");
        assert_eq!(now["version"], 2);
        let kept = now["values"]["max_amount_minor"].as_i64();
        assert!(kept == Some(1) || kept == Some(2), "{now}");

        // An instance of the service learns the version on its next heartbeat.
        let registered: Value = app
            .post("/api/v1/services/register", Some(token), &registration("payments", "p-1", "http://127.0.0.1:9", 30))
            .await
            .json()
            .await
            .expect("json");
        assert_eq!(registered["config_version"], 2);

        // A restarted process starts from the stored document.
        let mut app = app;
        app.restart().await;
        assert_eq!(live(&app).current(ServiceKind::Payments).version, 2);
    }

    async fn a_lock_has_one_holder_and_fencing_tokens_only_grow(app) {
        let admin = app.admin().await;
        let token = admin.access.as_str();
        let ask = |owner: &str| json!({"owner": owner, "ttl_seconds": 5});
        let (ask_a, ask_b) = (ask("a"), ask("b"));
        let (a, b) = tokio::join!(
            app.post("/api/v1/locks/nightly-run", Some(token), &ask_a),
            app.post("/api/v1/locks/nightly-run", Some(token), &ask_b),
        );
        let (winner, loser, granted) = match (a.status().as_u16(), b.status().as_u16()) {
            (201, 409) => ("a", "b", a),
            (409, 201) => ("b", "a", b),
            other => panic!("expected one 201 and one 409, got {other:?}"),
        };
        let location = granted.headers().get("location").and_then(|v| v.to_str().ok()).map(str::to_owned);
        assert_eq!(location.as_deref(), Some("/api/v1/locks/nightly-run"));
        let first: Value = granted.json().await.expect("json");
        assert_eq!(first["name"], "nightly-run");
        assert_eq!(first["owner"], winner);
        let first_token = first["fencing_token"].as_i64().expect("token");

        let holder: Value = app.get("/api/v1/locks/nightly-run", Some(token)).await.json().await.expect("json");
        assert_eq!(holder["owner"], winner);
        assert_eq!(holder["fencing_token"], first_token);

        // The other one is refused while the lease runs, and cannot release it.
        let held = assert_problem(app.post("/api/v1/locks/nightly-run", Some(token), &ask(loser)).await, 409).await;
        assert!(held["expires_at"].is_string(), "{held}");
        let release = app
            .client
            .delete(app.url(&format!("/api/v1/locks/nightly-run?owner={loser}")))
            .bearer_auth(token)
            .send()
            .await
            .expect("sent");
        assert_problem(release, 409).await;

        // The holder renews: same token.
        let renewed = app.post("/api/v1/locks/nightly-run", Some(token), &ask(winner)).await;
        assert_eq!(renewed.status(), 200);
        let renewed: Value = renewed.json().await.expect("json");
        assert_eq!(renewed["fencing_token"], first_token);

        // The lease ends (the holder paused): the other takes over with a bigger token.
        app.clock.advance(Duration::from_secs(6));
        assert_problem(app.get("/api/v1/locks/nightly-run", Some(token)).await, 404).await;
        let taken = app.post("/api/v1/locks/nightly-run", Some(token), &ask(loser)).await;
        assert_eq!(taken.status(), 201);
        let taken: Value = taken.json().await.expect("json");
        let second_token = taken["fencing_token"].as_i64().expect("token");
        assert!(second_token > first_token, "{second_token} > {first_token}");
        assert_problem(app.post("/api/v1/locks/nightly-run", Some(token), &ask(winner)).await, 409).await;

        // The new holder releases; the next lease still gets a bigger token.
        let release = app
            .client
            .delete(app.url(&format!("/api/v1/locks/nightly-run?owner={loser}")))
            .bearer_auth(token)
            .send()
            .await
            .expect("sent");
        assert_eq!(release.status(), 204);
        let third: Value = app.post("/api/v1/locks/nightly-run", Some(token), &ask(winner)).await.json().await.expect("json");
        assert!(third["fencing_token"].as_i64().expect("token") > second_token);

        let bad = app.post("/api/v1/locks/nightly-run", Some(token), &json!({"owner": "", "ttl_seconds": 0})).await;
        let mut fields = error_fields(&assert_problem(bad, 422).await);
        fields.sort();
        assert_eq!(fields, ["owner", "ttl_seconds"]);
        let bad_ttl = app.post("/api/v1/locks/nightly-run", Some(token), &json!({"owner": "a", "ttl_seconds": 0})).await;
        assert_eq!(error_fields(&assert_problem(bad_ttl, 422).await), ["ttl_seconds"]);
        let no_owner = app.delete("/api/v1/locks/nightly-run", token).await;
        assert_eq!(error_fields(&assert_problem(no_owner, 422).await), ["owner"]);
    }

    async fn schemas_are_served_and_a_removed_field_is_incompatible(app) {
        let response = app.get("/api/v1/schemas", None).await;
        assert_eq!(response.status(), 200);
        let list: Value = response.json().await.expect("json");
        let items = list["items"].as_array().expect("items");
        let types: Vec<&str> = items.iter().filter_map(|i| i["event_type"].as_str()).collect();
        for expected in ["ordering.order.created.v1", "coordination.service.registered.v1", "coordination.config.updated.v1"] {
            assert!(types.contains(&expected), "{expected} in {types:?}");
        }

        let response = app.get("/api/v1/schemas/ordering.order.created.v1", None).await;
        assert_eq!(response.status(), 200);
        assert_eq!(
            response.headers().get("content-type").and_then(|v| v.to_str().ok()),
            Some("application/schema+json")
        );
        let schema: Value = response.json().await.expect("json");
        assert_problem(app.get("/api/v1/schemas/ordering.order.vanished.v1", None).await, 404).await;

        let same = app
            .post("/api/v1/schemas/check", None, &json!({"event_type": "ordering.order.created.v1", "schema": schema}))
            .await;
        assert_eq!(same.status(), 200);
        assert_eq!(same.json::<Value>().await.expect("json"), json!({"compatible": true}));

        let mut narrower = schema.clone();
        let properties = narrower["properties"].as_object_mut().expect("properties");
        let removed = properties.keys().next().cloned().expect("a property");
        properties.remove(&removed);
        let refused = app
            .post("/api/v1/schemas/check", None, &json!({"event_type": "ordering.order.created.v1", "schema": narrower}))
            .await;
        let problem = assert_problem(refused, 409).await;
        assert!(error_fields(&problem).contains(&removed), "{removed} in {problem}");

        let unknown = app
            .post("/api/v1/schemas/check", None, &json!({"event_type": "nothing.v1", "schema": schema}))
            .await;
        assert_problem(unknown, 404).await;
        let not_object = app
            .post("/api/v1/schemas/check", None, &json!({"event_type": "ordering.order.created.v1", "schema": "x"}))
            .await;
        assert_eq!(error_fields(&assert_problem(not_object, 422).await), ["schema"]);
    }
}
