//! Viscount's own KPIs, dashboards and anomaly alerts, in both shapes: real checkouts
//! through the gateway show up in `GET /api/v1/analytics/kpis` and the dashboards; only
//! admins may read them; bad periods and currencies are refused naming the field; and
//! a burst of orders after a steady hour raises one anomaly alert per excursion, once
//! even when two passes race, which notifications hands to the admin.

use analytics::domain::period::minute_of;
use contracts::Money;
use contracts::analytics::AnomalyDetected;
use contracts::ordering::{OrderCreated, OrderLine};
use platform::bus::{Envelope, EventHandler};
use platform::config::ConfigSource;
use platform::service::ServiceKind;
use serde_json::Value;
use viscount_tests::shop::*;
use viscount_tests::{
    Shape, TestApp, assert_problem, both_shapes, error_fields, eventually, spawn_app_with,
};

/// The sum of a series' `field` over its points (`v` of a dashboard series).
fn total(points: &Value, field: &str) -> i64 {
    points
        .as_array()
        .expect("points")
        .iter()
        .map(|p| {
            let value = &p[field];
            value
                .as_i64()
                .or_else(|| value["amount"].as_i64())
                .unwrap_or(0)
        })
        .sum()
}

/// The dashboard series named `name`.
fn series<'a>(dashboard: &'a Value, name: &str) -> &'a Value {
    dashboard["series"]
        .as_array()
        .expect("series")
        .iter()
        .find(|s| s["name"] == name)
        .unwrap_or_else(|| panic!("series {name} in {dashboard}"))
}

