//! The report of a `bench ingest` run: accepted webhooks per second, latency per
//! provider and overall, errors by kind, and how PayPal deliveries were signed; as a
//! table in `bench checkout`'s style or as one JSON object.

use contracts::ingestion::Provider;
use serde::Serialize;

use crate::bench::{
    Ordered, Recorder, RunFacts, StepStats, write_errors, write_heading, write_latencies,
    write_rate,
};

/// How the run's PayPal deliveries were signed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct PaypalSigning {
    /// Signed before the clock started.
    pub presigned: u64,
    /// Signed during the run (the pre-signed ones ran out), on the blocking pool.
    pub signed_during_run: u64,
}

/// The figures of a `bench ingest` run, printed as a table or as JSON.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct IngestReport {
    /// The gateway driven.
    pub target: String,
    /// The tenant the bench created.
    pub tenant: String,
    /// Connections that sent.
    pub connections: usize,
    /// The planned run in seconds, warm-up included.
    pub duration_s: f64,
    /// The unrecorded warm-up in seconds.
    pub warmup_s: f64,
    /// The recorded part of the run in seconds.
    pub measured_s: f64,
    /// Whether ctrl-c ended the run early.
    pub interrupted: bool,
    /// Deliveries answered `200` `stored` or `duplicate`.
    pub accepted_webhooks: u64,
    /// Accepted webhooks per second of the measured period.
    pub accepted_per_second: f64,
    /// Accepted as a new event.
    pub stored: u64,
    /// Accepted as a repeat of a stored event.
    pub duplicate: u64,
    /// Latency of every accepted delivery.
    pub overall: StepStats,
    /// Latency of accepted deliveries per provider.
    pub providers: Ordered<StepStats>,
    /// All errors.
    pub errors_total: u64,
    /// Errors by kind, most frequent first.
    pub errors: Ordered<u64>,
    /// How PayPal deliveries were signed.
    pub paypal_signing: PaypalSigning,
}

impl IngestReport {
    /// The report of `recorded` over a run described by `facts`, for `tenant`.
    pub fn new(
        recorded: &Recorder<Provider>,
        facts: &RunFacts,
        tenant: &str,
        paypal_signing: PaypalSigning,
    ) -> Self {
        let accepted = recorded.successes();
        Self {
            target: facts.target.clone(),
            tenant: tenant.to_owned(),
            connections: facts.workers,
            duration_s: facts.duration.as_secs_f64(),
            warmup_s: facts.warmup.as_secs_f64(),
            measured_s: facts.measured.as_secs_f64(),
            interrupted: facts.interrupted,
            accepted_webhooks: accepted,
            accepted_per_second: facts.per_second(accepted),
            stored: recorded.outcome("stored"),
            duplicate: recorded.outcome("duplicate"),
            overall: recorded.overall_stats(),
            providers: recorded.lane_stats(),
            errors_total: recorded.errors().total(),
            errors: recorded.errors().report(),
            paypal_signing,
        }
    }

    /// The report as one line of JSON.
    pub fn json(&self) -> String {
        serde_json::to_string(self).expect("a report is plain numbers and strings")
    }

