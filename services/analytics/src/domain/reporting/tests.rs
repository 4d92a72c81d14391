//! Tests of reports and schedules: periods, due times, catching up, states.

use super::*;
use crate::domain::period::DAY;

/// 2026-03-10T00:00:00Z.
const T0: i64 = 1_773_100_800_000;
const MINUTE: i64 = 60_000;

fn schedule(expr: &str, now: i64) -> Schedule {
    Schedule::new(
        "s1".into(),
        Template::SalesSummary,
        Format::Csv,
        CronSchedule::parse(expr).expect("cron"),
        Recipient::try_from("ops@example.com").expect("address"),
        OWN_TENANT.into(),
        now,
    )
}

#[test]
fn the_test_instant_is_midnight() {
    assert_eq!(instant(T0), time::macros::datetime!(2026-03-10 00:00 UTC));
}

#[test]
fn periods_widen_to_whole_hours_and_at_most_a_year() {
    let cases = [
        // (from, to) → (from, to)
        ((T0, T0 + 3 * HOUR), (T0, T0 + 3 * HOUR)),
        ((T0 + 5 * MINUTE, T0 + 6 * MINUTE), (T0, T0 + HOUR)),
        ((T0 + 59 * MINUTE, T0 + HOUR + 1), (T0, T0 + 2 * HOUR)),
        ((T0 + HOUR, T0 + HOUR), (T0 + HOUR, T0 + 2 * HOUR)),
        ((T0 - 400 * DAY, T0), (T0 - MAX_SPAN, T0)),
    ];
    for ((from, to), (want_from, want_to)) in cases {
        assert_eq!(
            covering_hours(Period { from, to }),
            Period {
                from: want_from,
                to: want_to
            },
            "{from}..{to}"
        );
    }
}

#[test]
fn recipients_must_be_addresses() {
    for good in ["ops@example.com", " Ops.Team+x@mail.example.org "] {
        let recipient = Recipient::try_from(good).expect(good);
        assert_eq!(recipient.as_str(), good.trim());
    }
    let long = format!("{}@example.com", "a".repeat(250));
    for bad in [
        "",
        "ops",
        "@example.com",
        "ops@",
        "ops@localhost",
        "ops@.example.com",
        "ops@example.com.",
        "ops@exa..mple.com",
        "o ps@example.com",
        "ops@exa mple.com",
        "a@b@example.com",
        long.as_str(),
    ] {
        assert!(Recipient::try_from(bad).is_err(), "{bad:?}");
    }
}

#[test]
fn a_report_finishes_once() {
    let period = Period {
        from: T0,
        to: T0 + DAY,
    };
    let mut report = Report::requested(
        "r1".into(),
        Template::Payments,
        Format::Pdf,
        OWN_TENANT.into(),
        period,
        T0 + DAY,
    );
    assert_eq!(report.state().as_str(), "pending");
    report.complete(T0 + DAY + 5).expect("pending completes");
    assert_eq!(report.state(), &ReportState::Completed { at: T0 + DAY + 5 });
    assert_eq!(report.complete(T0 + DAY + 6), Err(NotPending("completed")));
    assert_eq!(
        report.fail(T0 + DAY + 6, "late"),
        Err(NotPending("completed"))
    );

    let mut failing = Report::requested(
        "r1".into(),
        Template::Payments,
        Format::Pdf,
        OWN_TENANT.into(),
        period,
        T0,
    );
    failing.fail(T0 + 1, "no data").expect("pending fails");
    assert_eq!(failing.state().error(), Some("no data"));
    assert_eq!(failing.state().completed_at(), Some(T0 + 1));
    assert_eq!(failing.complete(T0 + 2), Err(NotPending("failed")));
}

#[test]
fn stored_states_must_be_whole() {
    assert_eq!(
        ReportState::from_parts("pending", None, None),
        Some(ReportState::Pending)
    );
    assert_eq!(
        ReportState::from_parts("completed", Some(7), None),
        Some(ReportState::Completed { at: 7 })
    );
    assert_eq!(
        ReportState::from_parts("failed", Some(7), Some("why".into())),
        Some(ReportState::Failed {
            at: 7,
            error: "why".into()
        })
    );
    assert_eq!(ReportState::from_parts("completed", None, None), None);
    assert_eq!(ReportState::from_parts("failed", Some(7), None), None);
    assert_eq!(ReportState::from_parts("pending", Some(7), None), None);
    assert_eq!(ReportState::from_parts("running", None, None), None);
}

#[test]
fn file_names_carry_the_last_day_covered() {
    let report = Report::requested(
        "r1".into(),
        Template::SalesSummary,
        Format::Csv,
        OWN_TENANT.into(),
        Period {
            from: T0 - DAY,
            to: T0,
        },
        T0,
    );
    assert_eq!(report.file_name(), "sales_summary-2026-03-09.csv");
    assert_eq!(
        report.download_path(),
        format!("/api/v1/reports/{}/download", report.id)
    );
}

#[test]
fn scheduled_periods_are_floored_to_hours_never_widened() {
    let cases = [
        // (from, to) → (from, to)
        ((T0, T0 + DAY), Some((T0, T0 + DAY))),
        (
            (T0 + 30 * MINUTE, T0 + 6 * HOUR + 30 * MINUTE),
            Some((T0, T0 + 6 * HOUR)),
        ),
        ((T0 + 59 * MINUTE, T0 + HOUR + 1), Some((T0, T0 + HOUR))),
        ((T0 + 5 * MINUTE, T0 + 50 * MINUTE), None),
        ((T0 + HOUR, T0 + HOUR), None),
        ((T0 - 400 * DAY, T0), Some((T0 - MAX_SPAN, T0))),
    ];
    for ((from, to), want) in cases {
        assert_eq!(
            scheduled_hours(Period { from, to }),
            want.map(|(from, to)| Period { from, to }),
            "{from}..{to}"
        );
    }
}

