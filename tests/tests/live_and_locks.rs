//! Live settings and single-holder jobs, in both shapes. An admin's new configuration
//! document (`PUT /api/v1/config/{service}` through the gateway) applies to the next
//! payment (fraud limits) and the next stock change (the low-stock threshold) without a
//! restart, whatever the document holds for settings read only at start. Analytics' daily reconciliation runs under coordination's lock: skipped
//! while another replica holds it, once when two turns race, and a holder whose lease
//! was taken over cannot write after the one that took it.

use std::time::Duration;

use analytics::DAILY_RECONCILIATION;
use platform::config::ConfigSource;
use platform::fence::Fence;
use serde_json::{Value, json};
use viscount_tests::in_both_shapes;
use viscount_tests::shop::*;
use viscount_tests::{Shape, TestApp, TestUser, eventually, spawn_app_with};

/// The platform's service token in these tests, so a test can take a lock as another
/// replica would.
const SERVICE_TOKEN: &str = "svc-live-and-locks-test";

in_both_shapes!(
    a_new_fraud_limit_applies_to_the_next_payment,
    a_new_low_stock_threshold_applies_to_the_next_stock_change,
    the_daily_reconciliation_skips_while_another_replica_holds_its_lock,
    two_racing_turns_of_the_daily_reconciliation_make_each_run_once,
    a_holder_whose_lease_was_taken_over_cannot_write_after_the_new_holder,
);

/// The platform in `shape` with a service token of the test's own; `None` when the
/// distributed shape is unavailable.
async fn platform(shape: Shape) -> Option<TestApp> {
    let config = ConfigSource::from_parts(
        &format!("[discovery]\nservice_token = \"{SERVICE_TOKEN}\"\n"),
        std::iter::empty::<(String, String)>(),
    )
    .expect("config");
    spawn_app_with(shape, config).await
}

/// Replaces `service`'s configuration document (at `version`) with `values`, as an
/// admin through the gateway; the new document.
async fn configure(
    app: &TestApp,
    admin: &TestUser,
    service: &str,
    version: u64,
    values: Value,
) -> Value {
    let response = app
        .client
        .put(app.url(&format!("/api/v1/config/{service}")))
        .bearer_auth(&admin.access)
        .header("if-match", format!("\"{version}\""))
        .json(&json!({ "values": values }))
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status(), 200, "PUT /api/v1/config/{service}");
    json_of(response).await
}

async fn a_new_fraud_limit_applies_to_the_next_payment(shape: Shape) {
    let Some(app) = platform(shape).await else {
        return;
    };
    let admin = app.admin().await;
    stocked(&app, &admin, "LIVE-FRAUD", 2_500, 10).await;
    let buyer = app.user("live-fraud").await;
    let placed = json_of(order(&app, &buyer, &items_order("LIVE-FRAUD", 1, APPROVE)).await).await;
    assert_eq!(
        placed["status"], "confirmed",
        "under the default limit: {placed}"
    );

    let document = configure(
        &app,
        &admin,
        "payments",
        0,
        json!({"max_amount_minor": 2_000}),
    )
    .await;
    assert_eq!(document["version"], 1);
    assert_eq!(document["applied_live"], json!(["max_amount_minor"]));
    let blocked = json_of(order(&app, &buyer, &items_order("LIVE-FRAUD", 1, APPROVE)).await).await;
    assert_eq!(
        blocked["status"], "cancelled",
        "25.00 is over the new limit: {blocked}"
    );
    let why = blocked["cancel_reason"]
        .as_str()
        .unwrap_or("")
        .to_lowercase();
    assert!(why.contains("fraud"), "cancelled by the fraud rules: {why}");

    configure(
        &app,
        &admin,
        "payments",
        1,
        json!({"max_amount_minor": 1_000_000}),
    )
    .await;
    let again = json_of(order(&app, &buyer, &items_order("LIVE-FRAUD", 1, APPROVE)).await).await;
    assert_eq!(
        again["status"], "confirmed",
        "the limit raised again: {again}"
    );
}

