//! The platform with its Stripe provider on localstripe (`VISCOUNT_TEST_STRIPE_URL`,
//! started by `scripts/test`), and what localstripe and the ledger say about it.

use serde_json::Value;

use crate::shop::json_of;
use crate::{Shape, TestApp, spawn_app_with_vars};

/// The secret key the platform is given (localstripe takes any).
pub const SECRET_KEY: &str = "sk_test_x";

/// The platform in `shape` with the Stripe provider on localstripe, configured also by
/// the variables `extra`, and localstripe's URL; `None` (with a SKIPPED line) without
/// localstripe or the shape's services.
pub async fn spawn_with_stripe(shape: Shape, extra: &[(&str, &str)]) -> Option<(TestApp, String)> {
    let Ok(stripe) = std::env::var("VISCOUNT_TEST_STRIPE_URL") else {
        eprintln!("SKIPPED: VISCOUNT_TEST_STRIPE_URL not set");
        return None;
    };
    let mut vars = vec![
        ("VISCOUNT_PAYMENTS__PROVIDER", "stripe"),
        ("VISCOUNT_PAYMENTS__STRIPE__API_BASE", stripe.as_str()),
        ("VISCOUNT_PAYMENTS__STRIPE__SECRET_KEY", SECRET_KEY),
    ];
    vars.extend_from_slice(extra);
    let app = spawn_app_with_vars(shape, &vars).await?;
    Some((app, stripe))
}

/// What localstripe holds at `path`, read directly.
pub async fn at_stripe(stripe: &str, path: &str) -> Value {
    reqwest::Client::new()
        .get(format!("{stripe}{path}"))
        .bearer_auth(SECRET_KEY)
        .send()
        .await
        .expect("localstripe answers")
        .json()
        .await
        .expect("json")
}

/// The provider's reference of payment `payment_id`'s ledger entry of `kind`
/// (`authorize`: the intent; `capture`: the charge), read by an admin.
pub async fn ledger_ref(app: &TestApp, admin: &str, payment_id: &str, kind: &str) -> String {
    let ledger = json_of(
        app.get(
            &format!("/api/v1/transactions?payment_id={payment_id}"),
            Some(admin),
        )
        .await,
    )
    .await;
    ledger["items"]
        .as_array()
        .and_then(|rows| rows.iter().find(|r| r["kind"] == kind))
        .and_then(|r| r["provider_ref"].as_str())
        .unwrap_or_else(|| panic!("no {kind} entry: {ledger}"))
        .to_owned()
}
