//! Reports end to end on a real SQLite database: a request rendered once in every
//! format, claims between replicas and their lapse, schedules that run once per due
//! time with their ready event staged beside the completed report, and the refusals.

use std::time::Duration;

use contracts::analytics::ReportReady;
use platform::bus::Envelope;
use platform::fence::Fence;
use platform::time::Clock;

use super::{CLAIM_LEASE, ReportFile};
use crate::app::{AnalyticsApp, AnalyticsError};
use crate::config::AnalyticsConfig;
use crate::domain::period::{HOUR, Period};
use crate::domain::report::{Format, Template};
use crate::domain::reporting::{OWN_TENANT, Recipient, Report, ReportState};
use crate::domain::schedule::CronSchedule;
use crate::store::buckets::{self, Totals};
use crate::store::reports::{self as store, ListOrder};

/// The report-schedules job's fence under the lease whose token is `token` (these
/// tests drive the poller directly; the lease itself is `jobs`' business).
fn lease(token: u64) -> Fence {
    Fence::new(crate::app::REPORT_SCHEDULES, token)
}

struct Fixture {
    _db: crate::testing::TestDb,
    app: AnalyticsApp,
    clock: Clock,
}

async fn fixture(config: AnalyticsConfig) -> Fixture {
    let (db, app) = crate::testing::test_app(config).await;
    let clock = app.clock.clone();
    Fixture {
        _db: db,
        app,
        clock,
    }
}

/// Two orders of 25.00 USD for Viscount an hour ago; the period around them.
async fn two_orders(app: &AnalyticsApp) -> Period {
    let at = app.clock.now_millis() - HOUR;
    let mut tx = app.db().begin().await.expect("begin");
    let totals = Totals {
        conversions: 2,
        revenue: 5_000,
        ..Totals::default()
    };
    buckets::add_to_totals(&mut tx, OWN_TENANT, "USD", at, totals)
        .await
        .expect("totals");
    tx.commit().await.expect("commit");
    Period {
        from: at - HOUR,
        to: at + HOUR,
    }
}

async fn ready_events(app: &AnalyticsApp) -> Vec<ReportReady> {
    let bodies: Vec<String> =
        platform::db::query_scalar("SELECT body FROM outbox WHERE event_type = $1 ORDER BY seq")
            .bind("analytics.report.ready.v1")
            .fetch_all(app.db().reader())
            .await
            .expect("outbox");
    bodies
        .iter()
        .map(|body| {
            let envelope: Envelope = serde_json::from_str(body).expect("envelope");
            envelope.decode().expect("report ready")
        })
        .collect()
}

async fn file_of(app: &AnalyticsApp, id: &str) -> Vec<u8> {
    match app.report_file(id).await.expect("report") {
        (_, ReportFile::Ready(bytes)) => bytes,
        (report, ReportFile::NotReady) => panic!("report is {}", report.state().as_str()),
    }
}

#[tokio::test]
async fn a_requested_report_is_rendered_once_in_each_format() {
    let f = fixture(AnalyticsConfig::default()).await;
    let period = two_orders(&f.app).await;
    let mut ids = Vec::new();
    for format in Format::ALL {
        let report = f
            .app
            .request_report(Template::SalesSummary, format, OWN_TENANT, period)
            .await
            .expect("requested");
        assert_eq!(report.state(), &ReportState::Pending);
        assert_eq!(report.period.from % HOUR, 0, "whole hours");
        let (_, file) = f.app.report_file(&report.id).await.expect("report");
        assert_eq!(file, ReportFile::NotReady);
        ids.push(report.id);
    }
    assert_eq!(f.app.render_pending_reports().await.expect("render"), 3);
    assert_eq!(
        f.app.render_pending_reports().await.expect("render"),
        0,
        "once"
    );

    let csv = file_of(&f.app, &ids[0]).await;
    let mut reader = ::csv::Reader::from_reader(csv.as_slice());
    let header: Vec<String> = reader
        .headers()
        .expect("header")
        .iter()
        .map(str::to_owned)
        .collect();
    assert_eq!(
        header,
        [
            "Day",
            "Currency",
            "Orders",
            "Revenue",
            "Refunds",
            "Average order value",
            "Cancelled orders"
        ]
    );
    let rows: Vec<Vec<String>> = reader
        .records()
        .map(|r| r.expect("record").iter().map(str::to_owned).collect())
        .collect();
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0][1..], ["USD", "2", "50.00", "0.00", "25.00", "0"]);

    let json: serde_json::Value =
        serde_json::from_slice(&file_of(&f.app, &ids[1]).await).expect("json");
    assert_eq!(json["title"], "Sales summary");
    assert_eq!(
        json["rows"][0]["Revenue"],
        serde_json::json!({"amount": 5000, "currency": "USD"})
    );

    let pdf = file_of(&f.app, &ids[2]).await;
    assert!(pdf.starts_with(b"%PDF-"));
    assert!(
        ready_events(&f.app).await.is_empty(),
        "an asked-for report is not mailed"
    );
}

