//! Which public paths each service owns (API.md), and dispatch by that table.
//!
//! Dispatch is by longest path prefix, outside the gateway's own router, so a service's
//! router sees the request exactly as a client sent it: its own route matching, path
//! parameters and metrics labels are untouched by the gateway.

use std::convert::Infallible;

use axum::Router;
use axum::extract::Request;
use axum::response::{IntoResponse, Response};
use futures_util::future::BoxFuture;
use platform::http::{Problem, RouteLabel};
use platform::service::ServiceKind;
use tower::ServiceExt;

/// Path prefixes owned by `kind`; each prefix and everything under it goes there. A
/// `*` segment matches any one segment, so a service can own a sub-resource of another's
/// path (`/api/v1/users/*/notifications` is notifications', `/api/v1/users` identity's).
pub fn public_paths(kind: ServiceKind) -> &'static [&'static str] {
    match kind {
        ServiceKind::Gateway => &[],
        ServiceKind::Coordination => &[
            "/api/v1/services",
            "/api/v1/config",
            "/api/v1/locks",
            "/api/v1/schemas",
        ],
        ServiceKind::Fulfillment => &[
            "/api/v1/shipments",
            "/api/v1/returns",
            "/api/v1/orders/*/shipments",
        ],
        ServiceKind::Notifications => &[
            "/api/v1/notifications",
            "/api/v1/users/*/notifications",
            "/api/v1/users/*/notification-preferences",
            // Seed 003's path of the same preferences.
            "/api/v1/users/*/preferences",
            "/api/v1/admin/webhooks",
        ],
        ServiceKind::Ordering => &["/api/v1/carts", "/api/v1/orders", "/api/v1/users/*/orders"],
        ServiceKind::Ingestion => &[
            "/webhooks",
            "/api/v1/ingestion",
            "/api/v1/tenants/*/sources",
        ],
        ServiceKind::Analytics => &[
            "/api/v1/attribution",
            "/api/v1/reconciliation",
            "/api/v1/export",
            "/api/v1/analytics",
            // Seed 004's paths, served beside ours.
            "/api/attribution",
            "/api/reconciliation",
            "/api/export",
            "/api/v1/reports",
            "/api/v1/dashboards",
        ],
        ServiceKind::Payments => &[
            "/api/v1/payments",
            "/api/v1/payment-methods",
            "/api/v1/transactions",
            "/api/v1/invoices",
            "/api/v1/orders/*/invoices",
            "/api/v1/fraud",
            // Stripe's webhooks about payments (ingestion has the rest of /webhooks).
            "/webhooks/stripe/payments",
        ],
        ServiceKind::Catalog => &["/api/v1/products", "/api/v1/categories"],
        ServiceKind::Inventory => &["/api/v1/inventory", "/api/v1/warehouses"],
        ServiceKind::Support => &["/api/v1/support"],
        ServiceKind::Identity => &[
            "/api/v1/users",
            "/api/v1/auth",
            // Seed 004's paths, served beside ours.
            "/api/auth",
            "/api/v1/api-keys",
            "/api/v1/signing-keys",
            "/api/v1/tenants",
            "/.well-known",
            "/oauth2",
        ],
    }
}

/// The service the gateway sends `path` to: the one owning its most specific prefix.
pub fn owner(path: &str) -> Option<ServiceKind> {
    ServiceKind::all()
        .iter()
        .flat_map(|kind| {
            public_paths(*kind)
                .iter()
                .map(move |prefix| (*kind, *prefix))
        })
        .filter(|(_, prefix)| prefix_matches(prefix, path))
        .max_by_key(|(_, prefix)| (prefix.split('/').count(), prefix.len()))
        .map(|(kind, _)| kind)
}

/// Prefix → service router, the prefix with most segments first (so the more specific
/// of two overlapping prefixes wins).
#[derive(Clone, Default)]
pub(crate) struct RouteTable {
    entries: Vec<(&'static str, Router)>,
}

impl RouteTable {
    /// Routes every public path of `kind` to `target`.
    pub(crate) fn add(&mut self, kind: ServiceKind, target: Router) {
        for prefix in public_paths(kind) {
            self.entries.push((prefix, target.clone()));
        }
        self.entries.sort_by_key(|(prefix, _)| {
            std::cmp::Reverse((prefix.split('/').count(), prefix.len()))
        });
    }

    fn find(&self, path: &str) -> Option<&(&'static str, Router)> {
        self.entries
            .iter()
            .find(|(prefix, _)| prefix_matches(prefix, path))
    }

    /// The table as the gateway's fallback service.
    pub(crate) fn into_service(
        self,
    ) -> impl tower::Service<
        Request,
        Response = Response,
        Error = Infallible,
        Future = BoxFuture<'static, Result<Response, Infallible>>,
    > + Clone
    + Send
    + 'static {
        tower::service_fn(move |request: Request| {
            let target = self.find(request.uri().path()).cloned();
            Box::pin(async move {
                Ok(match target {
                    Some((prefix, router)) => {
                        let mut response = router.oneshot(request).await.into_response();
                        response.extensions_mut().insert(RouteLabel(prefix));
                        response
                    }
                    None => Problem::not_found("resource").into_response(),
                })
            }) as BoxFuture<'static, Result<Response, Infallible>>
        })
    }
}

/// Whether `path` is `prefix` or under it, segment by segment (`*` matches any one
/// non-empty segment).
fn prefix_matches(prefix: &str, path: &str) -> bool {
    let mut path_segments = path.split('/');
    prefix.split('/').all(|expected| {
        path_segments
            .next()
            .is_some_and(|actual| actual == expected || (expected == "*" && !actual.is_empty()))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_match_whole_segments_only() {
        let mut table = RouteTable::default();
        table.add(ServiceKind::Identity, Router::new());
        assert!(table.find("/api/v1/users").is_some());
        assert!(table.find("/api/v1/users/me").is_some());
        assert!(table.find("/.well-known/jwks.json").is_some());
        assert!(table.find("/api/v1/tenants/t1").is_some());
        assert!(table.find("/api/v1/usersx").is_none());
        assert!(table.find("/api/v1/products").is_none());
    }

    #[test]
    fn a_wildcard_sub_resource_beats_the_shorter_prefix() {
        let mut table = RouteTable::default();
        table.add(ServiceKind::Identity, Router::new());
        table.add(ServiceKind::Notifications, Router::new());
        table.add(ServiceKind::Ordering, Router::new());
        table.add(ServiceKind::Fulfillment, Router::new());
        let owner = |path: &str| table.find(path).map(|(prefix, _)| *prefix);
        assert_eq!(
            owner("/api/v1/users/u1/notifications"),
            Some("/api/v1/users/*/notifications")
        );
        assert_eq!(
            owner("/api/v1/users/u1/notification-preferences"),
            Some("/api/v1/users/*/notification-preferences")
        );
        assert_eq!(owner("/api/v1/users/u1"), Some("/api/v1/users"));
        assert_eq!(owner("/api/v1/users/u1/sessions"), Some("/api/v1/users"));
        assert_eq!(owner("/api/v1/users//notifications"), Some("/api/v1/users"));
        assert_eq!(
            owner("/api/v1/orders/o1/shipments"),
            Some("/api/v1/orders/*/shipments")
        );
        assert_eq!(owner("/api/v1/orders/o1/history"), Some("/api/v1/orders"));
        assert_eq!(owner("/api/v1/orders"), Some("/api/v1/orders"));
    }
}