/// Skus of inventory's low-stock listing, with their thresholds.
async fn low_stock(app: &TestApp, admin: &TestUser) -> Vec<(String, i64)> {
    let listed = json_of(
        app.get("/api/v1/inventory/low-stock", Some(&admin.access))
            .await,
    )
    .await;
    listed["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|item| {
            let sku = item["sku"].as_str().expect("sku").to_owned();
            (
                sku,
                item["low_stock_threshold"].as_i64().expect("threshold"),
            )
        })
        .collect()
}

/// How many `inventory.stock.low` alerts inventory has staged for `sku`.
async fn low_alerts(app: &TestApp, sku: &str) -> i64 {
    let inventory = app
        .platform
        .as_ref()
        .and_then(|p| p.services.get::<inventory::Inventory>())
        .expect("inventory");
    platform::db::query_scalar(
        "SELECT COUNT(*) FROM outbox WHERE event_type = 'inventory.stock.low.v1' AND subject = $1",
    )
    .bind(sku)
    .fetch_one(platform::service::Service::db(inventory).reader())
    .await
    .expect("outbox")
}

async fn adjust(app: &TestApp, admin: &TestUser, sku: &str, delta: i64) {
    let response = app
        .post(
            "/api/v1/inventory/adjust",
            Some(&admin.access),
            &json!({"sku": sku, "warehouse_id": "MAIN", "delta": delta, "reason": "count"}),
        )
        .await;
    assert_eq!(response.status(), 200, "adjust {sku} by {delta}");
}

async fn a_new_low_stock_threshold_applies_to_the_next_stock_change(shape: Shape) {
    let Some(app) = platform(shape).await else {
        return;
    };
    let admin = app.admin().await;
    let warehouse = app
        .post(
            "/api/v1/warehouses",
            Some(&admin.access),
            &json!({"code": "MAIN", "name": "Main"}),
        )
        .await;
    assert_eq!(warehouse.status(), 201);
    adjust(&app, &admin, "LIVE-LOW", 20).await;
    assert!(
        low_stock(&app, &admin).await.is_empty(),
        "20 is above the default of 5"
    );

    // A setting read only at start, with a value it could not take, waits for the next
    // start and does not hold back the live one beside it.
    let document = configure(
        &app,
        &admin,
        "inventory",
        0,
        json!({"default_low_stock_threshold": 25, "max_reservation_ttl_secs": "a day"}),
    )
    .await;
    assert_eq!(
        document["applied_live"],
        json!(["default_low_stock_threshold"])
    );
    assert_eq!(
        document["needs_restart"],
        json!(["max_reservation_ttl_secs"])
    );
    assert_eq!(
        low_stock(&app, &admin).await,
        [("LIVE-LOW".to_owned(), 25)],
        "the listing reads the new threshold"
    );
    assert_eq!(low_alerts(&app, "LIVE-LOW").await, 0);
    adjust(&app, &admin, "LIVE-LOW", -1).await;
    assert_eq!(
        low_alerts(&app, "LIVE-LOW").await,
        1,
        "the next change finds the sku under the new threshold and alerts once"
    );
}

/// Moves the clock past the daily reconciliation's hour of today (02:00 UTC by default).
fn past_the_reconciliation_hour(app: &TestApp) {
    let into_day = app.clock.now_millis().rem_euclid(86_400_000);
    if into_day < 3 * 3_600_000 {
        app.clock
            .advance(Duration::from_millis((3 * 3_600_000 - into_day) as u64));
    }
}

/// Takes the daily reconciliation's lock as another replica (`owner`) would, through
/// the gateway with the platform's service token: the lease's fencing token, or `None`
/// while it is held.
async fn take_lock(app: &TestApp, owner: &str, ttl_seconds: u64) -> Option<u64> {
    let response = app
        .post(
            &format!("/api/v1/locks/{DAILY_RECONCILIATION}"),
            Some(SERVICE_TOKEN),
            &json!({"owner": owner, "ttl_seconds": ttl_seconds}),
        )
        .await;
    match response.status().as_u16() {
        201 | 200 => Some(
            json_of(response).await["fencing_token"]
                .as_u64()
                .expect("token"),
        ),
        409 => None,
        status => panic!("taking the lock answered {status}"),
    }
}