#[tokio::test]
async fn every_template_renders_on_an_empty_store() {
    let f = fixture(AnalyticsConfig::default()).await;
    let now = f.clock.now_millis();
    let period = Period {
        from: now - 7 * 24 * HOUR,
        to: now,
    };
    for template in Template::ALL {
        f.app
            .request_report(template, Format::Pdf, OWN_TENANT, period)
            .await
            .expect("requested");
    }
    assert_eq!(
        f.app.render_pending_reports().await.expect("render"),
        Template::ALL.len()
    );
    for report in f
        .app
        .reports(None, None, 100, ListOrder::OldestFirst)
        .await
        .expect("reports")
    {
        assert!(
            matches!(report.state(), ReportState::Completed { .. }),
            "{}: {:?}",
            report.template.id(),
            report.state()
        );
    }
}

#[tokio::test]
async fn a_claimed_report_waits_for_its_replica_until_the_claim_lapses() {
    let f = fixture(AnalyticsConfig::default()).await;
    let period = two_orders(&f.app).await;
    let report = f
        .app
        .request_report(Template::Payments, Format::Csv, OWN_TENANT, period)
        .await
        .expect("requested");
    // Another replica claims it and goes quiet.
    let theirs = f.clock.now_millis();
    assert!(
        store::claim(f.app.db(), &report.id, theirs, theirs - CLAIM_LEASE)
            .await
            .expect("claim")
    );
    assert!(
        !store::claim(f.app.db(), &report.id, theirs, theirs - CLAIM_LEASE)
            .await
            .expect("claim")
    );
    assert_eq!(f.app.render_pending_reports().await.expect("render"), 0);
    assert_eq!(
        f.app.report(&report.id).await.expect("report").state(),
        &ReportState::Pending
    );

    f.clock.advance(Duration::from_millis(
        u64::try_from(CLAIM_LEASE).expect("lease") + 1_000,
    ));
    assert_eq!(
        f.app.render_pending_reports().await.expect("render"),
        1,
        "taken over"
    );
    let done = f.app.report(&report.id).await.expect("report");
    assert!(matches!(done.state(), ReportState::Completed { .. }));

    // The first replica wakes up and tries to fail it under its lapsed claim.
    let mut stale = Report::requested(
        done.id.clone(),
        done.template,
        done.format,
        done.tenant.clone(),
        done.period,
        done.requested_at,
    );
    stale.fail(theirs, "late").expect("pending fails");
    let mut tx = f.app.db().begin().await.expect("begin");
    assert!(
        !store::finish(&mut tx, &stale, theirs, None)
            .await
            .expect("finish")
    );
    drop(tx);
    assert!(matches!(
        f.app.report(&report.id).await.expect("report").state(),
        ReportState::Completed { .. }
    ));
}

#[tokio::test]
async fn a_due_schedule_makes_one_report_and_stages_its_ready_event() {
    let f = fixture(AnalyticsConfig::default()).await;
    two_orders(&f.app).await;
    let schedule = f
        .app
        .create_schedule(
            Template::SalesSummary,
            Format::Csv,
            CronSchedule::parse("* * * * *").expect("cron"),
            Recipient::try_from("ops@example.com").expect("address"),
            OWN_TENANT,
        )
        .await
        .expect("schedule");
    assert!(schedule.next_run_at() > f.clock.now_millis());
    assert_eq!(
        f.app.run_due_schedules_under(&lease(2)).await.expect("run"),
        0,
        "not due yet"
    );

    // The clock passes the next full hour: the minutely schedule's run there
    // completes that hour, the first report's end.
    let now = f.clock.now_millis();
    let hour = now - now % HOUR + HOUR;
    f.clock.advance(Duration::from_millis(
        u64::try_from(hour + 1_000 - now).expect("ahead"),
    ));
    // Two replicas poll at once: one report.
    let other = f.app.clone();
    let (older, newer) = (lease(1), lease(2));
    let (a, b) = tokio::join!(
        f.app.run_due_schedules_under(&older),
        other.run_due_schedules_under(&newer)
    );
    assert_eq!(a.expect("run") + b.expect("run"), 1);
    assert_eq!(
        f.app.run_due_schedules_under(&lease(2)).await.expect("run"),
        0,
        "ran once"
    );

    let after = f.app.schedule(&schedule.id).await.expect("schedule");
    assert!(after.next_run_at() > f.clock.now_millis());
    assert_eq!(
        after.last_run_at(),
        Some(hour),
        "the due time is stored, not the poll's"
    );
    let made = f
        .app
        .reports(Some(&schedule.id), None, 10, ListOrder::OldestFirst)
        .await
        .expect("reports");
    assert_eq!(made.len(), 1);
    assert_eq!(
        made[0].period,
        Period {
            from: schedule.created_at - schedule.created_at % HOUR,
            to: hour,
        },
        "from the schedule's making to the due time, nothing after it"
    );

    assert_eq!(f.app.render_pending_reports().await.expect("render"), 1);
    let events = ready_events(&f.app).await;
    assert_eq!(events.len(), 1);
    let ready = &events[0];
    assert_eq!(ready.report_id, made[0].id);
    assert_eq!(ready.schedule_id.as_deref(), Some(schedule.id.as_str()));
    assert_eq!(ready.recipient, "ops@example.com");
    assert_eq!(ready.template, "sales_summary");
    assert_eq!(ready.title, "Sales summary");
    assert!(ready.file_name.starts_with("sales_summary-") && ready.file_name.ends_with(".csv"));
    assert_eq!(
        ready.download_path,
        format!("/api/v1/reports/{}/download", made[0].id)
    );
    let attached = data_encoding::BASE64
        .decode(
            ready
                .attachment_base64
                .as_deref()
                .expect("attached")
                .as_bytes(),
        )
        .expect("base64");
    assert_eq!(attached, file_of(&f.app, &made[0].id).await);
}

