//! The console's sessions against a stand-in of the API (an in-process router, as the
//! gateway's edge is to the console): an expiring access token is refreshed once
//! however many pages of the session load at once (identity would take a second use of
//! the refresh token for a stolen one and end the session); a refused refresh signs
//! the session out; an unknown session is none. Two gateways sharing the sessions in
//! Redis refresh a session once between them; a refresh the rate limit turned away
//! leaves the session signed in; a session signed out during a refresh stays out.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::Router;
use axum::routing::post;
use console::app::{LoadedSession, OnBehalf};
use console::domain::{Session, SignedIn};
use console::{Api, Console, ConsoleSettings, SessionStore};
use platform::http::ClientIp;

fn on() -> OnBehalf {
    OnBehalf {
        client_ip: ClientIp(None),
    }
}

/// How the stand-in token endpoint answers a refresh.
#[derive(Clone, Copy, PartialEq)]
enum Identity {
    Rotates,
    Refuses,
    /// The gateway's rate limit answers before the call reaches identity.
    TurnsAway,
}

/// A token endpoint that counts refreshes and answers after a pause (so concurrent
/// loads overlap), as `identity` says.
fn token_endpoint(calls: Arc<AtomicUsize>, identity: Identity) -> Router {
    Router::new().route(
        "/oauth2/token",
        post(move |body: String| {
            let calls = calls.clone();
            async move {
                assert!(body.contains("grant_type=refresh_token"), "{body}");
                assert!(body.contains("refresh_token=refresh-1"), "{body}");
                let n = calls.fetch_add(1, Ordering::SeqCst) + 1;
                tokio::time::sleep(Duration::from_millis(50)).await;
                if identity == Identity::Refuses {
                    return (
                        http::StatusCode::BAD_REQUEST,
                        axum::Json(serde_json::json!({"status": 400, "title": "OAuth error",
                            "detail": "refresh token reused", "error": "invalid_grant"})),
                    );
                }
                if identity == Identity::TurnsAway {
                    return (
                        http::StatusCode::TOO_MANY_REQUESTS,
                        axum::Json(
                            serde_json::json!({"status": 429, "title": "Too many requests"}),
                        ),
                    );
                }
                (
                    http::StatusCode::OK,
                    axum::Json(serde_json::json!({
                        "access_token": format!("access-{}", n + 1),
                        "refresh_token": format!("refresh-{}", n + 1),
                        "token_type": "Bearer", "expires_in": 900,
                    })),
                )
            }
        }),
    )
}

/// A console whose identity answers as `identity`, counting refreshes in `calls`.
fn console(calls: &Arc<AtomicUsize>, identity: Identity, store: SessionStore) -> Arc<Console> {
    Arc::new(Console::new(
        Api::new(token_endpoint(calls.clone(), identity)),
        store,
        ConsoleSettings::default(),
    ))
}

