//! Identity's guard against password guessing and admin role management, through the
//! gateway, in both shapes.
//!
//! Different clients are different loopback source addresses (any 127.x.y.z is this
//! machine on Linux): the lockout counts failures per account and client address, so
//! five wrong passwords from one address lock the account for that address only, and
//! failures across accounts are limited per address. Attempts sent together must not
//! outrun the guard: each is counted before its password is checked, and the
//! assertions sit exactly at the thresholds, so one attempt let through too many shows.

use std::net::IpAddr;
use std::time::Duration;

use platform::config::ConfigSource;
use serde_json::{Value, json};
use viscount_tests::in_both_shapes;
use viscount_tests::*;

in_both_shapes!(
    failures_from_one_address_across_accounts_are_limited_for_that_address,
    concurrent_failures_are_all_counted,
);

both_shapes! {
    async fn five_wrong_passwords_lock_the_account_for_that_address_only(app) {
        let owner = app.user("owner").await;
        let attacker = Client::at(&app, "127.0.0.2");
        let elsewhere = Client::at(&app, "127.0.0.3");
        for attempt in 1..=5 {
            let problem = assert_problem(attacker.login(&owner.email, "not the password").await, 401).await;
            assert!(problem["type"].as_str().is_some_and(|t| t.ends_with("invalid-credentials")), "attempt {attempt}: {problem}");
        }
        let locked = attacker.login(&owner.email, PASSWORD).await;
        let wait = retry_after(&locked);
        assert!((1..=15 * 60).contains(&wait), "retry-after {wait}");
        let problem = assert_problem(locked, 423).await;
        assert!(problem["type"].as_str().is_some_and(|t| t.ends_with("account-locked")), "{problem}");
        let grant = attacker.password_grant(&owner.email, PASSWORD).await;
        assert!(retry_after(&grant) >= 1);
        assert_problem(grant, 423).await;

        assert_eq!(elsewhere.login(&owner.email, PASSWORD).await.status(), 200, "the owner signs in from another address");
        assert_eq!(elsewhere.password_grant(&owner.email, PASSWORD).await.status(), 200);
        assert_problem(attacker.login(&owner.email, PASSWORD).await, 423).await;

        // A success forgets that address's failures only: four from the owner's address,
        // a success, then four more stay under the threshold.
        for _ in 0..4 {
            assert_problem(elsewhere.login(&owner.email, "typo typo typo").await, 401).await;
        }
        assert_eq!(elsewhere.login(&owner.email, PASSWORD).await.status(), 200);
        for _ in 0..4 {
            assert_problem(elsewhere.login(&owner.email, "typo typo typo").await, 401).await;
        }
        assert_eq!(elsewhere.login(&owner.email, PASSWORD).await.status(), 200);

        app.clock.advance(Duration::from_secs(16 * 60));
        assert_eq!(attacker.login(&owner.email, PASSWORD).await.status(), 200, "the lock ends");
    }

    async fn an_email_without_an_account_answers_like_one(app) {
        let owner = app.user("real").await;
        let client = Client::at(&app, "127.0.0.4");
        for email in [owner.email.as_str(), "nobody-here@example.com"] {
            let mut answers = Vec::new();
            for _ in 0..6 {
                let response = client.login(email, "not the password").await;
                answers.push(response.status().as_u16());
            }
            assert_eq!(answers, [401, 401, 401, 401, 401, 423], "{email}");
        }
    }

    async fn admins_set_roles_and_new_tokens_carry_them(app) {
        let admin = app.admin().await;
        let ann = app.user("ann").await;
        let roles_of = |id: &str| format!("/api/v1/users/{id}/roles");

        let body = json!({"roles": ["customer", "premium"]});
        assert_problem(app.put(&roles_of(&ann.id), &ann.access, &body).await, 403).await;
        let unknown = app.put(&roles_of(&ann.id), &admin.access, &json!({"roles": ["superuser"]})).await;
        assert_eq!(error_fields(&assert_problem(unknown, 422).await), vec!["roles[0]"]);
        let second = app.put(&roles_of(&ann.id), &admin.access, &json!({"roles": ["customer", "root"]})).await;
        assert_eq!(error_fields(&assert_problem(second, 422).await), vec!["roles[1]"]);
        for bad in [json!({"roles": []}), json!({"roles": ["premium", "premium"]})] {
            let response = app.put(&roles_of(&ann.id), &admin.access, &bad).await;
            assert_eq!(error_fields(&assert_problem(response, 422).await), vec!["roles"], "{bad}");
        }
        assert_problem(app.put(&roles_of("no-such-user"), &admin.access, &body).await, 404).await;
        let me: Value = app.get("/api/v1/users/me", Some(&ann.access)).await.json().await.expect("json");
        assert_eq!(me["roles"], json!(["customer"]), "nothing written by refused changes");

        let response = app.put(&roles_of(&ann.id), &admin.access, &body).await;
        assert_eq!(response.status(), 200);
        let user: Value = response.json().await.expect("json");
        assert_eq!(user["id"], ann.id.as_str());
        assert_eq!(user["email"], ann.email.as_str());
        assert_eq!(user["roles"], json!(["customer", "premium"]));
        assert!(user["name"].is_string() && user["created_at"].is_string(), "{user}");

        // Refreshing reads the roles from the store, not from the old token.
        assert_eq!(token_claims(&ann.access)["roles"], json!(["customer"]));
        let refreshed: Value = app
            .post("/api/v1/auth/refresh", None, &json!({"refresh_token": ann.refresh}))
            .await
            .json()
            .await
            .expect("json");
        let access = refreshed["access_token"].as_str().expect("access token");
        assert_eq!(token_claims(access)["roles"], json!(["customer", "premium"]));
        let signed_in: Value = app.login(&ann.email, PASSWORD).await.json().await.expect("json");
        let access = signed_in["access_token"].as_str().expect("access token");
        assert_eq!(token_claims(access)["roles"], json!(["customer", "premium"]));
        let me: Value = app.get("/api/v1/users/me", Some(access)).await.json().await.expect("json");
        assert_eq!(me["roles"], json!(["customer", "premium"]));

        let demote = json!({"roles": ["customer"]});
        let last = app.put(&roles_of(&admin.id), &admin.access, &demote).await;
        assert!(assert_problem(last, 409).await["type"].as_str().is_some_and(|t| t.ends_with("last-admin")));
        let promoted = app.put(&roles_of(&ann.id), &admin.access, &json!({"roles": ["admin", "customer"]})).await;
        assert_eq!(promoted.json::<Value>().await.expect("json")["roles"], json!(["customer", "admin"]));
        let stepped_down = app.put(&roles_of(&admin.id), &admin.access, &demote).await;
        assert_eq!(stepped_down.status(), 200, "another admin remains");
        let signed_in: Value = app.login(&ann.email, PASSWORD).await.json().await.expect("json");
        let ann_admin = signed_in["access_token"].as_str().expect("access token");
        assert_eq!(token_claims(ann_admin)["roles"], json!(["customer", "admin"]));
        assert_problem(app.put(&roles_of(&ann.id), ann_admin, &demote).await, 409).await;
        let admin_login: Value = app.login(ADMIN_EMAIL, ADMIN_PASSWORD).await.json().await.expect("json");
        let access = admin_login["access_token"].as_str().expect("access token");
        assert_eq!(token_claims(access)["roles"], json!(["customer"]));
        assert_problem(app.put(&roles_of(&ann.id), access, &body).await, 403).await;
    }
}