both_shapes! {
    async fn kpis_and_dashboards_follow_real_checkouts(app) {
        let admin = app.admin().await;
        stocked(&app, &admin, "KPI-1", 1250, 20).await;
        let buyer = app.user("kpis").await;
        for quantity in [2, 1, 1] {
            let placed = json_of(order(&app, &buyer, &items_order("KPI-1", quantity, APPROVE)).await).await;
            assert_eq!(placed["status"], "confirmed", "{placed}");
        }
        let declined = json_of(order(&app, &buyer, &items_order("KPI-1", 1, DECLINE)).await).await;
        assert_eq!(declined["status"], "cancelled", "{declined}");

        let kpis = until(&app, &admin.access, "/api/v1/analytics/kpis", "the KPIs of four checkouts", |k| {
            k["orders"] == 4
                && k["orders_confirmed"] == 3
                && k["payments_authorized"] == 3
                && k["payments_failed"] == 1
                && k["cancellations"] == 1
                && k["units_sold"] == 4
                // Inventory announces stock on hand in batches, a moment after it changes.
                && k["average_units_on_hand"].as_f64().is_some_and(|units| units > 0.0)
        })
        .await;
        assert_eq!(kpis["currency"], "USD");
        assert_eq!(kpis["revenue"], serde_json::json!({"amount": 5000, "currency": "USD"}));
        assert_eq!(kpis["refunds"], serde_json::json!({"amount": 0, "currency": "USD"}));
        // 5000 / 3 confirmed orders, rounded half away from zero.
        assert_eq!(kpis["average_order_value"], serde_json::json!({"amount": 1667, "currency": "USD"}));
        assert_eq!(kpis["payment_success_rate"], 0.75, "one declined card of four payments");
        assert_eq!(kpis["cancellation_rate"], 0.25);
        let turnover = kpis["inventory_turnover"].as_f64().expect("stock was on hand");
        assert!(turnover > 0.0, "{turnover}");
        let per_minute = kpis["orders_per_minute"].as_f64().expect("a number");
        assert!((per_minute - 4.0 / 1440.0).abs() < 1e-9, "{per_minute}");
        // The default period is the last 24 hours: every one of its minutes, quiet ones at 0.
        assert_eq!(kpis["series_zero_filled"], true);
        assert_eq!(kpis["series"].as_array().map(Vec::len), Some(1440));
        assert_eq!(total(&kpis["series"], "orders"), 4);
        assert_eq!(total(&kpis["series"], "revenue"), 5000);
        assert_eq!(total(&kpis["series"], "payments_authorized"), 3);
        assert_eq!(total(&kpis["series"], "payment_failures"), 1);
        assert_eq!(total(&kpis["series"], "cancellations"), 1);

        // The sales dashboard over the same day: hourly points and the KPI summary.
        let sales = json_of(app.get("/api/v1/dashboards/sales", Some(&admin.access)).await).await;
        assert_eq!(sales["id"], "sales");
        assert_eq!(sales["step"], "hour");
        let orders = series(&sales, "orders");
        assert_eq!(orders["unit"], "orders");
        assert!(orders["points"].as_array().is_some_and(|p| p.len() >= 24), "{orders}");
        assert_eq!(total(&orders["points"], "v"), 4);
        let revenue = series(&sales, "revenue");
        assert_eq!((revenue["unit"].as_str(), revenue["currency"].as_str()), (Some("minor_units"), Some("USD")));
        assert_eq!(total(&revenue["points"], "v"), 5000);
        assert_eq!(sales["summary"]["orders"], 4);
        assert_eq!(sales["summary"]["revenue"]["amount"], 5000);

        // The last hour is drawn per minute.
        let hour_ago = platform::time::rfc3339(app.clock.now_millis() - 3_600_000);
        let response = app
            .client
            .get(app.url("/api/v1/dashboards/sales"))
            .query(&[("from", hour_ago.as_str())])
            .bearer_auth(&admin.access)
            .send()
            .await
            .expect("sent");
        let recent = json_of(response).await;
        assert_eq!(recent["step"], "minute");
        assert_eq!(total(&series(&recent, "orders")["points"], "v"), 4);

        let payments = json_of(app.get("/api/v1/dashboards/payments", Some(&admin.access)).await).await;
        assert_eq!(payments["summary"]["authorized"], 3);
        assert_eq!(payments["summary"]["failed"], 1);
        assert_eq!(payments["summary"]["success_rate"], 0.75);
        assert_eq!(total(&series(&payments, "payments_failed")["points"], "v"), 1);
        let rates = series(&payments, "payment_success_rate")["points"].as_array().expect("points");
        assert!(rates.iter().any(|p| p["v"].is_number()) && rates.iter().any(|p| p["v"].is_null()));

        let inventory = until(&app, &admin.access, "/api/v1/dashboards/inventory", "stock on hand after the sales", |d| {
            d["summary"]["units_on_hand"] == 16
        })
        .await;
        assert_eq!(inventory["summary"]["units_sold"], 4);
        assert!(inventory["summary"]["inventory_turnover"].as_f64().is_some_and(|t| t > 0.0));
        assert_eq!(total(&series(&inventory, "units_sold")["points"], "v"), 4);
        let on_hand = series(&inventory, "units_on_hand")["points"].as_array().expect("points");
        assert_eq!(on_hand.last().map(|p| p["v"].clone()), Some(Value::from(16)));

        let attribution = json_of(app.get("/api/v1/dashboards/attribution", Some(&admin.access)).await).await;
        assert_eq!(attribution["step"], "day");
        assert_eq!(attribution["summary"]["tenant"], "viscount");
        assert_eq!(attribution["summary"]["model"], "last_touch");
        assert_eq!(attribution["summary"]["total"]["currency"], "USD");

        assert_problem(app.get("/api/v1/dashboards/nope", Some(&admin.access)).await, 404).await;
    }

    async fn kpis_are_for_admins_and_bad_input_names_the_field(app) {
        let customer = app.user("nosy").await;
        assert_problem(app.get("/api/v1/analytics/kpis", Some(&customer.access)).await, 403).await;
        assert_problem(app.get("/api/v1/dashboards/sales", Some(&customer.access)).await, 403).await;
        assert_problem(app.get("/api/v1/dashboards/nope", Some(&customer.access)).await, 403).await;
        assert_problem(app.get("/api/v1/analytics/kpis", None).await, 401).await;

        let admin = app.admin().await;
        for (query, field) in [
            ("from=yesterday", "from"),
            ("from=2026-02-01&to=2026-01-01", "from"),
            ("from=2024-01-01&to=2025-06-01", "to"),
            ("to=soon", "to"),
            ("currency=XYZ", "currency"),
        ] {
            for path in ["/api/v1/analytics/kpis", "/api/v1/dashboards/sales"] {
                let problem = assert_problem(app.get(&format!("{path}?{query}"), Some(&admin.access)).await, 422).await;
                assert_eq!(error_fields(&problem), [field], "{path}?{query}: {problem}");
            }
        }

        // A quiet explicit period: nothing happened, so no rates rather than zeros, and a
        // year is answered with the active minutes only.
        let quiet = json_of(app.get("/api/v1/analytics/kpis?from=2020-01-01&to=2020-12-31&currency=eur", Some(&admin.access)).await).await;
        assert_eq!(quiet["orders"], 0, "{quiet}");
        assert_eq!(quiet["currency"], "EUR");
        assert_eq!(quiet["average_order_value"], Value::Null);
        assert_eq!(quiet["payment_success_rate"], Value::Null);
        assert_eq!(quiet["cancellation_rate"], Value::Null);
        assert_eq!(quiet["inventory_turnover"], Value::Null);
        assert_eq!(quiet["series_zero_filled"], false);
        assert_eq!(quiet["series"], serde_json::json!([]));
    }
}

