//! Issue 21's identity items from seeds 002, 003 and 004, end to end through the
//! gateway in both shapes: an admin replacing a profile, the phone and avatar on it,
//! the public profile, the seeds' paths served as aliases of ours, the authentication
//! log (with the client's address and user agent, readable by the user and admins),
//! and `identity.user.authenticated.v1`, staged with the session it announces and
//! delivered to a merchant's webhook subscribed to it.

use std::time::Duration;

use axum::http::StatusCode;
use platform::config::ConfigSource;
use platform::service::Service;
use serde_json::{Value, json};
use viscount_tests::receiver::Receiver;
use viscount_tests::*;

in_both_shapes!(a_merchant_subscribed_to_sign_ins_receives_them);

/// A merchant's endpoint subscribed to `identity.user.authenticated.v1` gets each
/// sign-in (password, then password and code) as a webhook.
async fn a_merchant_subscribed_to_sign_ins_receives_them(shape: Shape) {
    let receiver = Receiver::start(|_, _| StatusCode::NO_CONTENT).await;
    let config = ConfigSource::from_parts(
        "",
        [(
            "VISCOUNT_NOTIFICATIONS__POLL_INTERVAL_MS".to_owned(),
            "100".to_owned(),
        )],
    )
    .expect("config");
    let Some(app) = spawn_app_with(shape, config).await else {
        return;
    };
    let admin = app.admin().await;
    let endpoint = app
        .post(
            "/api/v1/admin/webhooks",
            Some(&admin.access),
            &json!({"url": receiver.url("signins"), "event_types": ["identity.user.authenticated.v1"]}),
        )
        .await;
    assert_eq!(endpoint.status(), 201);
    let ann = app.user("ann").await;
    let hook = eventually(Duration::from_secs(30), "the sign-in webhook", || async {
        receiver
            .hooks("signins")
            .into_iter()
            .find(|h| h.json()["data"]["user_id"] == ann.id.as_str())
    })
    .await;
    let body = hook.json();
    assert_eq!(body["type"], "identity.user.authenticated.v1", "{body}");
    assert_eq!(body["data"]["method"], "password", "{body}");
    assert!(
        body["data"]["session_id"]
            .as_str()
            .is_some_and(|s| !s.is_empty()),
        "{body}"
    );
    assert!(
        body["data"].get("ip").is_none() && body["data"].get("email").is_none(),
        "no personal data: {body}"
    );
}

/// The user agent the tests sign in with, to find it in the log.
const AGENT: &str = "identity-seed-test/1.0 (viscount)";

/// POST JSON with a user agent of the test's own.
async fn post_as_agent(
    app: &TestApp,
    path: &str,
    token: Option<&str>,
    body: &Value,
) -> reqwest::Response {
    let mut request = app
        .client
        .post(app.url(path))
        .header("user-agent", AGENT)
        .json(body);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    request.send().await.expect("request sent")
}

/// The JSON body of a response with status `status`.
async fn json_with(response: reqwest::Response, status: u16) -> Value {
    assert_eq!(response.status().as_u16(), status, "status");
    response.json().await.expect("json")
}

/// How many `event_type` events about `subject` identity's outbox holds.
async fn staged(app: &TestApp, event_type: &str, subject: &str) -> i64 {
    platform::db::query_scalar("SELECT COUNT(*) FROM outbox WHERE event_type = $1 AND subject = $2")
        .bind(event_type)
        .bind(subject)
        .fetch_one(app.identity().data().db.reader())
        .await
        .expect("outbox count")
}

