//! The one list of Viscount services: what a process runs and what the bus names.

use std::fmt;
use std::str::FromStr;

/// A Viscount service. `viscount up` runs [`ServiceKind::all`]; `viscount serve <kind>`
/// runs one. Adding a service starts here.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ServiceKind {
    /// The public entry point.
    Gateway,
    /// The service registry, health aggregation, live configuration, locks and the
    /// event schema registry.
    Coordination,
    /// Users, sessions, tokens, API keys.
    Identity,
    /// Products, categories, search.
    Catalog,
    /// Warehouses, stock, reservations.
    Inventory,
    /// Carts, orders, the checkout saga.
    Ordering,
    /// Payments, refunds, the transaction ledger, saved cards.
    Payments,
    /// Shipments, labels, carrier tracking, returns.
    Fulfillment,
    /// Templates, channels (email, SMS, push), preferences, delivery status.
    Notifications,
    /// Tenants' sources, webhooks from external storefronts and payment providers,
    /// dead letters, touchpoints.
    Ingestion,
    /// The revenue ledger, attribution, reconciliation, export, KPIs, reports.
    Analytics,
    /// Customer tickets and the knowledge base.
    Support,
}

impl ServiceKind {
    /// Every service, in start order (the gateway last, in front of the others).
    pub fn all() -> &'static [ServiceKind] {
        &[
            ServiceKind::Identity,
            ServiceKind::Coordination,
            ServiceKind::Catalog,
            ServiceKind::Inventory,
            ServiceKind::Payments,
            ServiceKind::Ordering,
            ServiceKind::Fulfillment,
            ServiceKind::Notifications,
            ServiceKind::Ingestion,
            ServiceKind::Analytics,
            ServiceKind::Support,
            ServiceKind::Gateway,
        ]
    }

    /// Every service that owns data and an API behind the gateway.
    pub fn backends() -> impl Iterator<Item = ServiceKind> {
        Self::all()
            .iter()
            .copied()
            .filter(|k| *k != ServiceKind::Gateway)
    }

    /// The lowercase name used in URLs, config sections, database and stream names.
    pub fn as_str(self) -> &'static str {
        match self {
            ServiceKind::Gateway => "gateway",
            ServiceKind::Coordination => "coordination",
            ServiceKind::Identity => "identity",
            ServiceKind::Catalog => "catalog",
            ServiceKind::Inventory => "inventory",
            ServiceKind::Ordering => "ordering",
            ServiceKind::Payments => "payments",
            ServiceKind::Fulfillment => "fulfillment",
            ServiceKind::Notifications => "notifications",
            ServiceKind::Ingestion => "ingestion",
            ServiceKind::Analytics => "analytics",
            ServiceKind::Support => "support",
        }
    }

    /// The port the service listens on by default when run alone.
    pub fn default_port(self) -> u16 {
        match self {
            ServiceKind::Gateway => 8080,
            ServiceKind::Coordination => 8081,
            ServiceKind::Identity => 8087,
            ServiceKind::Catalog => 8082,
            ServiceKind::Inventory => 8083,
            ServiceKind::Ordering => 8084,
            ServiceKind::Payments => 8088,
            ServiceKind::Fulfillment => 8085,
            ServiceKind::Notifications => 8086,
            ServiceKind::Ingestion => 8090,
            ServiceKind::Analytics => 8089,
            ServiceKind::Support => 8091,
        }
    }
}

impl fmt::Display for ServiceKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The name given is not a Viscount service.
#[derive(Debug, thiserror::Error)]
#[error("unknown service `{0}`")]
pub struct UnknownService(pub String);

impl FromStr for ServiceKind {
    type Err = UnknownService;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::all()
            .iter()
            .copied()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| UnknownService(s.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for kind in ServiceKind::all() {
            assert_eq!(kind.as_str().parse::<ServiceKind>().ok(), Some(*kind));
        }
        assert!("billing".parse::<ServiceKind>().is_err());
    }
}