/// One minute, ms.
const MINUTE: i64 = 60_000;

/// Hands `count` orders placed in the minute starting at `minute` to analytics'
/// consumer, as the bus would deliver ordering's events (with the event time set, so
/// the test says which minute they belong to).
async fn orders_in_minute(app: &TestApp, minute: i64, count: usize) {
    let analytics = app
        .platform
        .as_ref()
        .and_then(|p| p.services.get::<analytics::Analytics>())
        .expect("analytics runs");
    let handler = analytics::events::AnalyticsEvents {
        app: analytics.app().clone(),
    };
    let mut tx = analytics.app().db().begin().await.expect("begin");
    for n in 0..count {
        let created = OrderCreated {
            order_id: uuid::Uuid::now_v7().to_string(),
            user_id: "anomaly-test".into(),
            items: vec![OrderLine {
                sku: "ANOMALY-1".into(),
                quantity: 1,
                unit_price: Money {
                    amount: 100,
                    currency: "USD".into(),
                },
            }],
            total: Money {
                amount: 100,
                currency: "USD".into(),
            },
            payment_id: None,
            attribution: None,
        };
        let mut envelope = Envelope::new(ServiceKind::Ordering, &created).expect("envelope");
        envelope.time = platform::time::rfc3339(minute + 1_000 + n as i64);
        handler.handle(&mut tx, &envelope).await.expect("handled");
    }
    tx.commit().await.expect("commit");
}

/// The anomalies analytics has staged in its outbox, oldest first.
async fn staged_anomalies(app: &TestApp) -> Vec<AnomalyDetected> {
    let analytics = app
        .platform
        .as_ref()
        .and_then(|p| p.services.get::<analytics::Analytics>())
        .expect("analytics runs");
    platform::db::query_scalar::<String>(
        "SELECT body FROM outbox WHERE event_type = $1 ORDER BY seq",
    )
    .bind(<AnomalyDetected as contracts::Event>::TYPE)
    .fetch_all(analytics.app().db().reader())
    .await
    .expect("outbox")
    .iter()
    .map(|body| {
        let envelope: Envelope = serde_json::from_str(body).expect("envelope");
        envelope.decode::<AnomalyDetected>().expect("anomaly")
    })
    .collect()
}