/// Over the limit of failures per address across accounts, every sign-in from that
/// address is refused until the window passes; other addresses are not.
async fn failures_from_one_address_across_accounts_are_limited_for_that_address(shape: Shape) {
    let Some(app) = spawn_app_with(shape, per_ip_limit(4)).await else {
        return;
    };
    let guesser = Client::at(&app, "127.0.0.5");
    let neighbour = Client::at(&app, "127.0.0.6");
    let mut victims = Vec::new();
    for i in 0..4 {
        victims.push(app.user(&format!("victim{i}")).await);
    }
    // One failure per account: no account comes near its own lockout.
    for victim in &victims {
        assert_problem(guesser.login(&victim.email, "a guess a guess").await, 401).await;
    }
    let refused = guesser.login(&victims[0].email, PASSWORD).await;
    let wait = retry_after(&refused);
    assert!((1..=15 * 60).contains(&wait), "retry-after {wait}");
    let problem = assert_problem(refused, 429).await;
    assert!(
        problem["type"]
            .as_str()
            .is_some_and(|t| t.ends_with("too-many-failed-sign-ins")),
        "{problem}"
    );
    let grant = guesser.password_grant(&victims[1].email, PASSWORD).await;
    assert!(retry_after(&grant) >= 1);
    assert_problem(grant, 429).await;
    assert_problem(
        guesser.login("nobody-else@example.com", "a guess").await,
        429,
    )
    .await;

    for victim in &victims {
        assert_eq!(
            neighbour.login(&victim.email, PASSWORD).await.status(),
            200,
            "another address is not limited"
        );
    }
    app.clock.advance(Duration::from_secs(16 * 60));
    assert_eq!(
        guesser.login(&victims[0].email, PASSWORD).await.status(),
        200,
        "the window passed"
    );
}

