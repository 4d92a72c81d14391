//! Merchants' outbound webhooks through the gateway, in both shapes, against a real
//! receiver on a socket that verifies every request with the Standard Webhooks
//! reference library: subscriptions per event type, the signature and its headers,
//! retries with the same `webhook-id`, the delivery log, a delivery that fails for
//! good, a disabled endpoint holding its deliveries, secret rotation, resend, delete,
//! and bad input.

use std::collections::HashMap;

use axum::http::StatusCode;
use platform::config::ConfigSource;
use serde_json::{Value, json};
use viscount_tests::in_both_shapes;
use viscount_tests::receiver::{Hook, Receiver};
use viscount_tests::shop::*;
use viscount_tests::{TestApp, TestUser, assert_problem, error_fields, eventually, spawn_app_with};

in_both_shapes!(
    merchants_receive_signed_events_of_the_types_they_subscribed_to,
    an_endpoint_is_managed_and_its_deliveries_wait_while_it_is_off,
);

const ENDPOINTS: &str = "/api/v1/admin/webhooks";

/// Whether `hook` verifies under `secret` (signature, and a timestamp within the
/// reference library's five minutes).
fn verifies(hook: &Hook, secret: &str) -> bool {
    standardwebhooks::Webhook::new(secret)
        .and_then(|webhook| webhook.verify(&hook.raw, &hook.headers))
        .is_ok()
}

/// The `webhook-id` of `hook`.
fn webhook_id(hook: &Hook) -> &str {
    hook.header("webhook-id").unwrap_or_default()
}

/// A merchant's server: `/ok` takes everything, `/flaky` answers 500 to the first two
/// attempts of each `webhook-id` and 204 after, `/down` always answers 503.
async fn merchant() -> Receiver {
    Receiver::start(|hook, earlier| {
        let tries = earlier
            .iter()
            .filter(|h| h.path == hook.path && webhook_id(h) == webhook_id(hook))
            .count();
        match hook.path.as_str() {
            "flaky" if tries < 2 => StatusCode::INTERNAL_SERVER_ERROR,
            "flaky" => StatusCode::NO_CONTENT,
            "down" => StatusCode::SERVICE_UNAVAILABLE,
            _ => StatusCode::OK,
        }
    })
    .await
}

/// Requests to `path` on `receiver` whose body is an event of `event_type` about
/// `order_id`.
fn events(receiver: &Receiver, path: &str, event_type: &str, order_id: &str) -> Vec<Hook> {
    receiver
        .hooks(path)
        .into_iter()
        .filter(|h| {
            let body = h.json();
            body["type"] == event_type && body["data"]["order_id"] == order_id
        })
        .collect()
}

/// The platform with short webhook retries (1 s, 1 s) and a quick poll.
async fn start(shape: viscount_tests::Shape) -> Option<TestApp> {
    let config = ConfigSource::from_parts(
        "",
        [
            (
                "VISCOUNT_NOTIFICATIONS__WEBHOOKS__RETRY_DELAYS_SECS",
                "[1, 1]",
            ),
            ("VISCOUNT_NOTIFICATIONS__POLL_INTERVAL_MS", "100"),
        ]
        .map(|(k, v)| (k.to_owned(), v.to_owned())),
    )
    .expect("config");
    spawn_app_with(shape, config).await
}

/// Registers an endpoint at `url` for `types`; returns its view (with the secret).
async fn endpoint(app: &TestApp, admin: &TestUser, url: &str, types: &[&str]) -> Value {
    let response = app
        .post(
            ENDPOINTS,
            Some(&admin.access),
            &json!({"url": url, "description": "test endpoint", "event_types": types}),
        )
        .await;
    assert_eq!(response.status(), 201);
    let location = response
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let view = json_of(response).await;
    assert_eq!(
        location.as_deref(),
        Some(format!("{ENDPOINTS}/{}", view["id"].as_str().unwrap_or_default()).as_str())
    );
    view
}

