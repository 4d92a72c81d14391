//! The dashboard: the last hour's orders per minute, revenue and payment success as
//! charts drawn on the server, the day's figures, and the skus running low.

use std::sync::Arc;

use crate::http::render::view;
use axum::extract::State;
use minijinja::Value;
use serde_json::Value as Json;

use crate::app::{Call, Console};
use crate::domain::chart::{Series, Unit};
use crate::http::render::{PageResult, base, ok};
use crate::http::shop::List;
use crate::http::visitor::Visitor;

/// The charts of one dashboard of analytics' (`sales`, `payments`), over the last hour.
fn charts(dashboard: &Json, wanted: &[(&str, &str)]) -> Vec<Value> {
    let series = dashboard["series"].as_array().cloned().unwrap_or_default();
    wanted
        .iter()
        .filter_map(|(name, title)| {
            let found = series.iter().find(|s| s["name"] == *name)?;
            let points = found["points"].as_array()?;
            let chart = Series {
                title: (*title).to_owned(),
                unit: Unit::of(found["unit"].as_str().unwrap_or_default()),
                labels: points
                    .iter()
                    .map(|p| clock(p["t"].as_str().unwrap_or_default()))
                    .collect(),
                values: points.iter().map(|p| p["v"].as_f64()).collect(),
            };
            Some(minijinja::context! { title => *title, svg => Value::from_safe_string(chart.svg()) })
        })
        .collect()
}

/// `14:05` of an RFC 3339 time.
fn clock(at: &str) -> String {
    at.get(11..16).unwrap_or(at).to_owned()
}

/// `GET /admin`.
#[tracing::instrument(skip_all)]
pub(super) async fn show(State(console): State<Arc<Console>>, visitor: Visitor) -> PageResult {
    visitor.admin()?;
    let now = platform::time::now_millis();
    let since = |millis: i64| {
        form_urlencoded::Serializer::new(String::new())
            .append_pair("from", &platform::time::rfc3339(now - millis))
            .finish()
    };
    // The day's figures are the sales dashboard's summary over the day (hourly buckets):
    // the same KPIs as `/analytics/kpis` without its per-minute series of the whole day
    // (about 210 KB of JSON a page would read to show six numbers).
    let (day, window) = (since(24 * 3_600_000), since(3_600_000));
    let (kpis, sales, payments, low) = tokio::join!(
        visitor.ask::<Json>(
            &console,
            Call::get(format!("/api/v1/dashboards/sales?{day}")),
            "dashboard"
        ),
        visitor.ask::<Json>(
            &console,
            Call::get(format!("/api/v1/dashboards/sales?{window}")),
            "dashboard"
        ),
        visitor.ask::<Json>(
            &console,
            Call::get(format!("/api/v1/dashboards/payments?{window}")),
            "dashboard"
        ),
        visitor.ask::<List<Json>>(
            &console,
            Call::get("/api/v1/inventory/low-stock?limit=10"),
            "low stock"
        ),
    );
    let (sales, payments) = (sales?, payments?);
    let mut charts_shown = charts(
        &sales,
        &[
            ("orders", "Orders per minute, last hour"),
            ("revenue", "Revenue per minute, last hour"),
        ],
    );
    charts_shown.extend(charts(
        &payments,
        &[("payment_success_rate", "Payment success rate, last hour")],
    ));
    ok(
        "admin/dashboard.html",
        view!(base(&visitor); kpis => kpis?["summary"], charts => charts_shown, low_stock => low?.items),
    )
}