    /// The report as a human-readable table, in `bench checkout`'s style.
    pub fn table(&self) -> String {
        use std::fmt::Write as _;
        let mut out = String::new();
        write_heading(
            &mut out,
            "bench ingest",
            &format!("{} connections", self.connections),
            self.duration_s,
            self.warmup_s,
            &self.target,
            self.interrupted,
        );
        let detail = if self.duplicate > 0 {
            format!("stored {}, duplicate {}", self.stored, self.duplicate)
        } else {
            format!("stored {}", self.stored)
        };
        write_rate(
            &mut out,
            "accepted webhooks",
            self.accepted_webhooks,
            self.measured_s,
            self.accepted_per_second,
            &detail,
        );
        let _ = writeln!(out);
        let mut rows = self.providers.clone();
        rows.0.push(("all".to_owned(), self.overall.clone()));
        let signing = self.paypal_signing;
        write_latencies(
            &mut out,
            "provider",
            &rows,
            &format!(
                "(accepted deliveries only; tenant {}; PayPal deliveries signed before the \
                 clock {}, during the run {})",
                self.tenant, signing.presigned, signing.signed_during_run
            ),
        );
        let _ = writeln!(out);
        write_errors(&mut out, self.errors_total, &self.errors);
        out
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use serde_json::Value;

    use super::*;
    use crate::bench::ErrorKind;

    fn sample_report() -> IngestReport {
        let start = Instant::now();
        let mut one = Recorder::<Provider>::new(start);
        let mut two = Recorder::<Provider>::new(start);
        for ms in 1..=100 {
            one.latency(Provider::Shopify, start, Duration::from_millis(ms));
            one.succeeded(start, "stored");
        }
        two.latency(Provider::Paypal, start, Duration::from_millis(300));
        two.succeeded(start, "duplicate");
        two.error(start, ErrorKind::Dead(Provider::Woocommerce));
        two.error(start, ErrorKind::Status(Provider::Stripe, 401));
        two.error(start, ErrorKind::Status(Provider::Stripe, 401));
        one.merge(&two);
        IngestReport::new(
            &one,
            &RunFacts {
                target: "http://127.0.0.1:8080".into(),
                workers: 32,
                duration: Duration::from_secs(10),
                warmup: Duration::from_secs(5),
                measured: Duration::from_secs(5),
                interrupted: false,
            },
            "tenant-1",
            PaypalSigning {
                presigned: 500,
                signed_during_run: 3,
            },
        )
    }

    #[test]
    fn the_report_counts_accepted_webhooks_and_latency_per_provider() {
        let report = sample_report();
        assert_eq!(report.accepted_webhooks, 101);
        assert_eq!((report.stored, report.duplicate), (100, 1));
        assert!((report.accepted_per_second - 20.2).abs() < 1e-9);
        let names: Vec<&str> = report.providers.0.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["shopify", "stripe", "paypal", "woocommerce"]);
        assert_eq!(report.providers.0[0].1.count, 100);
        assert!((report.providers.0[0].1.p99_ms - 99.0).abs() < 0.1);
        assert_eq!(report.providers.0[1].1.count, 0);
        assert_eq!(report.overall.count, 101);
        assert!((report.overall.max_ms - 300.0).abs() < 0.5);
        assert_eq!(report.errors_total, 3);
        assert_eq!(
            report.errors.0,
            vec![
                ("stripe HTTP 401".to_owned(), 2),
                ("woocommerce dead-lettered (202)".to_owned(), 1),
            ]
        );
    }

    #[test]
    fn the_table_and_json_show_rates_providers_and_errors() {
        let report = sample_report();
        let table = report.table();
        for expected in [
            "bench ingest: 32 connections, 10s run (5s warm-up) against http://127.0.0.1:8080",
            "accepted webhooks: 101 in 5.0s = 20.20/s (stored 100, duplicate 1)",
            "woocommerce dead-lettered (202)",
            "during the run 3",
            "tenant tenant-1",
        ] {
            assert!(table.contains(expected), "{expected}\n{table}");
        }
        for provider in ["shopify ", "stripe ", "paypal ", "woocommerce ", "all "] {
            assert!(
                table.lines().any(|line| line.starts_with(provider)),
                "{provider}\n{table}"
            );
        }
        let json: Value = serde_json::from_str(&report.json()).expect("JSON");
        assert_eq!(json["accepted_webhooks"], 101);
        assert_eq!(json["providers"]["shopify"]["count"], 100);
        assert_eq!(json["overall"]["count"], 101);
        assert_eq!(json["errors"]["stripe HTTP 401"], 2);
        assert_eq!(json["paypal_signing"]["presigned"], 500);
    }
}