/// A confirmed order of one unit of `sku`; its id.
async fn confirmed_order(app: &TestApp, user: &TestUser, sku: &str) -> String {
    let placed = json_of(order(app, user, &items_order(sku, 1, APPROVE)).await).await;
    assert_eq!(placed["status"], "confirmed", "{placed}");
    placed["id"].as_str().expect("order id").to_owned()
}

/// Waits until endpoint `id`'s delivery of `event_type` for `order_id` is in `status`;
/// returns its detail (with the attempts).
async fn delivery(
    app: &TestApp,
    admin: &TestUser,
    id: &str,
    event_type: &str,
    order_id: &str,
    status: &str,
) -> Value {
    let list = format!("{ENDPOINTS}/{id}/deliveries?limit=100");
    eventually(
        SETTLE,
        &format!("{event_type} {status} at {id}"),
        || async {
            let page = json_of(app.get(&list, Some(&admin.access)).await).await;
            for item in page["items"].as_array()? {
                if item["event_type"] != event_type || item["status"] != status {
                    continue;
                }
                let path = format!("{ENDPOINTS}/{id}/deliveries/{}", item["id"].as_str()?);
                let detail = json_of(app.get(&path, Some(&admin.access)).await).await;
                let payload: Value = serde_json::from_str(detail["payload"].as_str()?).ok()?;
                if payload["data"]["order_id"] == order_id {
                    return Some(detail);
                }
            }
            None
        },
    )
    .await
}

/// The HTTP statuses of a delivery's attempts, in order.
fn attempt_statuses(detail: &Value) -> Vec<i64> {
    detail["attempts_log"]
        .as_array()
        .map(|log| {
            log.iter()
                .filter_map(|a| a["status_code"].as_i64())
                .collect()
        })
        .unwrap_or_default()
}

