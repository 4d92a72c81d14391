//! `viscount verify`: the platform-wide invariants, checked from the services' own
//! databases and the bus, after a run (issue 17): every order settled, none twice for
//! one idempotency key, stock equal to its ledger, money equal to its ledger and to the
//! orders, one shipment per (order, warehouse), one confirmation per confirmed order,
//! no event left unhandled, and every dead letter listed.
//!
//! No service may read another's database (ARCHITECTURE §2), but an operator checking
//! the whole may: this module opens each service's database read-only in spirit (it
//! writes nothing) and joins across them in memory. It reads the tables as their
//! services write them, and takes statuses and names from the services' own domain
//! types, so a renamed status fails to compile here rather than passing unnoticed.
//!
//! The invariants hold for a quiet platform: run it after the load stops and the
//! events drain. Work still in flight (an order waiting for its payment, an event not
//! yet applied) shows as a violation, which is what a checker polling until the
//! platform settles wants to see.
//!
//! Each group of checks has its file: `orders` (settled, idempotent), `stock`, `money`
//! (payments), `shipping` (shipments and confirmations) and `events` (delivery and dead
//! letters). The data they share is read once, in `data`.

mod data;
mod events;
mod money;
mod orders;
mod shipping;
mod stock;

use std::collections::BTreeMap;
use std::fmt::Write as _;

use anyhow::Context;
use platform::db::Db;
use platform::service::ServiceKind;
use serde::Serialize;

pub use events::handled_event_types;

use crate::Storage;

/// At most this many violations are kept per check; the rest are only counted.
pub const MAX_LISTED: usize = 20;

/// What to verify.
#[derive(Debug, Clone)]
pub struct VerifyOptions {
    /// The platform's databases (and, distributed, its NATS server).
    pub storage: Storage,
}

/// The outcome of every check.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// One entry per invariant, in a fixed order.
    pub checks: Vec<Check>,
}

/// One invariant and how it fared.
#[derive(Debug, Clone, Serialize)]
pub struct Check {
    /// Its name, e.g. `orders_settled`.
    pub name: &'static str,
    /// Whether it holds (no violation).
    pub ok: bool,
    /// How many things it looked at (orders, levels, payments, logs...).
    pub checked: u64,
    /// The first [`MAX_LISTED`] violations, each naming its row: `order 01J.. is pending`.
    pub violations: Vec<String>,
    /// How many violations there are in all.
    pub violation_count: u64,
}

impl Check {
    /// A check that has looked at nothing yet.
    pub fn new(name: &'static str) -> Self {
        Self {
            name,
            ok: true,
            checked: 0,
            violations: Vec::new(),
            violation_count: 0,
        }
    }

    /// Counts one more thing looked at.
    pub fn examined(&mut self) {
        self.checked += 1;
    }

    /// Records a violation; past [`MAX_LISTED`] it is only counted.
    pub fn violation(&mut self, text: impl Into<String>) {
        self.ok = false;
        self.violation_count += 1;
        if self.violations.len() < MAX_LISTED {
            self.violations.push(text.into());
        }
    }

    /// Counts `count` violations more that a query only counted (their first ones were
    /// listed through [`Check::violation`]).
    pub fn unlisted(&mut self, count: u64) {
        if count > 0 {
            self.ok = false;
            self.violation_count += count;
        }
    }
}

impl Report {
    /// Whether every check holds.
    pub fn ok(&self) -> bool {
        self.checks.iter().all(|check| check.ok)
    }

    /// The check named `name`, if the report has it.
    pub fn check(&self, name: &str) -> Option<&Check> {
        self.checks.iter().find(|check| check.name == name)
    }

    /// The report for a terminal: one line per check, its violations under it, and a
    /// last line with the verdict.
    pub fn render_text(&self) -> String {
        let width = self
            .checks
            .iter()
            .map(|check| check.name.len())
            .max()
            .unwrap_or(0);
        let mut text = String::new();
        for check in &self.checks {
            let verdict = if check.ok { "ok  " } else { "FAIL" };
            let _ = write!(
                text,
                "{verdict}  {:<width$}  {} checked",
                check.name, check.checked
            );
            if check.violation_count > 0 {
                let _ = write!(text, ", {} violations", check.violation_count);
            }
            text.push('\n');
            for violation in &check.violations {
                let _ = writeln!(text, "        - {violation}");
            }
            let unlisted = check.violation_count - check.violations.len() as u64;
            if unlisted > 0 {
                let _ = writeln!(text, "        ... and {unlisted} more");
            }
        }
        let failed = self.checks.iter().filter(|check| !check.ok).count();
        if failed == 0 {
            let _ = writeln!(text, "every invariant holds ({} checks)", self.checks.len());
        } else {
            let _ = writeln!(text, "{failed} of {} checks failed", self.checks.len());
        }
        text
    }
}