/// Failures arriving at once cannot outrun the guard: each attempt is counted before
/// its password is checked, so of many wrong passwords sent together exactly the
/// threshold are checked (401) and the rest refused (423), and across accounts exactly
/// the address's limit are checked (401) and the rest refused (429). Checking first and
/// counting after lets every one of them through, since all pass the check before any
/// failure is written.
async fn concurrent_failures_are_all_counted(shape: Shape) {
    let limit = 8;
    let Some(app) = spawn_app_with(shape, per_ip_limit(limit)).await else {
        return;
    };
    let owner = app.user("owner").await;
    let attacker = Client::at(&app, "127.0.0.7");
    let elsewhere = Client::at(&app, "127.0.0.8");
    let answers = futures_util::future::join_all(
        (0..10).map(|_| attacker.login_status(&owner.email, "not the password")),
    )
    .await;
    assert_eq!(
        tally(&answers),
        [(401, 5), (423, 5)],
        "the threshold (5) checked, the rest refused: {answers:?}"
    );
    assert_problem(attacker.login(&owner.email, PASSWORD).await, 423).await;
    assert_eq!(elsewhere.login(&owner.email, PASSWORD).await.status(), 200);

    let guesser = Client::at(&app, "127.0.0.9");
    let emails: Vec<String> = (0..2 * limit)
        .map(|i| format!("guess{i}@example.com"))
        .collect();
    let answers = futures_util::future::join_all(
        emails
            .iter()
            .map(|email| guesser.login_status(email, "a guess a guess")),
    )
    .await;
    assert_eq!(
        tally(&answers),
        [(401, limit), (429, limit)],
        "the limit checked, the rest refused: {answers:?}"
    );
    assert_problem(guesser.login(&owner.email, PASSWORD).await, 429).await;
    assert_eq!(
        elsewhere.login(&owner.email, PASSWORD).await.status(),
        200,
        "another address is not limited"
    );
}

/// How many of `statuses` there are of each, by status.
fn tally(statuses: &[u16]) -> Vec<(u16, usize)> {
    let mut counts = std::collections::BTreeMap::new();
    for status in statuses {
        *counts.entry(*status).or_insert(0) += 1;
    }
    counts.into_iter().collect()
}

/// Configuration with `limit` failed sign-ins per address.
fn per_ip_limit(limit: usize) -> ConfigSource {
    ConfigSource::from_parts(&format!("[identity]\nfailed_logins_per_ip = {limit}\n"), [])
        .expect("config")
}

/// A client calling the gateway from its own loopback address.
struct Client {
    http: reqwest::Client,
    base: String,
}

impl Client {
    fn at(app: &TestApp, address: &str) -> Self {
        let http = reqwest::Client::builder()
            .local_address(address.parse::<IpAddr>().expect("an address"))
            .timeout(Duration::from_secs(30))
            .build()
            .expect("client");
        Self {
            http,
            base: app.base.clone(),
        }
    }

    async fn login(&self, email: &str, password: &str) -> reqwest::Response {
        self.http
            .post(format!("{}/api/v1/auth/login", self.base))
            .json(&json!({"email": email, "password": password}))
            .send()
            .await
            .expect("request sent")
    }

    async fn login_status(&self, email: &str, password: &str) -> u16 {
        self.login(email, password).await.status().as_u16()
    }

    /// The OAuth 2.0 password grant, which signs in under the same rules.
    async fn password_grant(&self, email: &str, password: &str) -> reqwest::Response {
        self.http
            .post(format!("{}/oauth2/token", self.base))
            .form(&[
                ("grant_type", "password"),
                ("username", email),
                ("password", password),
            ])
            .send()
            .await
            .expect("request sent")
    }
}

/// The `Retry-After` seconds of a response (0 when absent).
fn retry_after(response: &reqwest::Response) -> u64 {
    response
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// The decoded claims of a token.
fn token_claims(token: &str) -> Value {
    let part = token.split('.').nth(1).expect("claims part");
    let bytes = data_encoding::BASE64URL_NOPAD
        .decode(part.as_bytes())
        .expect("base64url");
    serde_json::from_slice(&bytes).expect("json")
}
