//! The operations over a migrated SQLite database of their own: what each change
//! stores and announces, and that raced changes have exactly one winner.

use std::sync::Arc;
use std::sync::atomic::{AtomicU16, Ordering};
use std::time::Duration;

use platform::bus::Outbox;
use platform::db::{Db, query_scalar};
use platform::live::LiveConfig;
use platform::service::ServiceKind;
use platform::time::Clock;
use serde_json::json;

use super::{CoordinationApp, CoordinationError};
use crate::config::CoordinationConfig;
use crate::domain::{
    Address, HealthStatus, InstanceId, LeaseRequest, LockName, Owner, Registration, Ttl, Version,
};

struct Fixture {
    _dir: tempfile::TempDir,
    app: CoordinationApp,
    clock: Clock,
    live: LiveConfig,
}

async fn fixture() -> Fixture {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = Db::connect(
        &platform::db::sqlite_url(dir.path(), "coordination"),
        &crate::MIGRATIONS,
    )
    .await
    .expect("db");
    let clock = Clock::system();
    let live = LiveConfig::new();
    let app = CoordinationApp::new(
        db,
        Outbox::offline(ServiceKind::Coordination),
        clock.clone(),
        live.clone(),
        CoordinationConfig {
            health_timeout_ms: 500,
            ..CoordinationConfig::default()
        },
    );
    Fixture {
        _dir: dir,
        app,
        clock,
        live,
    }
}

fn registration(service: ServiceKind, id: &str, address: &str, ttl: i64) -> Registration {
    Registration {
        service,
        instance_id: InstanceId::try_from(id.to_owned()).expect("id"),
        address: Address::try_from(address.to_owned()).expect("address"),
        version: Version::try_from("1.0.0".to_owned()).expect("version"),
        ttl: Ttl::try_from(ttl).expect("ttl"),
    }
}

/// The bodies of the staged events of `event_type`, oldest first.
async fn events(app: &CoordinationApp, event_type: &str) -> Vec<serde_json::Value> {
    let bodies: Vec<String> =
        query_scalar("SELECT body FROM outbox WHERE event_type = $1 ORDER BY seq")
            .bind(event_type)
            .fetch_all(app.db().reader())
            .await
            .expect("outbox");
    bodies
        .iter()
        .map(|body| {
            let envelope: serde_json::Value = serde_json::from_str(body).expect("envelope");
            envelope["data"].clone()
        })
        .collect()
}