async fn expiring_session(console: &Console) -> LoadedSession {
    let now = platform::time::now_millis() / 1000;
    let loaded = LoadedSession {
        id: "session-1".into(),
        session: Session::signed_in(
            now,
            SignedIn {
                user_id: "u1".into(),
                email: "ann@example.com".into(),
                name: "Ann".into(),
                roles: vec!["customer".into()],
                access_token: "access-1".into(),
                // Within the refresh margin.
                access_expires_at: now + 5,
                refresh_token: Some("refresh-1".into()),
            },
        ),
    };
    console.save(&loaded).await.expect("saved");
    loaded
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn pages_loading_at_once_refresh_the_token_once() {
    let calls = Arc::new(AtomicUsize::new(0));
    let console = console(&calls, Identity::Rotates, SessionStore::memory());
    let loaded = expiring_session(&console).await;
    let loads = (0..8).map(|_| {
        let (console, id) = (console.clone(), loaded.id.clone());
        tokio::spawn(async move { console.load(&id, on()).await })
    });
    for load in futures_util::future::join_all(loads).await {
        let session = load
            .expect("task")
            .expect("store")
            .expect("still a session");
        let user = session.session.user.expect("still signed in");
        assert_eq!(
            user.access_token, "access-2",
            "every page got the one new token"
        );
        assert_eq!(user.refresh_token.as_deref(), Some("refresh-2"));
    }
    assert_eq!(
        calls.load(Ordering::SeqCst),
        1,
        "one refresh for eight pages"
    );
}

#[tokio::test]
async fn a_refused_refresh_signs_the_session_out() {
    let calls = Arc::new(AtomicUsize::new(0));
    let console = console(&calls, Identity::Refuses, SessionStore::memory());
    let loaded = expiring_session(&console).await;
    let session = console
        .load(&loaded.id, on())
        .await
        .expect("store")
        .expect("a session");
    assert!(session.session.user.is_none(), "signed out");
    assert_ne!(
        session.session.csrf, loaded.session.csrf,
        "a new CSRF token"
    );
    assert!(
        console
            .load("no-such-session", on())
            .await
            .expect("store")
            .is_none()
    );
}

#[tokio::test]
async fn keeping_a_cart_on_an_older_copy_does_not_undo_a_refresh() {
    let calls = Arc::new(AtomicUsize::new(0));
    let console = console(&calls, Identity::Rotates, SessionStore::memory());
    // A page loaded the session before another request of it refreshed the tokens.
    let older_copy = expiring_session(&console).await;
    console
        .load(&older_copy.id, on())
        .await
        .expect("store")
        .expect("refreshed");
    console
        .update(&older_copy.id, |session| {
            session.cart_id = Some("cart-1".into())
        })
        .await
        .expect("kept");
    let now = console
        .load(&older_copy.id, on())
        .await
        .expect("store")
        .expect("a session")
        .session;
    assert_eq!(now.cart_id.as_deref(), Some("cart-1"));
    let user = now.user.expect("signed in");
    assert_eq!(user.access_token, "access-2", "the refreshed token stays");
    assert_eq!(calls.load(Ordering::SeqCst), 1);
}

/// The distributed shape's store: Redis at `VISCOUNT_TEST_REDIS_URL` under a prefix of
/// the test's own; `None` (skipped) without it, unless the distributed shape is required.
fn redis_store() -> Option<SessionStore> {
    let Ok(url) = std::env::var("VISCOUNT_TEST_REDIS_URL") else {
        assert!(
            std::env::var("VISCOUNT_TEST_REQUIRE_DISTRIBUTED").as_deref() != Ok("1"),
            "VISCOUNT_TEST_REDIS_URL is required"
        );
        eprintln!("SKIPPED: no Redis (VISCOUNT_TEST_REDIS_URL)");
        return None;
    };
    let redis = platform::redis::Redis::open(&url, Duration::from_secs(2)).expect("redis url");
    Some(SessionStore::Redis {
        redis: Arc::new(redis),
        prefix: format!("test:{}:", platform::ids::new_id()),
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_gateways_refresh_a_shared_session_once() {
    let Some(store) = redis_store() else {
        return;
    };
    let calls = Arc::new(AtomicUsize::new(0));
    // Two replicas: each its own process state, the sessions shared in Redis.
    let replicas: Vec<Arc<Console>> = (0..2)
        .map(|_| console(&calls, Identity::Rotates, store.clone()))
        .collect();
    let loaded = expiring_session(&replicas[0]).await;
    let loads = (0..8).map(|i| {
        let (console, id) = (replicas[i % 2].clone(), loaded.id.clone());
        tokio::spawn(async move { console.load(&id, on()).await })
    });
    for load in futures_util::future::join_all(loads).await {
        let user = load
            .expect("task")
            .expect("store")
            .expect("still a session")
            .session
            .user
            .expect("still signed in");
        assert_eq!(user.access_token, "access-2", "one new token for both");
        assert_eq!(user.refresh_token.as_deref(), Some("refresh-2"));
    }
    assert_eq!(
        calls.load(Ordering::SeqCst),
        1,
        "one refresh between the two gateways"
    );
}

#[tokio::test]
async fn a_refresh_turned_away_before_identity_leaves_the_session_signed_in() {
    let calls = Arc::new(AtomicUsize::new(0));
    let console = console(&calls, Identity::TurnsAway, SessionStore::memory());
    let loaded = expiring_session(&console).await;
    for attempt in 1..=2 {
        let user = console
            .load(&loaded.id, on())
            .await
            .expect("store")
            .expect("a session")
            .session
            .user
            .expect("still signed in");
        assert_eq!(user.refresh_token.as_deref(), Some("refresh-1"), "kept");
        assert_eq!(
            calls.load(Ordering::SeqCst),
            attempt,
            "tried again on the next page"
        );
    }
}

#[tokio::test]
async fn a_session_signed_out_during_its_refresh_stays_out() {
    let calls = Arc::new(AtomicUsize::new(0));
    let store = SessionStore::memory();
    let console = console(&calls, Identity::Rotates, store.clone());
    let loaded = expiring_session(&console).await;
    let load = {
        let (console, id) = (console.clone(), loaded.id.clone());
        tokio::spawn(async move { console.load(&id, on()).await })
    };
    // Signed out while identity is answering (it takes 50 ms).
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while calls.load(Ordering::SeqCst) == 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "the refresh never starts"
        );
        tokio::task::yield_now().await;
    }
    store
        .delete(console::store::Record::Session, &loaded.id)
        .await
        .expect("deleted");
    let after = load.await.expect("task").expect("store");
    assert!(after.is_none(), "no session: {after:?}");
    assert!(
        console
            .load(&loaded.id, on())
            .await
            .expect("store")
            .is_none(),
        "not brought back by the refresh"
    );
}
