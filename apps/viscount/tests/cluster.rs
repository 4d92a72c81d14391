//! The distributed shape as separate processes: discovery alone wires them, the gateway
//! balances over replicas and ejects a dead one, coordination may restart.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use support::{Cluster, eventually, stocked};

const SETTLE: Duration = Duration::from_secs(30);

fn order_body(sku: &str) -> Value {
    json!({
        "items": [{"sku": sku, "quantity": 1}],
        "shipping_address": {"name": "Ann Buyer", "line1": "1 Main St", "city": "Springfield",
                             "postal_code": "12345", "country": "US"},
        "payment": {"method": "card", "card_number": "4242424242424242", "exp_month": 12,
                    "exp_year": 2099, "cvc": "123"}
    })
}

async fn breaker_state(cluster: &Cluster, gateway: &str, instance: &str) -> Option<i64> {
    let text = cluster
        .client
        .get(format!("{gateway}/metrics"))
        .send()
        .await
        .ok()?
        .text()
        .await
        .ok()?;
    text.lines()
        .find(|line| {
            line.starts_with("viscount_breaker_state{")
                && line.contains(&format!("instance=\"{instance}\""))
        })
        .and_then(|line| line.rsplit(' ').next()?.parse().ok())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn replicas_share_traffic_and_a_killed_one_loses_no_order() {
    // One buyer places every order: the fraud rule's attempts per minute and the
    // user tier are set for that, through configuration.
    let Some(mut cluster) = Cluster::start(&[
        ("VISCOUNT_PAYMENTS__FRAUD_MAX_ATTEMPTS_PER_MINUTE", "100000"),
        ("VISCOUNT_GATEWAY__RATE_LIMITS__USER_PER_MINUTE", "100000"),
        // The breakers are read from the gateway's /metrics.
        ("VISCOUNT_GATEWAY__PUBLIC_METRICS", "true"),
    ]) else {
        return;
    };
    for service in [
        "identity",
        "catalog",
        "catalog",
        "inventory",
        "payments",
        "ordering",
        "ordering",
        "gateway",
    ] {
        cluster.spawn(service);
    }
    for (service, count) in [
        ("identity", 1),
        ("catalog", 2),
        ("inventory", 1),
        ("payments", 1),
        ("ordering", 2),
    ] {
        cluster.wait_registered(service, count).await;
    }
    let gateway = cluster.gateway();
    // The gateway's /health reports each service with the instances coordination polls
    // (fulfillment and the others run no process here, so the platform is not whole).
    let health: Value = eventually(SETTLE, "ordering's two instances in /health", || async {
        let health: Value = cluster
            .client
            .get(format!("{gateway}/health"))
            .send()
            .await
            .ok()?
            .json()
            .await
            .ok()?;
        let ordering = &health["services"]["ordering"];
        let up = ordering["instances"]
            .as_array()?
            .iter()
            .filter(|i| i["status"] == "ok")
            .count();
        (ordering["status"] == "ok" && up == 2).then_some(health)
    })
    .await;
    assert_eq!(
        health["services"]["fulfillment"]["status"], "down",
        "{health}"
    );
    let admin = cluster.admin_token_at(&gateway).await;
    let product = stocked(&cluster, &gateway, &admin, "CLUSTER-1").await;

    // Both catalog replicas answer product reads (signed-in reads are never cached).
    for _ in 0..20 {
        let r = cluster
            .client
            .get(format!("{gateway}/api/v1/products/{product}"))
            .bearer_auth(&admin)
            .send()
            .await
            .expect("product read");
        assert_eq!(r.status(), 200);
    }
    for replica in cluster.all("catalog") {
        let served = cluster.requests_served(&replica.url, "catalog").await;
        assert!(served >= 5.0, "catalog at {} served {served}", replica.url);
    }

    // A stream of checkouts; one ordering replica is killed in the middle of it.
    let email = "buyer@cluster.test";
    let registered = cluster
        .client
        .post(format!("{gateway}/api/v1/users"))
        .json(&json!({"email": email, "password": "buyer password 1", "name": "Buyer"}))
        .send()
        .await
        .expect("register");
    assert_eq!(registered.status(), 201);
    let buyer = cluster.login(&gateway, email, "buyer password 1").await;
    let completed = Arc::new(AtomicUsize::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let accepted = Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let failures = Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let mut workers = Vec::new();
    for _ in 0..4 {
        let (client, gateway, buyer) = (cluster.client.clone(), gateway.clone(), buyer.clone());
        let (completed, stop, accepted, failures) = (
            completed.clone(),
            stop.clone(),
            accepted.clone(),
            failures.clone(),
        );
        workers.push(tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                let answer = client
                    .post(format!("{gateway}/api/v1/orders"))
                    .bearer_auth(&buyer)
                    .header("idempotency-key", uuid::Uuid::now_v7().to_string())
                    .header("prefer", "wait=10")
                    .json(&order_body("CLUSTER-1"))
                    .send()
                    .await;
                completed.fetch_add(1, Ordering::Relaxed);
                match answer {
                    Ok(r) if r.status().is_success() => {
                        let order: Value = r.json().await.unwrap_or_default();
                        if let Some(id) = order["id"].as_str() {
                            accepted.lock().expect("lock").push(id.to_owned());
                        }
                    }
                    Ok(r) => failures
                        .lock()
                        .expect("lock")
                        .push(format!("{}", r.status())),
                    Err(err) => failures.lock().expect("lock").push(err.to_string()),
                }
            }
        }));
    }
    eventually(SETTLE, "20 checkouts before the kill", || async {
        (completed.load(Ordering::Relaxed) >= 20).then_some(())
    })
    .await;
    for replica in cluster.all("ordering") {
        let served = cluster.requests_served(&replica.url, "ordering").await;
        assert!(served >= 5.0, "ordering at {} served {served}", replica.url);
    }
    let victim = cluster
        .processes
        .iter()
        .position(|p| p.service == "ordering")
        .expect("an ordering replica");
    let victim_url = cluster.processes[victim].url.clone();
    let survivor_url = cluster.all("ordering").last().expect("two").url.clone();
    let before_kill = completed.load(Ordering::Relaxed);
    let killed_at = Instant::now();
    cluster.processes[victim].kill();
    let opened_after = eventually(SETTLE, "the breaker opens", || async {
        (breaker_state(&cluster, &gateway, &victim_url).await == Some(1))
            .then(|| killed_at.elapsed())
    })
    .await;
    eventually(
        Duration::from_secs(60),
        "40 checkouts after the kill",
        || async { (completed.load(Ordering::Relaxed) >= before_kill + 40).then_some(()) },
    )
    .await;
    stop.store(true, Ordering::Relaxed);
    for worker in workers {
        worker.await.expect("worker");
    }
    let total = completed.load(Ordering::Relaxed);
    let failed = failures.lock().expect("lock").clone();
    eprintln!(
        "checkouts: {total}, failed: {} ({:.2}%), kill to breaker open: {} ms; failures: {failed:?}",
        failed.len(),
        100.0 * failed.len() as f64 / total as f64,
        opened_after.as_millis()
    );
    assert!(
        failed.len() <= 5,
        "no request fails beyond the breaker's first failures: {failed:?}"
    );
    assert!(
        cluster.requests_served(&survivor_url, "ordering").await > 0.0,
        "the surviving replica took orders"
    );

    // Every accepted order settles (the survivor finishes the victim's sagas).
    let orders = accepted.lock().expect("lock").clone();
    assert!(orders.len() >= 50, "orders accepted: {}", orders.len());
    let mut unsettled = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    for id in &orders {
        loop {
            let order: Value = cluster
                .client
                .get(format!("{gateway}/api/v1/orders/{id}"))
                .bearer_auth(&buyer)
                .send()
                .await
                .expect("order read")
                .json()
                .await
                .unwrap_or_default();
            if order["status"] == "confirmed" {
                break;
            }
            if Instant::now() > deadline {
                unsettled.push(order);
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    assert!(
        unsettled.is_empty(),
        "orders that did not settle: {unsettled:#?}"
    );

    // With every ordering replica gone, the gateway answers 503 naming it at once.
    let survivor = cluster
        .processes
        .iter()
        .position(|p| p.service == "ordering" && p.url == survivor_url)
        .expect("survivor");
    cluster.processes[survivor].kill();
    for _ in 0..10 {
        let started = Instant::now();
        let answer = cluster
            .client
            .get(format!("{gateway}/api/v1/orders"))
            .bearer_auth(&buyer)
            .send()
            .await
            .expect("answer");
        let took = started.elapsed();
        assert_eq!(answer.status(), 503);
        let problem: Value = answer.json().await.expect("problem");
        assert!(
            problem["detail"]
                .as_str()
                .unwrap_or_default()
                .contains("ordering"),
            "{problem}"
        );
        assert!(took < Duration::from_millis(100), "503 took {took:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_coordination_restart_loses_no_registration_and_routing_goes_on() {
    let Some(mut cluster) = Cluster::start(&[]) else {
        return;
    };
    for service in ["identity", "catalog", "gateway"] {
        cluster.spawn(service);
    }
    cluster.wait_registered("catalog", 1).await;
    cluster.wait_registered("identity", 1).await;
    let gateway = cluster.gateway();
    let coordination = cluster
        .processes
        .iter()
        .position(|p| p.service == "coordination")
        .expect("coordination");
    cluster.processes[coordination].kill();
    // The gateway keeps the last list it had: catalog is still reached.
    for _ in 0..5 {
        let r = cluster
            .client
            .get(format!("{gateway}/api/v1/categories"))
            .send()
            .await
            .expect("categories");
        assert_eq!(
            r.status(),
            200,
            "catalog reached while coordination is down"
        );
    }
    cluster.spawn("coordination");
    // Registrations are kept in coordination's database, and every instance beats
    // again within one TTL of coordination serving.
    let restarted_at = Instant::now();
    // Within one TTL (3 s here) every instance is listed again.
    cluster.wait_registered("catalog", 1).await;
    cluster.wait_registered("identity", 1).await;
    cluster.wait_registered("gateway", 1).await;
    assert!(
        restarted_at.elapsed() < Duration::from_secs(3 + 2),
        "registrations back after {:?}",
        restarted_at.elapsed()
    );

    // A graceful stop deregisters at once.
    let catalog = cluster
        .processes
        .iter()
        .position(|p| p.service == "catalog")
        .expect("catalog");
    cluster.processes[catalog].terminate();
    eventually(Duration::from_secs(2), "catalog deregistered", || async {
        cluster.instances("catalog").await?.is_empty().then_some(())
    })
    .await;
}

/// One anonymous request through `gateway`: its status and `RateLimit-Remaining`.
async fn anonymous(cluster: &Cluster, gateway: &str) -> (u16, Option<u64>) {
    let answer = cluster
        .client
        .get(format!("{gateway}/api/v1/categories"))
        .send()
        .await
        .expect("categories");
    let remaining = answer
        .headers()
        .get("ratelimit-remaining")
        .and_then(|v| v.to_str().ok()?.parse().ok());
    if answer.status() == 429 {
        assert!(answer.headers().contains_key("retry-after"));
    }
    (answer.status().as_u16(), remaining)
}

/// Anonymous requests through the gateways in turn until the first 429; how many passed.
async fn anonymous_until_limited(cluster: &Cluster, gateways: &[String]) -> u64 {
    let mut passed = 0;
    for gateway in gateways.iter().cycle().take(200) {
        match anonymous(cluster, gateway).await {
            (429, _) => return passed,
            (200, _) => passed += 1,
            (status, _) => panic!("unexpected {status}"),
        }
    }
    panic!("never limited");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn gateway_replicas_share_one_budget_and_take_a_new_limit_live() {
    // A long window, so the minute does not roll over during the test.
    let Some(mut cluster) = Cluster::start(&[
        ("VISCOUNT_GATEWAY__RATE_LIMITS__ANONYMOUS_PER_MINUTE", "10"),
        ("VISCOUNT_GATEWAY__RATE_LIMITS__WINDOW_SECS", "3600"),
        ("VISCOUNT_GATEWAY__CACHE__ENABLED", "false"),
    ]) else {
        return;
    };
    for service in ["identity", "catalog", "gateway", "gateway"] {
        cluster.spawn(service);
    }
    cluster.wait_registered("identity", 1).await;
    cluster.wait_registered("catalog", 1).await;
    cluster.wait_registered("gateway", 2).await;
    let gateways: Vec<String> = cluster
        .all("gateway")
        .iter()
        .map(|p| p.url.clone())
        .collect();
    // Signing in is an anonymous request too; done first.
    let admin = cluster.admin_token_at(&gateways[0]).await;

    // Each replica's answer counts down the same budget.
    let (status, first) = anonymous(&cluster, &gateways[0]).await;
    assert_eq!(status, 200);
    let first = first.expect("RateLimit-Remaining");
    let (_, second) = anonymous(&cluster, &gateways[1]).await;
    assert_eq!(
        second,
        Some(first - 1),
        "the second replica counts the first's request"
    );
    assert_eq!(
        anonymous_until_limited(&cluster, &gateways).await,
        first - 1
    );

    // An admin raises the anonymous limit in coordination; both replicas apply it
    // without a restart (at their next heartbeat).
    let current: Value = cluster
        .client
        .get(format!("{}/api/v1/config/gateway", gateways[0]))
        .bearer_auth(&admin)
        .send()
        .await
        .expect("config")
        .json()
        .await
        .expect("config json");
    let version = current["version"].as_u64().expect("version");
    let updated = cluster
        .client
        .put(format!("{}/api/v1/config/gateway", gateways[0]))
        .bearer_auth(&admin)
        .header("if-match", format!("\"{version}\""))
        .json(&json!({"values": {"rate_limits": {"anonymous_per_minute": 40}}}))
        .send()
        .await
        .expect("config put");
    assert_eq!(updated.status(), 200);
    for gateway in &gateways {
        eventually(SETTLE, "the new limit is applied", || async {
            // /health is not limited; a limited path is, so ask sparingly.
            tokio::time::sleep(Duration::from_millis(300)).await;
            let answer = cluster
                .client
                .get(format!("{gateway}/api/v1/categories"))
                .send()
                .await
                .ok()?;
            (answer.headers().get("ratelimit-limit")?.to_str().ok()? == "40").then_some(())
        })
        .await;
    }
    // What one replica says is left is what both together let through.
    let (status, left) = anonymous(&cluster, &gateways[1]).await;
    assert_eq!(status, 200, "the raised limit admits more");
    let left = left.expect("RateLimit-Remaining");
    assert_eq!(anonymous_until_limited(&cluster, &gateways).await, left);
}
