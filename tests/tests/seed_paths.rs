//! The seeds' own paths, served beside ours through the gateway in both shapes (issue
//! 21): seed 004's `GET /api/health` in the seed's health contract and its analytics
//! questions, and seed 003's `/api/v1/users/{id}/preferences`, each answering exactly
//! what ours answer, errors and refusals included.

use std::time::Duration;

use serde_json::{Value, json};
use viscount_tests::shop::{self, APPROVE};
use viscount_tests::{TestApp, assert_problem, both_shapes, error_fields, eventually};

/// Every backend service the platform runs, as `/api/health` names them.
const SERVICES: [&str; 11] = [
    "analytics",
    "catalog",
    "coordination",
    "fulfillment",
    "identity",
    "ingestion",
    "inventory",
    "notifications",
    "ordering",
    "payments",
    "support",
];

/// The status and JSON body of `path` asked with `token`, without the fields that
/// say when it was answered (a realtime answer's period ends now).
async fn answer(app: &TestApp, path: &str, token: &str) -> (u16, Value) {
    let response = app.get(path, Some(token)).await;
    let status = response.status().as_u16();
    let mut body: Value = response.json().await.expect("a JSON answer");
    if let Some(object) = body.as_object_mut() {
        for moment in ["as_of", "from", "to"] {
            object.remove(moment);
        }
    }
    (status, body)
}

both_shapes! {
    async fn api_health_answers_in_the_seeds_contract(app) {
        let response = app.get("/api/health", None).await;
        assert_eq!(response.status(), 200);
        let body: Value = response.json().await.expect("json");
        assert_eq!(body["status"], "healthy", "{body}");
        assert_eq!(body["service"], "gateway");
        assert!(body["version"].as_str().is_some_and(|v| !v.is_empty()), "{body}");
        let dependencies = body["dependencies"].as_object().expect("dependencies");
        for service in SERVICES {
            assert_eq!(dependencies.get(service).and_then(Value::as_str), Some("healthy"), "{service}: {body}");
        }
    }

    async fn analytics_answers_the_same_at_the_seeds_paths(app) {
        let admin = app.admin().await;
        // One confirmed order, so Viscount's own revenue is not empty.
        shop::stocked(&app, &admin, "SEED-1", 1_250, 5).await;
        let buyer = app.user("buyer").await;
        let placed = shop::json_of(shop::order(&app, &buyer, &shop::items_order("SEED-1", 1, APPROVE)).await).await;
        assert_eq!(placed["status"], "confirmed", "{placed}");
        let realtime = "/api/v1/attribution/revenue/realtime?model=last_touch";
        eventually(Duration::from_secs(20), "the order's revenue", || async {
            let (_, body) = answer(&app, realtime, &admin.access).await;
            (body["total"]["amount"] == 1_250).then_some(())
        })
        .await;

        let pairs = [
            ("/api/v1/attribution/revenue/realtime?model=last_touch", "/api/attribution/revenue/realtime?model=last_touch"),
            ("/api/v1/reconciliation/status?tenant=viscount", "/api/reconciliation/status?tenant=viscount"),
            ("/api/v1/export/revenue?format=json&limit=5", "/api/export/revenue?format=json&limit=5"),
        ];
        for (ours, seeds) in pairs {
            let (status, canonical) = answer(&app, ours, &admin.access).await;
            assert_eq!(status, 200, "{ours}: {canonical}");
            let (status, alias) = answer(&app, seeds, &admin.access).await;
            assert_eq!(status, 200, "{seeds}: {alias}");
            assert_eq!(alias, canonical, "{seeds} answers as {ours}");
        }

        // The same errors: a bad question names its field, a customer is refused, and
        // an anonymous caller must sign in.
        let problem = assert_problem(app.get("/api/attribution/revenue/realtime?model=u_shaped", Some(&admin.access)).await, 422).await;
        assert_eq!(error_fields(&problem), vec!["model"]);
        let problem = assert_problem(app.get("/api/export/revenue?format=xml", Some(&admin.access)).await, 422).await;
        assert_eq!(error_fields(&problem), vec!["format"]);
        for path in ["/api/attribution/revenue/realtime", "/api/reconciliation/status", "/api/export/revenue"] {
            assert_problem(app.get(path, Some(&buyer.access)).await, 403).await;
            assert_problem(app.get(path, None).await, 401).await;
        }
    }

    async fn preferences_answer_at_seed_003s_path(app) {
        let user = app.user("prefs").await;
        let other = app.user("other").await;
        let seeds = format!("/api/v1/users/{}/preferences", user.id);
        let ours = format!("/api/v1/users/{}/notification-preferences", user.id);
        let response = app.put(&seeds, &user.access, &json!({"sms": {"to": "+15551234567"}})).await;
        assert_eq!(response.status(), 200);
        let changed: Value = response.json().await.expect("json");
        assert_eq!(changed["sms"]["to"], "+15551234567");
        let (status, read) = answer(&app, &ours, &user.access).await;
        assert_eq!(status, 200);
        assert_eq!(read, changed, "one set of preferences behind both paths");
        let (_, read) = answer(&app, "/api/v1/users/me/preferences", &user.access).await;
        assert_eq!(read, changed);

        let problem = assert_problem(app.put(&seeds, &user.access, &json!({"sms": {"to": "12345"}})).await, 422).await;
        assert_eq!(error_fields(&problem), ["sms.to"]);
        // Another customer's preferences stay theirs, at either path.
        let status = app.get(&seeds, Some(&other.access)).await.status().as_u16();
        let canonical = app.get(&ours, Some(&other.access)).await.status().as_u16();
        assert!(status == 403 || status == 404, "{status}");
        assert_eq!(status, canonical);
        assert_problem(app.get(&seeds, None).await, 401).await;
    }
}