/// One anomaly pass, as the background task runs it.
async fn anomaly_pass(app: &TestApp) -> usize {
    app.platform
        .as_ref()
        .and_then(|p| p.services.get::<analytics::Analytics>())
        .expect("analytics runs")
        .app()
        .detect_anomalies()
        .await
        .expect("anomaly pass")
}

/// A steady hour of two or three orders a minute, then a one-minute burst: one alert.
/// Later a two-minute burst: one more alert (the second minute is the same excursion),
/// even with two passes racing over it as two replicas would. The admin is alerted.
async fn a_burst_after_a_steady_hour_alerts_once(shape: Shape) {
    // The background pass stays out of the way: the test runs the passes itself.
    let config = ConfigSource::from_parts("[analytics]\nanomaly_interval_secs = 86400\n", [])
        .expect("config");
    let Some(app) = spawn_app_with(shape, config).await else {
        return;
    };
    let admin = app.admin().await;
    let current = minute_of(app.clock.now_millis());
    for back in 1..=60 {
        orders_in_minute(&app, current - back * MINUTE, 2 + (back % 2) as usize).await;
    }
    // The first pass learns the hour (and the quiet minutes after it): no alert.
    anomaly_pass(&app).await;
    assert!(
        staged_anomalies(&app).await.is_empty(),
        "a steady hour is normal"
    );

    // A burst two minutes from now; once it is over (the clock moves instead of the
    // test sleeping) the next pass raises it.
    let burst = current + 2 * MINUTE;
    orders_in_minute(&app, burst, 30).await;
    app.clock.advance(std::time::Duration::from_secs(4 * 60));
    assert_eq!(anomaly_pass(&app).await, 1);
    let anomalies = staged_anomalies(&app).await;
    assert_eq!(anomalies.len(), 1, "{anomalies:?}");
    let anomaly = &anomalies[0];
    assert_eq!(anomaly.series, "orders");
    assert_eq!(anomaly.tenant_id, "viscount");
    assert_eq!(anomaly.direction, "above");
    assert_eq!(anomaly.minute, platform::time::rfc3339(burst));
    assert_eq!(anomaly.value, 30.0);
    assert!(
        anomaly.lower < 2.0 && 3.0 < anomaly.upper && anomaly.upper < 30.0,
        "{anomaly:?}"
    );
    assert_eq!(anomaly.currency, None);
    // Nothing new has closed: a pass right after raises nothing.
    assert_eq!(anomaly_pass(&app).await, 0);

    // Back to quiet, then two minutes of burst, closed by two passes at once.
    let second = current + 8 * MINUTE;
    orders_in_minute(&app, second, 30).await;
    orders_in_minute(&app, second + MINUTE, 30).await;
    app.clock.advance(std::time::Duration::from_secs(7 * 60));
    let (a, b) = tokio::join!(anomaly_pass(&app), anomaly_pass(&app));
    assert_eq!(
        a + b,
        1,
        "one excursion, one alert, whichever pass stored it"
    );
    let anomalies = staged_anomalies(&app).await;
    assert_eq!(anomalies.len(), 2, "{anomalies:?}");
    assert_eq!(anomalies[1].minute, platform::time::rfc3339(second));

    // Notifications turns each into an alert for the admin.
    let path = format!("/api/v1/users/{}/notifications?limit=100", admin.id);
    eventually(SETTLE, "both anomaly alerts reach the admin", || async {
        let list = json_of(app.get(&path, Some(&admin.access)).await).await;
        let alerts = list["items"]
            .as_array()?
            .iter()
            .filter(|n| n["template_id"] == "anomaly_detected.email")
            .count();
        (alerts == 2).then_some(())
    })
    .await;
}

mod a_burst_after_a_steady_hour_alerts_once {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn embedded() {
        a_burst_after_a_steady_hour_alerts_once(Shape::Embedded).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn distributed() {
        a_burst_after_a_steady_hour_alerts_once(Shape::Distributed).await;
    }
}