/// Checks every invariant of the platform on `options.storage`.
pub async fn verify(options: &VerifyOptions) -> anyhow::Result<Report> {
    let databases = Databases::open(&options.storage).await?;
    let report = check_all(&databases, &options.storage).await;
    databases.close().await;
    report
}

async fn check_all(databases: &Databases, storage: &Storage) -> anyhow::Result<Report> {
    let orders = data::Orders::load(databases.get(ServiceKind::Ordering)?).await?;
    let reservations = data::Reservations::load(databases.get(ServiceKind::Inventory)?).await?;
    let now = platform::time::now_millis();
    let checks = vec![
        orders::settled(&orders),
        orders::idempotent(databases.get(ServiceKind::Ordering)?, &orders).await?,
        stock::balanced(
            databases.get(ServiceKind::Inventory)?,
            &orders,
            &reservations,
        )
        .await?,
        money::balanced(databases.get(ServiceKind::Payments)?, &orders, now).await?,
        shipping::shipments(
            databases.get(ServiceKind::Fulfillment)?,
            &orders,
            &reservations,
        )
        .await?,
        shipping::confirmations(databases.get(ServiceKind::Notifications)?, &orders).await?,
        events::delivered(databases, storage).await?,
        events::dead_letters(databases).await?,
    ];
    Ok(Report { checks })
}

/// Every backend service's database, opened once for all the checks.
pub(crate) struct Databases {
    by_kind: BTreeMap<ServiceKind, Db>,
}

impl Databases {
    /// Opens each service's database as it is: none is created (a missing one, say
    /// from a mistyped prefix, would be empty and every check would pass on nothing)
    /// and none is migrated (verify writes nothing).
    async fn open(storage: &Storage) -> anyhow::Result<Self> {
        let mut by_kind = BTreeMap::new();
        for kind in ServiceKind::backends() {
            if crate::declaration(kind).is_none() {
                continue;
            }
            if let Storage::Embedded { data_dir } = storage {
                let file = data_dir.join(format!("{kind}.db"));
                anyhow::ensure!(
                    file.exists(),
                    "no {kind} database at {} (is {} the data directory of a platform that ran?)",
                    file.display(),
                    data_dir.display()
                );
            }
            let url = storage.database_url(kind);
            let db = Db::open_existing(&url).await.with_context(|| {
                format!(
                    "cannot open the {kind} database at {}",
                    platform::config::redact_url(&url)
                )
            })?;
            by_kind.insert(kind, db);
        }
        Ok(Self { by_kind })
    }

    /// The database of `kind`.
    fn get(&self, kind: ServiceKind) -> anyhow::Result<&Db> {
        self.by_kind
            .get(&kind)
            .with_context(|| format!("the {kind} database is not open"))
    }

    /// Every open database with its service.
    fn iter(&self) -> impl Iterator<Item = (ServiceKind, &Db)> {
        self.by_kind.iter().map(|(kind, db)| (*kind, db))
    }

    async fn close(&self) {
        for db in self.by_kind.values() {
            db.close().await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_check_lists_its_first_violations_and_counts_them_all() {
        let mut check = Check::new("orders_settled");
        check.examined();
        assert!(check.ok);
        for n in 0..(MAX_LISTED + 5) {
            check.violation(format!("order {n} is pending"));
        }
        assert!(!check.ok);
        assert_eq!(check.violations.len(), MAX_LISTED);
        assert_eq!(check.violation_count, MAX_LISTED as u64 + 5);
        assert_eq!(check.violations[0], "order 0 is pending");
    }

    #[test]
    fn the_text_report_names_each_check_its_violations_and_the_verdict() {
        let mut failing = Check::new("stock_balanced");
        failing.examined();
        failing.violation("sku A at warehouse W: on_hand 9, its ledger sums to 10");
        let mut passing = Check::new("orders_settled");
        passing.examined();
        passing.examined();
        let report = Report {
            checks: vec![passing, failing],
        };
        assert!(!report.ok());
        let text = report.render_text();
        assert!(text.contains("ok    orders_settled  2 checked"), "{text}");
        assert!(
            text.contains("FAIL  stock_balanced  1 checked, 1 violations"),
            "{text}"
        );
        assert!(text.contains("- sku A at warehouse W"), "{text}");
        assert!(text.ends_with("1 of 2 checks failed\n"), "{text}");
        let clean = Report {
            checks: vec![Check::new("dead_letters")],
        };
        assert!(clean.ok());
        assert!(
            clean
                .render_text()
                .ends_with("every invariant holds (1 checks)\n")
        );
        let json = serde_json::to_value(&report).expect("serializes");
        assert_eq!(json["checks"][1]["name"], "stock_balanced");
        assert_eq!(json["checks"][1]["violation_count"], 1);
    }
}
