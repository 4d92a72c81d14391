//! `orders_settled` (every order's saga ended, a cancellation with its reason) and
//! `orders_idempotent` (one order per customer and `Idempotency-Key`).

use std::collections::BTreeMap;

use anyhow::Context;
use ordering::domain::OrderStatus;
use platform::db::{Db, query};

use super::Check;
use super::data::Orders;

/// The route whose `Idempotency-Key` places an order; the platform scopes each key
/// to `"<caller> <method> <path>"` (`platform::idempotency`).
const PLACE_ORDER: &str = " POST /api/v1/orders";

/// Every order is settled: confirmed or later, or cancelled with a reason. An order
/// still pending, reserved or authorized is a saga that never ended.
pub(super) fn settled(orders: &Orders) -> Check {
    let mut check = Check::new("orders_settled");
    for (id, order) in &orders.by_id {
        check.examined();
        match order.status() {
            None => check.violation(format!(
                "order {id} has an unknown status {:?}",
                order.status
            )),
            Some(status) if !status.is_settled() => {
                check.violation(format!("order {id} is {status}"));
            }
            Some(OrderStatus::Cancelled)
                if order
                    .cancel_reason
                    .as_deref()
                    .is_none_or(|reason| reason.trim().is_empty()) =>
            {
                check.violation(format!("order {id} is cancelled without a reason"));
            }
            Some(_) => {}
        }
    }
    check
}

/// One stored `Idempotency-Key` of `POST /api/v1/orders`.
struct Key {
    user_id: String,
    key: String,
    /// The order its stored response names (`None`: no order, a refusal or unfinished).
    order_id: Option<String>,
}

/// No two orders for one (customer, idempotency key).
///
/// Each order carries the key it was placed under (unique per customer, written with
/// the order), and ordering's `idempotency_keys` rows carry the answer each key got,
/// which names its order. So: no two orders share a customer and key, and every stored
/// answer names an existing order of that customer placed under that same key. An
/// order whose key's answer was never stored (its process died in between) is not a
/// violation: a retry under the key finds that order instead of placing another.
pub(super) async fn idempotent(db: &Db, orders: &Orders) -> anyhow::Result<Check> {
    let mut check = Check::new("orders_idempotent");
    let placed = placed_under_keys(db).await?;
    let mut by_key: BTreeMap<(&str, &str), Vec<&str>> = BTreeMap::new();
    for (order_id, (user_id, key)) in &placed {
        check.examined();
        by_key
            .entry((user_id.as_str(), key.as_str()))
            .or_default()
            .push(order_id.as_str());
    }
    for ((user_id, key), order_ids) in &by_key {
        if order_ids.len() > 1 {
            check.violation(format!(
                "user {user_id} has {} orders under idempotency key {key:?}: {order_ids:?}",
                order_ids.len()
            ));
        }
    }
    for key in load_keys(db).await? {
        check.examined();
        let Some(order_id) = key.order_id.as_deref() else {
            continue;
        };
        match (orders.by_id.get(order_id), placed.get(order_id)) {
            (None, _) => check.violation(format!(
                "idempotency key {:?} of user {} answered order {order_id}, which does not exist",
                key.key, key.user_id
            )),
            (Some(order), _) if order.user_id != key.user_id => check.violation(format!(
                "idempotency key {:?} of user {} answered order {order_id} of user {}",
                key.key, key.user_id, order.user_id
            )),
            (Some(_), Some((_, placed_key))) if *placed_key != key.key => {
                check.violation(format!(
                    "idempotency key {:?} of user {} answered order {order_id}, placed under key {placed_key:?}",
                    key.key, key.user_id
                ))
            }
            _ => {}
        }
    }
    Ok(check)
}

/// Each order placed under a key: order id → (customer, key).
async fn placed_under_keys(db: &Db) -> anyhow::Result<BTreeMap<String, (String, String)>> {
    let rows =
        query("SELECT id, user_id, idempotency_key FROM orders WHERE idempotency_key IS NOT NULL")
            .fetch_all(db.reader())
            .await
            .context("cannot read the orders' idempotency keys")?;
    let mut placed = BTreeMap::new();
    for row in rows {
        placed.insert(
            row.try_get("id")?,
            (row.try_get("user_id")?, row.try_get("idempotency_key")?),
        );
    }
    Ok(placed)
}

/// Ordering's stored keys of `POST /api/v1/orders`.
async fn load_keys(db: &Db) -> anyhow::Result<Vec<Key>> {
    let pattern = format!("%{}", platform::db::like_escape(PLACE_ORDER));
    let rows = query(
        "SELECT scope, key, status, headers, body FROM idempotency_keys \
         WHERE scope LIKE $1 ESCAPE '\\'",
    )
    .bind(pattern)
    .fetch_all(db.reader())
    .await
    .context("cannot read ordering's idempotency keys")?;
    let mut keys = Vec::with_capacity(rows.len());
    for row in rows {
        let scope: String = row.try_get("scope")?;
        let status: Option<i64> = row.try_get("status")?;
        let headers: Option<String> = row.try_get("headers")?;
        let body: Option<String> = row.try_get("body")?;
        let order_id = match status {
            Some(200..=299) => answered_order(body.as_deref(), headers.as_deref()),
            _ => None,
        };
        keys.push(Key {
            user_id: scope.strip_suffix(PLACE_ORDER).unwrap_or(&scope).to_owned(),
            key: row.try_get("key")?,
            order_id,
        });
    }
    Ok(keys)
}

/// The order a stored success names: its body's `id`, or else its `location`.
fn answered_order(body: Option<&str>, headers: Option<&str>) -> Option<String> {
    let from_body = body
        .and_then(|body| serde_json::from_str::<serde_json::Value>(body).ok())
        .and_then(|body| body.get("id").and_then(|id| id.as_str()).map(str::to_owned));
    from_body.or_else(|| {
        let headers: BTreeMap<String, String> = serde_json::from_str(headers?).ok()?;
        let location = headers.get("location")?;
        location.rsplit('/').next().map(str::to_owned)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stored_answer_names_its_order_by_body_or_location() {
        assert_eq!(
            answered_order(Some(r#"{"id":"o1","status":"confirmed"}"#), None).as_deref(),
            Some("o1")
        );
        assert_eq!(
            answered_order(
                Some("not json"),
                Some(r#"{"location":"/api/v1/orders/o2"}"#)
            )
            .as_deref(),
            Some("o2")
        );
        assert_eq!(answered_order(None, None), None);
    }
}