both_shapes! {
    async fn an_admin_replaces_a_profile_and_a_customer_may_not(app) {
        let ann = app.user("ann").await;
        let bob = app.user("bob").await;
        let admin = app.admin().await;
        let path = format!("/api/v1/users/{}", ann.id);
        let new_email = format!("ann.smith-{}", ann.email);
        let body = json!({
            "email": new_email,
            "name": "Ann Smith",
            "phone": "+14155550123",
            "avatar_url": "https://cdn.example.com/avatars/ann.png",
            "preferences": {"language": "en"}
        });
        assert_problem(app.put(&path, &bob.access, &body).await, 403).await;
        assert_problem(app.put(&path, &ann.access, &body).await, 403).await;

        let changed = json_with(app.put(&path, &admin.access, &body).await, 200).await;
        assert_eq!(changed["email"], new_email.to_lowercase());
        assert_eq!(changed["name"], "Ann Smith");
        assert_eq!(changed["phone"], "+14155550123");
        assert_eq!(changed["avatar_url"], "https://cdn.example.com/avatars/ann.png");
        assert_eq!(changed["preferences"], json!({"language": "en"}));
        assert_eq!(changed["roles"], json!(["customer"]), "roles are not the profile's");
        let me = json_with(app.get("/api/v1/users/me", Some(&ann.access)).await, 200).await;
        assert_eq!((me["phone"].clone(), me["name"].clone()), (json!("+14155550123"), json!("Ann Smith")));
        assert_eq!(app.login(&new_email, PASSWORD).await.status(), 200, "the new email signs in");
        assert!(staged(&app, "identity.user.updated.v1", &ann.id).await >= 1);

        // Another account's email is a conflict; bad fields are named; unknown users 404.
        let taken = json!({"email": bob.email, "name": "Ann"});
        let conflict = assert_problem(app.put(&path, &admin.access, &taken).await, 409).await;
        assert!(conflict["type"].as_str().is_some_and(|t| t.ends_with("email-taken")));
        let bad = json!({"email": "not-an-email", "name": " ", "phone": "12345", "avatar_url": "http://x.example/a.png"});
        let problem = assert_problem(app.put(&path, &admin.access, &bad).await, 422).await;
        let mut fields = error_fields(&problem);
        fields.sort();
        assert_eq!(fields, ["avatar_url", "email", "name", "phone"]);
        let unknown = format!("/api/v1/users/{}", uuid::Uuid::now_v7());
        assert_problem(app.put(&unknown, &admin.access, &json!({"email": "x@example.com", "name": "X"})).await, 404).await;

        // A replacement clears what it leaves out.
        let cleared = json_with(app.put(&path, &admin.access, &json!({"email": new_email, "name": "Ann"})).await, 200).await;
        assert_eq!((cleared["phone"].clone(), cleared["avatar_url"].clone()), (Value::Null, Value::Null));
        assert_eq!(cleared["preferences"], json!({}));
    }

    async fn the_phone_on_ones_own_profile_is_e164(app) {
        let ann = app.user("ann").await;
        for bad in ["4155550123", "+0415555012", "+1 415 555 0123", "+1234567", "+1234567890123456"] {
            let problem = assert_problem(app.put("/api/v1/users/me", &ann.access, &json!({"phone": bad})).await, 422).await;
            assert_eq!(error_fields(&problem), ["phone"], "{bad}");
        }
        let problem = assert_problem(app.put("/api/v1/users/me", &ann.access, &json!({"avatar_url": "javascript:alert(1)"})).await, 422).await;
        assert_eq!(error_fields(&problem), ["avatar_url"]);
        let me = json_with(app.get("/api/v1/users/me", Some(&ann.access)).await, 200).await;
        assert_eq!(me["phone"], Value::Null, "nothing was written");

        let set = json_with(app.put("/api/v1/users/me", &ann.access, &json!({"phone": "+4930123456", "avatar_url": "https://cdn.example.com/a.png"})).await, 200).await;
        assert_eq!((set["phone"].clone(), set["name"].clone()), (json!("+4930123456"), json!("Test User")));
        let kept = json_with(app.put("/api/v1/users/me", &ann.access, &json!({"name": "Ann"})).await, 200).await;
        assert_eq!(kept["phone"], "+4930123456", "absent keeps it");
        let cleared = json_with(app.put("/api/v1/users/me", &ann.access, &json!({"phone": null})).await, 200).await;
        assert_eq!(cleared["phone"], Value::Null, "null clears it");
        assert_eq!(cleared["avatar_url"], "https://cdn.example.com/a.png");
    }

    async fn the_public_profile_shows_name_and_avatar_only(app) {
        let ann = app.user("ann").await;
        json_with(app.put("/api/v1/users/me", &ann.access, &json!({"name": "Ann", "phone": "+14155550123", "avatar_url": "https://cdn.example.com/a.png"})).await, 200).await;
        let path = format!("/api/v1/users/{}/public", ann.id);
        for token in [None, Some(app.user("bob").await.access)] {
            let public = json_with(app.get(&path, token.as_deref()).await, 200).await;
            assert_eq!(public, json!({"id": ann.id, "name": "Ann", "avatar_url": "https://cdn.example.com/a.png"}));
        }
        let unknown = format!("/api/v1/users/{}/public", uuid::Uuid::now_v7());
        assert_problem(app.get(&unknown, None).await, 404).await;
        assert_problem(app.get("/api/v1/users/not-an-id/public", None).await, 404).await;
        assert_eq!(app.delete(&format!("/api/v1/users/{}", ann.id), &ann.access).await.status(), 204);
        assert_problem(app.get(&path, None).await, 404).await;
    }

    async fn the_seeds_sign_in_paths_are_aliases_of_ours(app) {
        let ann = app.user("ann").await;
        let good = json!({"email": ann.email, "password": PASSWORD});
        let wrong = json!({"email": ann.email, "password": "not the password"});
        for path in ["/api/v1/users/authenticate", "/api/auth/login"] {
            let tokens = json_with(app.post(path, None, &good).await, 200).await;
            assert_eq!(tokens["token_type"], "Bearer", "{path}");
            let access = tokens["access_token"].as_str().expect("access");
            assert_eq!(app.get("/api/v1/users/me", Some(access)).await.status(), 200, "{path}");
            let ours = assert_problem(app.post("/api/v1/auth/login", None, &wrong).await, 401).await;
            let alias = assert_problem(app.post(path, None, &wrong).await, 401).await;
            assert_eq!((alias["type"].clone(), alias["title"].clone()), (ours["type"].clone(), ours["title"].clone()), "{path}");
            let problem = assert_problem(app.post(path, None, &json!({"email": ann.email})).await, 422).await;
            assert_eq!(error_fields(&problem), ["password"], "{path}");
        }

        let tokens = json_with(app.post("/api/auth/login", None, &good).await, 200).await;
        let access = tokens["access_token"].as_str().expect("access").to_owned();
        let refresh = tokens["refresh_token"].as_str().expect("refresh").to_owned();
        let renewed = json_with(app.post("/api/auth/refresh", None, &json!({"refresh_token": refresh})).await, 200).await;
        let refresh2 = renewed["refresh_token"].as_str().expect("refresh").to_owned();
        assert_problem(app.post("/api/auth/refresh", None, &json!({"refresh_token": refresh})).await, 401).await;
        // The reuse ended the session: the newer token is refused too.
        assert_problem(app.post("/api/auth/refresh", None, &json!({"refresh_token": refresh2})).await, 401).await;

        let session = json_with(app.post("/api/auth/login", None, &good).await, 200).await;
        let refresh3 = session["refresh_token"].as_str().expect("refresh").to_owned();
        assert_problem(app.post("/api/auth/logout", None, &json!({"refresh_token": refresh3})).await, 401).await;
        assert_eq!(app.post("/api/auth/logout", Some(&access), &json!({"refresh_token": refresh3})).await.status(), 204);
        assert_problem(app.post("/api/v1/auth/refresh", None, &json!({"refresh_token": refresh3})).await, 401).await;
    }

    async fn mfa_is_enabled_through_the_seeds_path_for_oneself_only(app) {
        let ann = app.user("ann").await;
        let bob = app.user("bob").await;
        let admin = app.admin().await;
        let others = format!("/api/v1/users/{}/mfa/enable", bob.id);
        assert_problem(app.post(&others, Some(&ann.access), &json!({})).await, 403).await;
        assert_problem(app.post(&others, Some(&admin.access), &json!({})).await, 403).await;
        assert_problem(app.post(&others, None, &json!({})).await, 401).await;

        let own = format!("/api/v1/users/{}/mfa/enable", ann.id);
        let response = app.post(&own, Some(&ann.access), &json!({})).await;
        assert_eq!(response.headers().get("cache-control").and_then(|v| v.to_str().ok()), Some("no-store"));
        let enrolment = json_with(response, 200).await;
        let secret = enrolment["secret"].as_str().expect("secret").to_owned();
        assert!(enrolment["otpauth_url"].as_str().is_some_and(|u| u.contains(&secret)));
        let code = totp_now(&secret, &app.clock);
        let verified = app.post("/api/v1/users/me/mfa/verify", Some(&ann.access), &json!({"code": code})).await;
        assert_eq!(verified.status(), 204);
        let me = json_with(app.get("/api/v1/users/me", Some(&ann.access)).await, 200).await;
        assert_eq!(me["mfa_enabled"], true);
        assert_problem(app.post(&own, Some(&ann.access), &json!({})).await, 409).await;
    }

    async fn the_auth_log_records_sign_ins_for_the_user_and_admins(app) {
        let ann = app.user("ann").await;
        let bob = app.user("bob").await;
        let admin = app.admin().await;
        let wrong = post_as_agent(&app, "/api/v1/auth/login", None, &json!({"email": ann.email, "password": "not the password"})).await;
        assert_problem(wrong, 401).await;
        let signed_in = json_with(post_as_agent(&app, "/api/v1/users/authenticate", None, &json!({"email": ann.email, "password": PASSWORD})).await, 200).await;
        let access = signed_in["access_token"].as_str().expect("access").to_owned();

        let log = json_with(app.get("/api/v1/users/me/auth-log", Some(&access)).await, 200).await;
        let items = log["items"].as_array().expect("items");
        let kinds: Vec<&str> = items.iter().filter_map(|i| i["kind"].as_str()).collect();
        // Newest first: this sign-in, the failure, then the test harness's sign-in.
        assert_eq!(kinds, ["login_succeeded", "login_failed", "login_succeeded"], "{log}");
        for item in &items[..2] {
            assert_eq!(item["ip"], "127.0.0.1", "{item}");
            assert_eq!(item["user_agent"], AGENT, "{item}");
            assert!(item["at"].as_str().is_some_and(|t| t.ends_with('Z')));
        }

        let by_id = format!("/api/v1/users/{}/auth-log", ann.id);
        let own = json_with(app.get(&by_id, Some(&ann.access)).await, 200).await;
        assert_eq!(own["items"], log["items"]);
        assert_problem(app.get(&by_id, Some(&bob.access)).await, 403).await;
        assert_problem(app.get(&by_id, None).await, 401).await;
        let seen = json_with(app.get(&by_id, Some(&admin.access)).await, 200).await;
        assert_eq!(seen["items"], log["items"]);

        // A page at a time.
        let first = json_with(app.get("/api/v1/users/me/auth-log?limit=2", Some(&access)).await, 200).await;
        assert_eq!(first["items"].as_array().map(Vec::len), Some(2));
        let cursor = first["next_cursor"].as_str().expect("a next page").to_owned();
        let rest = json_with(app.get(&format!("/api/v1/users/me/auth-log?limit=2&cursor={cursor}"), Some(&access)).await, 200).await;
        assert_eq!(rest["items"], json!([items[2]]));
        assert_eq!(rest["next_cursor"], Value::Null);
        assert_problem(app.get("/api/v1/users/me/auth-log?limit=0", Some(&access)).await, 422).await;

        // A session started announces itself in the same transaction.
        let announced = staged(&app, "identity.user.authenticated.v1", &ann.id).await;
        assert_eq!(announced, 2, "one event per session started");
    }

    async fn mfa_sign_ins_lockouts_and_reuse_are_logged(app) {
        let ann = app.user("ann").await;
        let enrolment = json_with(app.post("/api/v1/users/me/mfa/enable", Some(&ann.access), &json!({})).await, 200).await;
        let secret = enrolment["secret"].as_str().expect("secret").to_owned();
        let code = totp_now(&secret, &app.clock);
        assert_eq!(app.post("/api/v1/users/me/mfa/verify", Some(&ann.access), &json!({"code": code})).await.status(), 204);
        app.clock.advance(Duration::from_secs(30));
        let code = totp_now(&secret, &app.clock);
        let tokens = json_with(app.post("/api/auth/login", None, &json!({"email": ann.email, "password": PASSWORD, "totp_code": code})).await, 200).await;
        let refresh = tokens["refresh_token"].as_str().expect("refresh").to_owned();
        json_with(app.post("/api/v1/auth/refresh", None, &json!({"refresh_token": refresh})).await, 200).await;
        assert_problem(app.post("/api/v1/auth/refresh", None, &json!({"refresh_token": refresh})).await, 401).await;
        // Wrong passwords up to the lock (5 by default).
        for _ in 0..5 {
            let response = app.login(&ann.email, "not the password").await;
            assert_eq!(response.status(), 401);
        }
        assert_problem(app.login(&ann.email, PASSWORD).await, 423).await;

        let log = json_with(app.get("/api/v1/users/me/auth-log?limit=100", Some(&ann.access)).await, 200).await;
        let kinds: Vec<&str> = log["items"].as_array().expect("items").iter().filter_map(|i| i["kind"].as_str()).collect();
        assert_eq!(
            kinds,
            [
                "locked_out", "login_failed", "login_failed", "login_failed", "login_failed", "login_failed",
                "refresh_reuse_detected", "mfa_challenge_passed", "mfa_enabled", "login_succeeded",
            ],
            "{log}"
        );
        let events: Vec<Value> = platform::db::query_scalar::<String>(
            "SELECT body FROM outbox WHERE event_type = 'identity.user.authenticated.v1' AND subject = $1 ORDER BY seq",
        )
        .bind(&ann.id)
        .fetch_all(app.identity().data().db.reader())
        .await
        .expect("outbox")
        .iter()
        .map(|body| serde_json::from_str(body).expect("json"))
        .collect();
        let methods: Vec<&str> = events.iter().filter_map(|e| e["data"]["method"].as_str()).collect();
        assert_eq!(methods, ["password", "mfa"], "{events:?}");
        assert!(events.iter().all(|e| e["data"]["authenticated_at"].as_str().is_some_and(|t| t.ends_with('Z'))));
    }
}