async fn merchants_receive_signed_events_of_the_types_they_subscribed_to(
    shape: viscount_tests::Shape,
) {
    let receiver = merchant().await;
    let Some(app) = start(shape).await else {
        return;
    };
    let admin = app.admin().await;
    stocked(&app, &admin, "HOOK-1", 700, 10).await;

    let types = json_of(
        app.get(&format!("{ENDPOINTS}/event-types"), Some(&admin.access))
            .await,
    )
    .await;
    let types: Vec<&str> = types["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(types.contains(&"ordering.order.confirmed.v1"), "{types:?}");
    assert!(types.contains(&"catalog.product.created.v1"), "{types:?}");
    assert!(!types.iter().any(|t| t.starts_with("coordination.")));

    let confirmed = "ordering.order.confirmed.v1";
    let created = "ordering.order.created.v1";
    let ok = endpoint(&app, &admin, &receiver.url("ok"), &[confirmed]).await;
    let flaky = endpoint(&app, &admin, &receiver.url("flaky"), &[created, confirmed]).await;
    let down = endpoint(&app, &admin, &receiver.url("down"), &[created]).await;
    let secret = |view: &Value| view["secret"].as_str().expect("secret").to_owned();
    assert!(secret(&ok).starts_with("whsec_"));
    assert_ne!(secret(&ok), secret(&flaky));

    let user = app.user("hooks").await;
    let order_id = confirmed_order(&app, &user, "HOOK-1").await;

    // The subscribed type arrives, signed, with the event as `data`; the other does not.
    let hook = eventually(SETTLE, "the confirmation at /ok", || async {
        events(&receiver, "ok", confirmed, &order_id)
            .into_iter()
            .next()
    })
    .await;
    assert!(
        verifies(&hook, &secret(&ok)),
        "signature: {:?}",
        hook.headers
    );
    assert!(
        !verifies(&hook, &secret(&flaky)),
        "another endpoint's secret"
    );
    let body = hook.json();
    assert_eq!(body["data"]["order_id"], order_id.as_str());
    assert_eq!(body["data"]["user_id"], user.id.as_str());
    assert!(
        body["timestamp"].as_str().is_some_and(|t| t.ends_with('Z')),
        "{body}"
    );
    let ok_id = ok["id"].as_str().expect("id");
    let detail = delivery(&app, &admin, ok_id, confirmed, &order_id, "delivered").await;
    assert_eq!(detail["id"], webhook_id(&hook));
    assert_eq!(detail["attempts"], 1);
    assert_eq!(attempt_statuses(&detail), [200]);
    assert_eq!(
        detail["payload"].as_str(),
        std::str::from_utf8(&hook.raw).ok()
    );
    assert!(events(&receiver, "ok", created, &order_id).is_empty());

    // The flaky endpoint: two 500s, then 204, every attempt with the same id and a
    // valid signature; both of its types arrive.
    let flaky_id = flaky["id"].as_str().expect("id");
    for event_type in [created, confirmed] {
        let detail = delivery(&app, &admin, flaky_id, event_type, &order_id, "delivered").await;
        assert_eq!(attempt_statuses(&detail), [500, 500, 204], "{detail}");
        assert_eq!(detail["attempts"], 3);
        assert!(detail["delivered_at"].is_string());
        let attempts = events(&receiver, "flaky", event_type, &order_id);
        assert_eq!(attempts.len(), 3, "{event_type}");
        assert!(attempts.iter().all(|h| webhook_id(h) == detail["id"]));
        assert!(attempts.iter().all(|h| verifies(h, &secret(&flaky))));
    }

    // The endpoint that is down: three attempts (the schedule has two retries), then
    // failed, each attempt in the log.
    let down_id = down["id"].as_str().expect("id");
    let failed = delivery(&app, &admin, down_id, created, &order_id, "failed").await;
    assert_eq!(attempt_statuses(&failed), [503, 503, 503]);
    assert_eq!(failed["last_status_code"], 503);
    assert!(
        failed["last_error"]
            .as_str()
            .is_some_and(|e| e.contains("503"))
    );
    assert!(failed["next_attempt_at"].is_null());
    let page = json_of(
        app.get(
            &format!("{ENDPOINTS}/{down_id}/deliveries?status=failed"),
            Some(&admin.access),
        )
        .await,
    )
    .await;
    assert_eq!(page["items"].as_array().map(Vec::len), Some(1));
    assert!(
        page["items"][0]["attempts_log"].is_null(),
        "the list is a summary"
    );

    // A redelivered event queues nothing twice: one delivery per endpoint and event.
    let all = json_of(
        app.get(
            &format!("{ENDPOINTS}/{ok_id}/deliveries"),
            Some(&admin.access),
        )
        .await,
    )
    .await;
    let mut by_event: HashMap<String, usize> = HashMap::new();
    for item in all["items"].as_array().expect("items") {
        *by_event
            .entry(item["event_id"].as_str().unwrap_or_default().to_owned())
            .or_default() += 1;
    }
    assert!(by_event.values().all(|n| *n == 1), "{by_event:?}");
}

async fn an_endpoint_is_managed_and_its_deliveries_wait_while_it_is_off(
    shape: viscount_tests::Shape,
) {
    let receiver = merchant().await;
    let Some(app) = start(shape).await else {
        return;
    };
    let admin = app.admin().await;
    stocked(&app, &admin, "HOOK-2", 900, 10).await;
    let user = app.user("hooks-off").await;
    let confirmed = "ordering.order.confirmed.v1";

    // Bad input names its field, and nothing is created.
    for (body, field) in [
        (
            json!({"url": "ftp://x.example", "event_types": [confirmed]}),
            "url",
        ),
        (
            json!({"url": "https://u:p@x.example", "event_types": [confirmed]}),
            "url",
        ),
        (
            json!({"url": receiver.url("ok"), "event_types": []}),
            "event_types",
        ),
        (
            json!({"url": receiver.url("ok"), "event_types": ["coordination.config.updated.v1"]}),
            "event_types",
        ),
    ] {
        let problem =
            assert_problem(app.post(ENDPOINTS, Some(&admin.access), &body).await, 422).await;
        assert_eq!(error_fields(&problem), [field], "{body}");
    }
    assert_problem(
        app.post(
            ENDPOINTS,
            Some(&admin.access),
            &json!({"url": receiver.url("ok"), "event_types": [confirmed], "extra": 1}),
        )
        .await,
        422,
    )
    .await;
    assert_problem(
        app.post(
            ENDPOINTS,
            Some(&user.access),
            &json!({"url": receiver.url("ok"), "event_types": [confirmed]}),
        )
        .await,
        403,
    )
    .await;
    let listed = json_of(app.get(ENDPOINTS, Some(&admin.access)).await).await;
    assert_eq!(listed["items"].as_array().map(Vec::len), Some(0));

    let view = endpoint(&app, &admin, &receiver.url("ok"), &[confirmed]).await;
    let id = view["id"].as_str().expect("id").to_owned();
    let path = format!("{ENDPOINTS}/{id}");
    let shown = json_of(app.get(&path, Some(&admin.access)).await).await;
    assert!(
        shown.get("secret").is_none(),
        "the secret is shown once: {shown}"
    );
    assert_eq!(shown["event_types"], json!([confirmed]));

    // Switched off: the event is queued but not sent.
    let off = app
        .patch(
            &path,
            &admin.access,
            &json!({"enabled": false, "description": null}),
        )
        .await;
    assert_eq!(off.status(), 200);
    let off = json_of(off).await;
    assert_eq!(off["enabled"], false);
    assert!(off["description"].is_null());
    let order_id = confirmed_order(&app, &user, "HOOK-2").await;
    let pending = delivery(&app, &admin, &id, confirmed, &order_id, "pending").await;
    assert_eq!(pending["attempts"], 0);

    // A new secret, then on again: the waiting delivery goes out signed with it.
    let rotated = app
        .post(
            &format!("{path}/rotate-secret"),
            Some(&admin.access),
            &json!({}),
        )
        .await;
    assert_eq!(rotated.status(), 200);
    let new_secret = json_of(rotated).await["secret"]
        .as_str()
        .expect("secret")
        .to_owned();
    assert_ne!(new_secret, view["secret"].as_str().unwrap_or_default());
    let on = app
        .patch(&path, &admin.access, &json!({"enabled": true}))
        .await;
    assert_eq!(on.status(), 200);
    let delivered = delivery(&app, &admin, &id, confirmed, &order_id, "delivered").await;
    let hooks = events(&receiver, "ok", confirmed, &order_id);
    assert_eq!(hooks.len(), 1);
    assert!(verifies(&hooks[0], &new_secret));
    assert!(!verifies(
        &hooks[0],
        view["secret"].as_str().unwrap_or_default()
    ));

    // A resend: one more attempt, same id.
    let resend = format!(
        "{path}/deliveries/{}/resend",
        delivered["id"].as_str().expect("id")
    );
    let accepted = app.post(&resend, Some(&admin.access), &json!({})).await;
    assert_eq!(accepted.status(), 202);
    eventually(SETTLE, "the resent delivery", || async {
        (events(&receiver, "ok", confirmed, &order_id).len() == 2).then_some(())
    })
    .await;
    let hooks = events(&receiver, "ok", confirmed, &order_id);
    assert_eq!(webhook_id(&hooks[0]), webhook_id(&hooks[1]));
    let again = delivery(&app, &admin, &id, confirmed, &order_id, "delivered").await;
    assert_eq!(again["attempts"], 2);

    // Subscriptions change; a bad change is refused whole.
    let problem = assert_problem(
        app.patch(
            &path,
            &admin.access,
            &json!({"event_types": ["nope"], "enabled": false}),
        )
        .await,
        422,
    )
    .await;
    assert_eq!(error_fields(&problem), ["event_types"]);
    let kept = json_of(app.get(&path, Some(&admin.access)).await).await;
    assert_eq!(kept["enabled"], true);

    // Deleted with its log.
    let deleted = app.delete(&path, &admin.access).await;
    assert_eq!(deleted.status(), 204);
    assert_problem(app.get(&path, Some(&admin.access)).await, 404).await;
    assert_problem(
        app.get(&format!("{path}/deliveries"), Some(&admin.access))
            .await,
        404,
    )
    .await;
    assert_problem(app.delete(&path, &admin.access).await, 404).await;
}