#[tokio::test]
async fn a_report_over_the_attachment_limit_is_linked_not_attached() {
    let f = fixture(AnalyticsConfig {
        report_attachment_limit: 10,
        ..AnalyticsConfig::default()
    })
    .await;
    f.app
        .create_schedule(
            Template::Payments,
            Format::Pdf,
            CronSchedule::parse("@hourly").expect("cron"),
            Recipient::try_from("ops@example.com").expect("address"),
            OWN_TENANT,
        )
        .await
        .expect("schedule");
    f.clock.advance(Duration::from_secs(3_601));
    assert_eq!(
        f.app.run_due_schedules_under(&lease(2)).await.expect("run"),
        1
    );
    assert_eq!(f.app.render_pending_reports().await.expect("render"), 1);
    let events = ready_events(&f.app).await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].attachment_base64, None);
    assert!(events[0].download_path.ends_with("/download"));
}

#[tokio::test]
async fn a_pass_under_a_lease_that_was_taken_over_makes_nothing() {
    let f = fixture(AnalyticsConfig::default()).await;
    let schedule = f
        .app
        .create_schedule(
            Template::SalesSummary,
            Format::Json,
            CronSchedule::parse("@hourly").expect("cron"),
            Recipient::try_from("ops@example.com").expect("address"),
            OWN_TENANT,
        )
        .await
        .expect("schedule");
    // The holder that took the lease over (token 7) has written.
    let mut tx = f.app.db().begin().await.expect("begin");
    assert!(lease(7).admit(&mut tx).await.expect("admit"));
    tx.commit().await.expect("commit");
    f.clock.advance(Duration::from_secs(3_601));
    assert_eq!(
        f.app.run_due_schedules_under(&lease(6)).await.expect("run"),
        0,
        "the paused holder's pass writes nothing"
    );
    let untouched = f.app.schedule(&schedule.id).await.expect("schedule");
    assert_eq!(untouched.last_run_at(), None);
    assert_eq!(
        f.app.run_due_schedules_under(&lease(7)).await.expect("run"),
        1
    );
}

#[tokio::test]
async fn a_deleted_schedule_runs_no_more() {
    let f = fixture(AnalyticsConfig::default()).await;
    let schedule = f
        .app
        .create_schedule(
            Template::Inventory,
            Format::Json,
            CronSchedule::parse("* * * * *").expect("cron"),
            Recipient::try_from("ops@example.com").expect("address"),
            OWN_TENANT,
        )
        .await
        .expect("schedule");
    f.app.delete_schedule(&schedule.id).await.expect("deleted");
    assert!(matches!(
        f.app.delete_schedule(&schedule.id).await,
        Err(AnalyticsError::NotFound("schedule"))
    ));
    f.clock.advance(Duration::from_secs(61));
    assert_eq!(
        f.app.run_due_schedules_under(&lease(2)).await.expect("run"),
        0
    );
}

#[tokio::test]
async fn tenants_are_checked_against_the_template() {
    let f = fixture(AnalyticsConfig::default()).await;
    let now = f.clock.now_millis();
    let period = Period {
        from: now - HOUR,
        to: now,
    };
    let refused = f
        .app
        .request_report(Template::Inventory, Format::Csv, "tenant-1", period)
        .await;
    assert!(
        matches!(&refused, Err(AnalyticsError::Invalid { field, .. }) if field == "tenant"),
        "{refused:?}"
    );
    let unknown = f
        .app
        .request_report(Template::SalesSummary, Format::Csv, "tenant-1", period)
        .await;
    assert!(
        matches!(unknown, Err(AnalyticsError::NotFound("tenant"))),
        "{unknown:?}"
    );
    assert!(
        f.app
            .reports(None, None, 10, ListOrder::OldestFirst)
            .await
            .expect("reports")
            .is_empty(),
        "nothing stored"
    );
}