/// The daily runs of `tenant` stored so far.
async fn daily_runs(app: &TestApp, tenant: &str) -> i64 {
    let analytics = app.analytics();
    platform::db::query_scalar(
        "SELECT COUNT(*) FROM reconciliation_runs WHERE tenant_id = $1 AND trigger_kind = 'daily'",
    )
    .bind(tenant)
    .fetch_one(platform::service::Service::db(analytics).reader())
    .await
    .expect("runs")
}

async fn the_daily_reconciliation_skips_while_another_replica_holds_its_lock(shape: Shape) {
    let Some(app) = platform(shape).await else {
        return;
    };
    past_the_reconciliation_hour(&app);
    let analytics = app.analytics().app().clone();
    assert!(take_lock(&app, "other-replica", 600).await.is_some());
    assert_eq!(
        analytics.run_daily_reconciliations().await.expect("turn"),
        0
    );
    assert_eq!(
        daily_runs(&app, "viscount").await,
        0,
        "held elsewhere: no run here"
    );

    let released = app
        .client
        .delete(app.url(&format!(
            "/api/v1/locks/{DAILY_RECONCILIATION}?owner=other-replica"
        )))
        .bearer_auth(SERVICE_TOKEN)
        .send()
        .await
        .expect("sent");
    assert_eq!(released.status(), 204);
    assert!(analytics.run_daily_reconciliations().await.expect("turn") >= 1);
    assert_eq!(daily_runs(&app, "viscount").await, 1);
    assert!(
        take_lock(&app, "other-replica", 60).await.is_some(),
        "the turn released the lock after its run"
    );
}

async fn two_racing_turns_of_the_daily_reconciliation_make_each_run_once(shape: Shape) {
    let Some(app) = platform(shape).await else {
        return;
    };
    past_the_reconciliation_hour(&app);
    let (one, other) = (app.analytics().app().clone(), app.analytics().app().clone());
    let (a, b) = tokio::join!(
        one.run_daily_reconciliations(),
        other.run_daily_reconciliations()
    );
    let (a, b) = (a.expect("turn"), b.expect("turn"));
    assert!(a.min(b) == 0 && a.max(b) >= 1, "one turn ran: {a} and {b}");
    assert_eq!(daily_runs(&app, "viscount").await, 1);
}

async fn a_holder_whose_lease_was_taken_over_cannot_write_after_the_new_holder(shape: Shape) {
    let Some(app) = platform(shape).await else {
        return;
    };
    past_the_reconciliation_hour(&app);
    let analytics = app.analytics().app().clone();
    // A replica takes the job and pauses past its lease.
    let paused = take_lock(&app, "paused-replica", 60).await.expect("lease");
    app.clock.advance(Duration::from_secs(61));
    // This replica's next turn takes the lock over, with a newer token, and writes.
    assert!(analytics.run_daily_reconciliations().await.expect("turn") >= 1);
    assert_eq!(daily_runs(&app, "viscount").await, 1);

    // A tenant arrives whose day nobody has reconciled yet.
    let admin = app.admin().await;
    let late = app.tenant_with_sources(&admin, "Late").await;
    eventually(SETTLE, "analytics knows the tenant", || async {
        analytics
            .tenant_exists(&late.id)
            .await
            .expect("tenant")
            .then_some(())
    })
    .await;
    // The paused replica resumes with its old token: its write is refused.
    let stale = Fence::new(DAILY_RECONCILIATION, paused);
    assert_eq!(
        analytics
            .run_daily_reconciliations_under(&stale)
            .await
            .expect("pass"),
        0,
        "the stale holder writes nothing"
    );
    assert_eq!(daily_runs(&app, &late.id).await, 0);
    // The current holder's next turn makes it.
    assert_eq!(
        analytics.run_daily_reconciliations().await.expect("turn"),
        1
    );
    assert_eq!(daily_runs(&app, &late.id).await, 1);
}