#[tokio::test]
async fn a_registration_is_new_once_and_then_heartbeats() {
    let f = fixture().await;
    let first = f
        .app
        .register(registration(
            ServiceKind::Ordering,
            "o-1",
            "http://127.0.0.1:1",
            10,
        ))
        .await
        .expect("register");
    assert!(first.created);
    assert_eq!(first.instance.status, HealthStatus::Unknown);
    assert_eq!(first.config_version, 0);

    f.clock.advance(Duration::from_secs(3));
    let again = f
        .app
        .register(registration(
            ServiceKind::Ordering,
            "o-1",
            "http://127.0.0.1:1",
            20,
        ))
        .await
        .expect("heartbeat");
    assert!(!again.created);
    assert!(again.instance.last_seen >= first.instance.last_seen + 3000);
    assert_eq!(again.instance.ttl_seconds, 20);
    assert_eq!(again.instance.expires_at, again.instance.last_seen + 20_000);

    let registered = events(&f.app, "coordination.service.registered.v1").await;
    assert_eq!(registered.len(), 1, "a heartbeat is not a registration");
    assert_eq!(registered[0]["instance_id"], "o-1");
    assert_eq!(registered[0]["service"], "ordering");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sweeper_drops_only_expired_instances_and_announces_each_once() {
    let f = fixture().await;
    for (id, ttl) in [("short", 5), ("long", 60)] {
        f.app
            .register(registration(
                ServiceKind::Catalog,
                id,
                "http://127.0.0.1:1",
                ttl,
            ))
            .await
            .expect("register");
    }
    assert_eq!(f.app.sweep().await.expect("sweep"), 0);
    f.clock.advance(Duration::from_secs(6));
    // Two sweeps racing (two replicas): the conditional delete lets one announce it.
    let (a, b) = tokio::join!(f.app.sweep(), f.app.sweep());
    assert_eq!(a.expect("sweep") + b.expect("sweep"), 1);
    let left: Vec<String> = f
        .app
        .instances(None)
        .await
        .expect("list")
        .into_iter()
        .map(|i| i.instance_id)
        .collect();
    assert_eq!(left, ["long"]);
    let gone = events(&f.app, "coordination.service.deregistered.v1").await;
    assert_eq!(gone.len(), 1);
    assert_eq!(gone[0]["instance_id"], "short");
    assert_eq!(gone[0]["reason"], "expired");
}

#[tokio::test]
async fn a_restart_longer_than_a_ttl_drops_nobody_until_one_ttl_after_the_start() {
    let f = fixture().await;
    for (id, ttl) in [("alive", 5), ("dead", 5), ("slow", 60)] {
        f.app
            .register(registration(
                ServiceKind::Ordering,
                id,
                "http://127.0.0.1:1",
                ttl,
            ))
            .await
            .expect("register");
    }
    // Coordination is down for 30 s: no heartbeat lands, every short TTL passes.
    f.clock.advance(Duration::from_secs(30));
    let restarted = CoordinationApp::new(
        f.app.db().clone(),
        Outbox::offline(ServiceKind::Coordination),
        f.clock.clone(),
        LiveConfig::new(),
        CoordinationConfig::default(),
    );
    let ids = |instances: Vec<crate::domain::Instance>| -> Vec<String> {
        instances.into_iter().map(|i| i.instance_id).collect()
    };
    assert_eq!(restarted.sweep().await.expect("sweep"), 0);

    // Within one TTL of the start the live instance heartbeats; the dead one does not.
    f.clock.advance(Duration::from_secs(3));
    restarted
        .register(registration(
            ServiceKind::Ordering,
            "alive",
            "http://127.0.0.1:1",
            5,
        ))
        .await
        .expect("heartbeat");
    assert_eq!(restarted.sweep().await.expect("sweep"), 0);

    // One TTL after the start only the silent short-TTL instance goes, announced once.
    f.clock.advance(Duration::from_secs(3));
    assert_eq!(restarted.sweep().await.expect("sweep"), 1);
    assert_eq!(
        ids(restarted.instances(None).await.expect("list")),
        ["alive", "slow"]
    );
    let gone = events(&restarted, "coordination.service.deregistered.v1").await;
    assert_eq!(gone.len(), 1);
    assert_eq!(gone[0]["instance_id"], "dead");
    assert_eq!(gone[0]["reason"], "expired");

    // A long TTL is granted in full from the start too; once it passes, the silent go.
    f.clock.advance(Duration::from_secs(50));
    assert_eq!(restarted.sweep().await.expect("sweep"), 1);
    assert_eq!(
        ids(restarted.instances(None).await.expect("list")),
        ["slow"]
    );
    f.clock.advance(Duration::from_secs(5));
    assert_eq!(restarted.sweep().await.expect("sweep"), 1);
    assert!(restarted.instances(None).await.expect("list").is_empty());
}

#[tokio::test]
async fn deregistering_announces_a_shutdown_and_an_unknown_instance_is_not_found() {
    let f = fixture().await;
    f.app
        .register(registration(
            ServiceKind::Payments,
            "p-1",
            "http://127.0.0.1:1",
            30,
        ))
        .await
        .expect("register");
    f.app
        .deregister(ServiceKind::Payments, "p-1")
        .await
        .expect("deregister");
    assert!(matches!(
        f.app.deregister(ServiceKind::Payments, "p-1").await,
        Err(CoordinationError::NotFound(_))
    ));
    let gone = events(&f.app, "coordination.service.deregistered.v1").await;
    assert_eq!(gone.len(), 1);
    assert_eq!(gone[0]["reason"], "shutdown");
}

/// A `/health/ready` whose answer the test sets: the status code to send.
async fn health_endpoint() -> (String, Arc<AtomicU16>) {
    let status = Arc::new(AtomicU16::new(200));
    let answer = status.clone();
    let router = axum::Router::new().route(
        "/health/ready",
        axum::routing::get(move || {
            let answer = answer.clone();
            async move {
                http::StatusCode::from_u16(answer.load(Ordering::Relaxed))
                    .unwrap_or(http::StatusCode::INTERNAL_SERVER_ERROR)
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let address = format!("http://{}", listener.local_addr().expect("addr"));
    tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    (address, status)
}

#[tokio::test]
async fn polling_records_health_changes_and_announces_only_changes() {
    let f = fixture().await;
    let (address, status) = health_endpoint().await;
    f.app
        .register(registration(ServiceKind::Inventory, "i-1", &address, 30))
        .await
        .expect("register");
    // Nothing listens on port 1.
    f.app
        .register(registration(
            ServiceKind::Inventory,
            "i-2",
            "http://127.0.0.1:1",
            30,
        ))
        .await
        .expect("register");

    assert_eq!(f.app.poll_health().await.expect("poll"), 2);
    let report = f
        .app
        .service_health(ServiceKind::Inventory)
        .await
        .expect("health");
    let statuses: Vec<_> = report.instances.iter().map(|i| i.status).collect();
    assert_eq!(statuses, [HealthStatus::Up, HealthStatus::Down]);
    assert_eq!(report.status, crate::domain::ServiceHealth::Degraded);
    assert!(report.instances.iter().all(|i| i.last_checked.is_some()));

    // The same answers again change nothing.
    assert_eq!(f.app.poll_health().await.expect("poll"), 0);

    status.store(503, Ordering::Relaxed);
    assert_eq!(f.app.poll_health().await.expect("poll"), 1);
    let report = f
        .app
        .service_health(ServiceKind::Inventory)
        .await
        .expect("health");
    assert_eq!(report.status, crate::domain::ServiceHealth::Down);

    let changes = events(&f.app, "coordination.service.health_changed.v1").await;
    let moves: Vec<(String, String, String)> = changes
        .iter()
        .map(|c| {
            let text = |k: &str| c[k].as_str().unwrap_or_default().to_owned();
            (text("instance_id"), text("from"), text("to"))
        })
        .collect();
    assert!(
        moves.contains(&("i-1".into(), "unknown".into(), "up".into())),
        "{moves:?}"
    );
    assert!(
        moves.contains(&("i-2".into(), "unknown".into(), "down".into())),
        "{moves:?}"
    );
    assert!(
        moves.contains(&("i-1".into(), "up".into(), "down".into())),
        "{moves:?}"
    );
    assert_eq!(moves.len(), 3);

    let platform = f.app.platform_health().await.expect("platform");
    assert_eq!(platform.status, crate::domain::ServiceHealth::Down);
    assert_eq!(platform.services["inventory"].instances, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn documents_move_one_version_at_a_time_and_racing_writers_have_one_winner() {
    let f = fixture().await;
    let values = |v: serde_json::Value| v.as_object().cloned().expect("object");
    let first = f
        .app
        .write_document(
            ServiceKind::Payments,
            0,
            values(json!({"max_amount_minor": 500, "currency": "EUR"})),
        )
        .await
        .expect("first version");
    assert_eq!(first.document.version, 1);
    assert_eq!(first.change.applied_live, ["max_amount_minor"]);
    assert_eq!(first.change.needs_restart, ["currency"]);
    assert_eq!(f.live.current(ServiceKind::Payments).version, 1);

    assert!(matches!(
        f.app
            .write_document(ServiceKind::Payments, 0, values(json!({})))
            .await,
        Err(CoordinationError::StaleVersion { current: 1 })
    ));

    let racers: Vec<_> = (0..8)
        .map(|n| {
            let app = f.app.clone();
            let values = values(json!({"max_amount_minor": n}));
            tokio::spawn(async move { app.write_document(ServiceKind::Payments, 1, values).await })
        })
        .collect();
    let mut won = 0;
    for racer in racers {
        match racer.await.expect("task") {
            Ok(written) => {
                won += 1;
                assert_eq!(written.document.version, 2);
            }
            Err(CoordinationError::StaleVersion { current: 2 }) => {}
            Err(other) => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(won, 1);
    assert_eq!(
        f.app
            .document(ServiceKind::Payments)
            .await
            .expect("doc")
            .version,
        2
    );
    assert_eq!(
        events(&f.app, "coordination.config.updated.v1").await.len(),
        2
    );

    // A new process publishes what is stored.
    let fresh = LiveConfig::new();
    let restarted = CoordinationApp {
        live: fresh.clone(),
        ..f.app.clone()
    };
    assert_eq!(restarted.publish_stored().await.expect("publish"), 1);
    assert_eq!(fresh.current(ServiceKind::Payments).version, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_of_many_contenders_gets_a_lock_and_tokens_only_grow() {
    let f = fixture().await;
    let name = LockName::try_from("reports.schedule".to_owned()).expect("name");
    let request = |owner: &str, ttl| {
        LeaseRequest::new(Owner::try_from(owner.to_owned()).expect("owner"), ttl).expect("ttl")
    };
    let contenders: Vec<_> = (0..8)
        .map(|n| {
            let app = f.app.clone();
            let name = name.clone();
            let request = request(&format!("worker-{n}"), 10);
            tokio::spawn(async move { app.acquire(&name, &request).await })
        })
        .collect();
    let mut winners = Vec::new();
    for contender in contenders {
        match contender.await.expect("task") {
            Ok(granted) => winners.push(granted),
            Err(CoordinationError::LockHeld { .. }) => {}
            Err(other) => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(winners.len(), 1);
    let first = &winners[0].lease;
    assert_eq!(first.fencing_token, 1);
    assert_eq!(
        f.app.holder(&name).await.expect("holder").owner,
        first.owner
    );

    // The holder renews: same token.
    let renewed = f
        .app
        .acquire(&name, &request(&first.owner, 10))
        .await
        .expect("renew");
    assert!(!renewed.acquired);
    assert_eq!(renewed.lease.fencing_token, 1);

    // Its lease ends: the next caller gets the next token.
    f.clock.advance(Duration::from_secs(11));
    assert!(matches!(
        f.app.holder(&name).await,
        Err(CoordinationError::NotFound(_))
    ));
    let next = f
        .app
        .acquire(&name, &request("late", 10))
        .await
        .expect("take over");
    assert!(next.acquired);
    assert_eq!(next.lease.fencing_token, 2);

    // Only the holder releases; the token stays.
    let stranger = Owner::try_from(first.owner.clone()).expect("owner");
    assert!(matches!(
        f.app.release(&name, &stranger).await,
        Err(CoordinationError::NotHolder)
    ));
    let late = Owner::try_from("late".to_owned()).expect("owner");
    f.app.release(&name, &late).await.expect("release");
    let after = f
        .app
        .acquire(&name, &request("again", 10))
        .await
        .expect("after release");
    assert_eq!(after.lease.fencing_token, 3);
}

#[tokio::test]
async fn a_schema_without_a_registered_field_is_incompatible_and_names_it() {
    let f = fixture().await;
    let event_type = "coordination.service.registered.v1";
    let mut schema = f.app.schemas().get(event_type).cloned().expect("schema");
    assert!(f.app.check_schema(event_type, &schema).is_ok());
    if let Some(properties) = schema["properties"].as_object_mut() {
        properties.remove("address");
    }
    match f.app.check_schema(event_type, &schema) {
        Err(CoordinationError::Incompatible(found)) => {
            assert!(
                found.iter().any(|(field, _)| field == "address"),
                "{found:?}"
            );
        }
        other => panic!("expected incompatible, got {other:?}"),
    }
    assert!(matches!(
        f.app.check_schema("no.such.event.v1", &schema),
        Err(CoordinationError::NotFound(_))
    ));
}