#[test]
fn a_daily_midnight_report_covers_exactly_the_day_before() {
    // Made at 09:15 on the 9th; the poll sees each run 10 s late.
    let mut daily = schedule("0 0 * * *", T0 - DAY + 9 * HOUR + 15 * MINUTE);
    assert_eq!(daily.next_run_at(), T0);
    let first = daily.run(T0 + 10_000, "r1".into()).expect("due");
    let first = first.report.expect("a report");
    assert_eq!(
        first.period,
        Period {
            from: T0 - DAY + 9 * HOUR,
            to: T0
        },
        "since the making, up to the due time, not into today"
    );
    assert_eq!(
        daily.last_run_at(),
        Some(T0),
        "the due time, not the poll's"
    );

    let second = daily.run(T0 + DAY + 10_000, "r2".into()).expect("due");
    let second = second.report.expect("a report");
    assert_eq!(
        second.period,
        Period {
            from: T0,
            to: T0 + DAY
        },
        "24 h, meeting the first report, none of today"
    );
    assert!(second.period.to <= second.requested_at);
    assert_eq!(second.file_name(), "sales_summary-2026-03-10.csv");
}

#[test]
fn a_schedule_runs_when_due_from_its_last_due_time() {
    // Made at 05:30 with a daily 06:00 run.
    let made = T0 + 5 * HOUR + 30 * MINUTE;
    let mut daily = schedule("0 6 * * *", made);
    assert_eq!(daily.next_run_at(), T0 + 6 * HOUR);
    assert!(
        daily.run(T0 + 6 * HOUR - 1, "r".into()).is_none(),
        "not due yet"
    );

    // The poll sees it 10 s late: the first report covers the time since it was
    // made up to the due time, in whole hours.
    let first = daily.run(T0 + 6 * HOUR + 10_000, "r".into()).expect("due");
    assert_eq!(first.was_due_at, T0 + 6 * HOUR);
    let report = first.report.expect("a report");
    assert_eq!(
        report.period,
        Period {
            from: T0 + 5 * HOUR,
            to: T0 + 6 * HOUR
        }
    );
    assert_eq!(report.requested_at, T0 + 6 * HOUR + 10_000);
    assert_eq!(report.schedule_id.as_deref(), Some(daily.id.as_str()));
    assert_eq!(
        report.recipient.as_ref().map(Recipient::as_str),
        Some("ops@example.com")
    );
    assert_eq!(report.state(), &ReportState::Pending);
    assert_eq!(daily.next_run_at(), T0 + DAY + 6 * HOUR);
    assert_eq!(daily.last_run_at(), Some(T0 + 6 * HOUR));
    assert!(daily.run(T0 + 7 * HOUR, "r".into()).is_none(), "ran once");

    // Nothing polled for three days and a bit: one report covers them all, up to
    // the latest due time.
    let late = daily.run(T0 + 4 * DAY + 7 * HOUR, "r".into()).expect("due");
    assert_eq!(late.was_due_at, T0 + DAY + 6 * HOUR);
    assert_eq!(
        late.report.expect("a report").period,
        Period {
            from: T0 + 6 * HOUR,
            to: T0 + 4 * DAY + 6 * HOUR
        }
    );
    assert_eq!(daily.last_run_at(), Some(T0 + 4 * DAY + 6 * HOUR));
    assert_eq!(daily.next_run_at(), T0 + 5 * DAY + 6 * HOUR);
}

#[test]
fn a_schedule_far_behind_catches_up_over_several_runs() {
    let mut minutely = schedule("* * * * *", T0 - MINUTE);
    let now = T0 + DAY;
    let run = minutely.run(now, "r".into()).expect("due");
    let period = run.report.expect("a report").period;
    let folded = T0 + (MAX_FOLDED as i64) * MINUTE;
    assert_eq!(period.to, folded - folded % HOUR);
    assert!(minutely.is_due(now), "the rest at the next poll");
    let rest = minutely.run(now, "r".into()).expect("due");
    assert_eq!(rest.report.expect("a report").period.from, period.to);
    assert_eq!(minutely.last_run_at(), Some(now));
    assert_eq!(minutely.next_run_at(), now + MINUTE);
}

#[test]
fn a_schedule_more_frequent_than_hourly_reports_each_completed_hour() {
    let mut minutely = schedule("* * * * *", T0 + 10_000);
    assert_eq!(minutely.next_run_at(), T0 + MINUTE);
    let run = minutely.run(T0 + MINUTE, "r".into()).expect("due");
    assert_eq!(run.report, None, "no whole hour yet");
    assert_eq!(minutely.last_run_at(), Some(T0 + MINUTE));
    assert_eq!(minutely.next_run_at(), T0 + 2 * MINUTE);

    // The poll next sees it just after 01:00: the hour is complete.
    let run = minutely.run(T0 + HOUR + 5_000, "r".into()).expect("due");
    assert_eq!(
        run.report.expect("a report").period,
        Period {
            from: T0,
            to: T0 + HOUR
        }
    );
    assert_eq!(minutely.next_run_at(), T0 + HOUR + MINUTE);
    let run = minutely.run(T0 + HOUR + MINUTE, "r".into()).expect("due");
    assert_eq!(run.report, None, "the hour is reported once");
}

#[test]
fn own_business_templates_are_not_per_tenant() {
    let per_tenant: Vec<&str> = Template::ALL
        .into_iter()
        .filter(|t| is_per_tenant(*t))
        .map(Template::id)
        .collect();
    assert_eq!(
        per_tenant,
        [
            "sales_summary",
            "revenue_by_channel",
            "attribution_by_model",
            "reconciliation"
        ]
    );
}
