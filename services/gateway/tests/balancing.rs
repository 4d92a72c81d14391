//! The gateway over a fixed pool of two instances, each a real HTTP server on its own
//! socket: which failures are retried on the other instance, and what is answered when
//! none is left.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::Router;
use axum::http::StatusCode;
use axum::routing::any;
use gateway::{Backend, Edge, GatewayConfig};
use platform::config::ConfigSource;
use platform::discovery::{BreakerSettings, Pool};
use platform::live::LiveConfig;
use platform::service::ServiceKind;
use platform::shutdown::Shutdown;
use platform::tasks::Tasks;

/// A server answering every request with `status`, counting what it received.
async fn instance(status: StatusCode) -> (String, Arc<AtomicUsize>) {
    let hits = Arc::new(AtomicUsize::new(0));
    let counted = hits.clone();
    let app = Router::new().fallback(any(move || {
        let counted = counted.clone();
        async move {
            counted.fetch_add(1, Ordering::SeqCst);
            (status, "{}")
        }
    }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("instance binds");
    let url = format!("http://{}", listener.local_addr().expect("address"));
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, hits)
}

/// A base URL nothing listens on.
async fn dead() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("binds");
    format!("http://{}", listener.local_addr().expect("address"))
}

/// A gateway routing catalog's paths to `instances`; its base URL.
async fn gateway(instances: Vec<String>) -> String {
    let config = GatewayConfig::default();
    let pool = Pool::fixed(
        ServiceKind::Catalog,
        instances,
        BreakerSettings {
            failures_to_open: 100,
            open_for_ms: 30_000,
        },
    );
    let edge = Edge {
        authenticator: None,
        live: LiveConfig::new(),
        redis_url: None,
        redis_prefix: String::new(),
        bus: None,
        tasks: Tasks::default(),
        config: ConfigSource::from_parts(
            "[gateway.rate_limits]\nenabled = false\n[gateway.cache]\nenabled = false\n",
            std::iter::empty::<(String, String)>(),
        )
        .expect("config"),
        api_documents: Vec::new(),
    };
    let app = gateway::router(
        vec![(ServiceKind::Catalog, Backend::Remote(pool))],
        &config,
        edge,
    )
    .expect("gateway");
    let listener = platform::http::server::bind("127.0.0.1:0")
        .await
        .expect("gateway binds");
    let url = format!("http://{}", listener.local_addr().expect("address"));
    tokio::spawn(platform::http::serve(listener, app, Shutdown::new()));
    url
}

#[tokio::test]
async fn a_safe_request_answered_503_is_tried_once_on_the_other_instance_and_an_unsafe_one_is_not()
{
    let (failing, failing_hits) = instance(StatusCode::SERVICE_UNAVAILABLE).await;
    let (healthy, healthy_hits) = instance(StatusCode::OK).await;
    let base = gateway(vec![failing, healthy]).await;
    let client = reqwest::Client::new();

    for _ in 0..6 {
        let answer = client
            .get(format!("{base}/api/v1/products"))
            .send()
            .await
            .expect("answer");
        assert_eq!(
            answer.status(),
            200,
            "a GET always ends at the healthy instance"
        );
    }
    assert_eq!(
        healthy_hits.load(Ordering::SeqCst),
        6,
        "each GET answered once there"
    );
    assert!(
        failing_hits.load(Ordering::SeqCst) >= 1,
        "some GETs went to the failing instance first and were retried"
    );

    let (failing_before, healthy_before) = (
        failing_hits.load(Ordering::SeqCst),
        healthy_hits.load(Ordering::SeqCst),
    );
    let mut refused = 0;
    for _ in 0..6 {
        let answer = client
            .post(format!("{base}/api/v1/products"))
            .body("{}")
            .send()
            .await
            .expect("answer");
        if answer.status() == 503 {
            refused += 1;
        }
    }
    let failing_posts = failing_hits.load(Ordering::SeqCst) - failing_before;
    let healthy_posts = healthy_hits.load(Ordering::SeqCst) - healthy_before;
    assert!(
        refused >= 1,
        "round robin sent some POSTs to the failing instance"
    );
    assert_eq!(
        refused, failing_posts,
        "a POST the failing instance answered is not sent again"
    );
    assert_eq!(
        healthy_posts,
        6 - refused,
        "each POST reached one instance only"
    );
}

#[tokio::test]
async fn a_refused_connection_is_tried_elsewhere_whatever_the_method_and_none_left_is_503() {
    let (healthy, healthy_hits) = instance(StatusCode::CREATED).await;
    let base = gateway(vec![dead().await, healthy]).await;
    let client = reqwest::Client::new();
    for _ in 0..4 {
        let answer = client
            .post(format!("{base}/api/v1/products"))
            .body("{}")
            .send()
            .await
            .expect("answer");
        assert_eq!(
            answer.status(),
            201,
            "nothing was sent to the dead instance"
        );
    }
    assert_eq!(healthy_hits.load(Ordering::SeqCst), 4);

    let base = gateway(vec![dead().await, dead().await]).await;
    let answer = client
        .get(format!("{base}/api/v1/products"))
        .send()
        .await
        .expect("answer");
    assert_eq!(answer.status(), 503);
    let problem: serde_json::Value = answer.json().await.expect("problem");
    assert!(
        problem["detail"]
            .as_str()
            .unwrap_or_default()
            .contains("catalog"),
        "{problem}"
    );
}
