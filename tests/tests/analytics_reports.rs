//! Analytics' reports through the gateway, in both shapes: every template in every
//! format generated in the background and downloaded (CSV with its header, JSON,
//! PDF), Viscount's own checkouts in the payments, sales and inventory reports, a
//! schedule whose report reaches its recipient at the test SMTP server with the file
//! attached, 409 while a report is pending, 422 naming each bad field, and admins only.

use std::time::Duration;

use analytics::domain::period::{DAY, HOUR, Period};
use analytics::domain::report::{Format, Template};
use analytics::domain::reporting::Report;
use platform::config::ConfigSource;
use serde_json::{Value, json};
use viscount_tests::in_both_shapes;
use viscount_tests::shop::*;
use viscount_tests::smtp::{ReceivedMail, SmtpServer};
use viscount_tests::{
    Shape, TestApp, TestUser, assert_problem, both_shapes, error_fields, eventually, spawn_app_with,
};

in_both_shapes!(a_scheduled_report_reaches_its_recipient_with_the_file_attached);

/// How long a report may take to be rendered in a test.
const RENDERED: Duration = Duration::from_secs(60);

/// A short unique suffix.
fn unique() -> String {
    uuid::Uuid::now_v7().simple().to_string()[20..].to_owned()
}

/// Asks for a report and waits until it is completed; its final view.
async fn generated(app: &TestApp, admin: &TestUser, body: &Value) -> Value {
    let response = app
        .post("/api/v1/reports/generate", Some(&admin.access), body)
        .await;
    assert_eq!(response.status(), 202, "generate {body}");
    let location = response
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .expect("location")
        .to_owned();
    let accepted = json_of(response).await;
    assert_eq!(
        location,
        format!("/api/v1/reports/{}", accepted["id"].as_str().expect("id"))
    );
    assert!(
        ["pending", "completed"].contains(&accepted["status"].as_str().unwrap_or("")),
        "{accepted}"
    );
    // Rendering is in the background; on a loaded machine (the distributed shape's
    // database shared with other tests) a report can take longer than a saga.
    let report = eventually(RENDERED, &format!("report {body}"), || async {
        let report = json_of(app.get(&location, Some(&admin.access)).await).await;
        (report["status"] != "pending").then_some(report)
    })
    .await;
    assert_eq!(report["status"], "completed", "{report}");
    assert_eq!(report["template"], body["template"]);
    assert_eq!(report["format"], body["format"]);
    report
}

/// Downloads a completed report; its content type, file name and bytes.
async fn download(app: &TestApp, admin: &TestUser, report: &Value) -> (String, String, Vec<u8>) {
    let path = report["download"].as_str().expect("download link");
    assert_eq!(
        path,
        format!(
            "/api/v1/reports/{}/download",
            report["id"].as_str().expect("id")
        )
    );
    let response = app.get(path, Some(&admin.access)).await;
    assert_eq!(response.status(), 200, "download {path}");
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned()
    };
    let content_type = header("content-type");
    let disposition = header("content-disposition");
    let file_name = disposition
        .strip_prefix("attachment; filename=\"")
        .and_then(|rest| rest.strip_suffix('"'))
        .unwrap_or_else(|| panic!("not an attachment: {disposition}"))
        .to_owned();
    let bytes = response.bytes().await.expect("body").to_vec();
    (content_type, file_name, bytes)
}

/// A CSV file's header and records.
fn csv_of(bytes: &[u8]) -> (Vec<String>, Vec<Vec<String>>) {
    let mut reader = ::csv::Reader::from_reader(bytes);
    let header = reader
        .headers()
        .expect("a header row")
        .iter()
        .map(str::to_owned)
        .collect();
    let records = reader
        .records()
        .map(|r| r.expect("a record").iter().map(str::to_owned).collect())
        .collect();
    (header, records)
}

/// The value of `column` in `row` under `header`.
fn cell<'a>(header: &[String], row: &'a [String], column: &str) -> &'a str {
    let index = header
        .iter()
        .position(|c| c == column)
        .unwrap_or_else(|| panic!("no column {column} in {header:?}"));
    &row[index]
}

/// One approved and one declined checkout of `sku`; waits until analytics counted
/// both payments and the units sold.
async fn two_checkouts(app: &TestApp, admin: &TestUser, sku: &str) {
    stocked(app, admin, sku, 1250, 10).await;
    let buyer = app.user("reports").await;
    let placed = json_of(order(app, &buyer, &items_order(sku, 2, APPROVE)).await).await;
    assert_eq!(placed["status"], "confirmed", "{placed}");
    let declined = json_of(order(app, &buyer, &items_order(sku, 1, DECLINE)).await).await;
    assert_eq!(declined["status"], "cancelled", "{declined}");
    until(
        app,
        &admin.access,
        "/api/v1/analytics/kpis",
        "both payments and the units sold in the KPIs",
        |k| k["payments_authorized"] == 1 && k["payments_failed"] == 1 && k["units_sold"] == 2,
    )
    .await;
}

both_shapes! {
    async fn every_template_is_generated_in_every_format_and_downloaded(app) {
        let admin = app.admin().await;
        two_checkouts(&app, &admin, &format!("RPT-{}", unique())).await;

        let listed = json_of(app.get("/api/v1/reports/templates", Some(&admin.access)).await).await;
        let ids: Vec<&str> = listed["items"]
            .as_array()
            .expect("items")
            .iter()
            .map(|t| {
                assert!(t["name"].is_string() && t["description"].is_string(), "{t}");
                t["id"].as_str().expect("id")
            })
            .collect();
        assert_eq!(
            ids,
            ["sales_summary", "revenue_by_channel", "attribution_by_model", "reconciliation", "inventory", "payments"]
        );

        for template in ids {
            for format in ["csv", "json", "pdf"] {
                let report = generated(&app, &admin, &json!({"template": template, "format": format})).await;
                assert_eq!(report["tenant"], "viscount");
                assert!(report["completed_at"].is_string() && report.get("error").is_none(), "{report}");
                let (content_type, file_name, bytes) = download(&app, &admin, &report).await;
                assert!(file_name.starts_with(&format!("{template}-")), "{file_name}");
                assert!(file_name.ends_with(&format!(".{format}")), "{file_name}");
                match format {
                    "csv" => {
                        assert!(content_type.starts_with("text/csv"), "{content_type}");
                        let (header, rows) = csv_of(&bytes);
                        assert!(!header.is_empty());
                        for row in &rows {
                            assert_eq!(row.len(), header.len(), "{template}: {row:?}");
                        }
                        match template {
                            "payments" => {
                                let today = rows
                                    .iter()
                                    .find(|r| cell(&header, r, "Payments failed") == "1")
                                    .unwrap_or_else(|| panic!("the declined card's day in {rows:?}"));
                                assert_eq!(cell(&header, today, "Payments authorized"), "1");
                                assert_eq!(cell(&header, today, "Success rate"), "50.00%");
                            }
                            "sales_summary" => {
                                assert!(
                                    rows.iter().any(|r| cell(&header, r, "Cancelled orders") == "1"),
                                    "the declined checkout's cancellation in {rows:?}"
                                );
                            }
                            "inventory" => {
                                let total = rows.last().expect("the total row");
                                assert_eq!(cell(&header, total, "SKU"), "All SKUs");
                                assert_eq!(cell(&header, total, "Units sold"), "2");
                            }
                            _ => {}
                        }
                    }
                    "json" => {
                        assert!(content_type.starts_with("application/json"), "{content_type}");
                        let document: Value = serde_json::from_slice(&bytes).expect("json parses");
                        assert!(document["title"].is_string() && document["rows"].is_array(), "{document}");
                        assert!(document["columns"].as_array().is_some_and(|c| !c.is_empty()));
                    }
                    _ => {
                        assert_eq!(content_type, "application/pdf");
                        assert!(bytes.starts_with(b"%PDF-"), "{template} pdf");
                    }
                }
            }
        }

        let all = json_of(app.get("/api/v1/reports?limit=100", Some(&admin.access)).await).await;
        assert_eq!(all["items"].as_array().map(Vec::len), Some(18));
        // Newest first, a page at a time: the same reports the other way round.
        let ids = |page: &Value| -> Vec<String> {
            page["items"].as_array().expect("items").iter().map(|r| r["id"].as_str().expect("id").to_owned()).collect()
        };
        let mut newest_first = Vec::new();
        let mut path = "/api/v1/reports?order=newest&limit=7".to_owned();
        loop {
            let page = json_of(app.get(&path, Some(&admin.access)).await).await;
            newest_first.extend(ids(&page));
            match page["next_cursor"].as_str() {
                Some(cursor) => path = format!("/api/v1/reports?order=newest&limit=7&cursor={cursor}"),
                None => break,
            }
        }
        let mut oldest_first = ids(&all);
        oldest_first.reverse();
        assert_eq!(newest_first, oldest_first);
        assert_problem(app.get("/api/v1/reports?order=sideways", Some(&admin.access)).await, 422).await;
    }

    async fn a_pending_report_cannot_be_downloaded_yet(app) {
        let admin = app.admin().await;
        // A report another replica has claimed and is still rendering: stored pending
        // with a fresh claim, so this process's worker leaves it alone.
        let analytics = app.analytics().app();
        let now = app.clock.now_millis();
        let report = Report::requested(
            platform::ids::new_id(),
            Template::Payments,
            Format::Csv,
            "viscount".into(),
            Period { from: now - DAY, to: now },
            now,
        );
        let mut tx = analytics.db().begin().await.expect("begin");
        analytics::store::reports::insert_report(&mut tx, &report).await.expect("insert");
        platform::db::query("UPDATE reports SET claimed_at = $1 WHERE id = $2")
            .bind(now)
            .bind(&report.id)
            .execute(&mut *tx)
            .await
            .expect("claim");
        tx.commit().await.expect("commit");

        let path = format!("/api/v1/reports/{}", report.id);
        let view = json_of(app.get(&path, Some(&admin.access)).await).await;
        assert_eq!(view["status"], "pending");
        assert!(view.get("download").is_none() && view["completed_at"].is_null(), "{view}");
        assert_eq!(view["from"], platform::time::rfc3339(report.period.from));
        let response = app.get(&format!("{path}/download"), Some(&admin.access)).await;
        assert!(response.headers().contains_key("retry-after"));
        let problem = assert_problem(response, 409).await;
        assert!(problem["type"].as_str().is_some_and(|t| t.contains("report-pending")), "{problem}");

        assert_problem(app.get("/api/v1/reports/not-a-report", Some(&admin.access)).await, 404).await;
        let unknown = format!("/api/v1/reports/{}/download", platform::ids::new_id());
        assert_problem(app.get(&unknown, Some(&admin.access)).await, 404).await;
    }

    async fn bad_requests_are_refused_naming_the_field(app) {
        let admin = app.admin().await;
        let token = Some(admin.access.as_str());
        let both = assert_problem(
            app.post("/api/v1/reports/generate", token, &json!({"template": "weekly", "format": "xls"})).await,
            422,
        )
        .await;
        assert_eq!(error_fields(&both), ["template", "format"]);
        for (body, field) in [
            (json!({"template": "payments", "format": "xml"}), "format"),
            (json!({"template": "sales", "format": "csv"}), "template"),
            (json!({"template": "payments", "format": "csv", "from": "2026-03-10", "to": "2026-03-01"}), "from"),
            (json!({"template": "payments", "format": "csv", "from": "yesterday"}), "from"),
            (json!({"template": "payments", "format": "csv", "from": "2020-01-01", "to": "2026-01-01"}), "to"),
            (json!({"template": "inventory", "format": "csv", "tenant": "some-shop"}), "tenant"),
        ] {
            let problem = assert_problem(app.post("/api/v1/reports/generate", token, &body).await, 422).await;
            assert_eq!(error_fields(&problem), [field], "{body}");
        }
        assert_problem(
            app.post(
                "/api/v1/reports/generate",
                token,
                &json!({"template": "sales_summary", "format": "csv", "tenant": platform::ids::new_id()}),
            )
            .await,
            404,
        )
        .await;

        let schedule = |cron: &str, recipient: &str| {
            json!({"template": "sales_summary", "format": "csv", "cron": cron, "recipient": recipient})
        };
        for (body, fields) in [
            (schedule("61 * * * *", "ops@example.com"), vec!["cron"]),
            (schedule("0 6 * *", "ops@example.com"), vec!["cron"]),
            (schedule("0 0 30 2 *", "ops@example.com"), vec!["cron"]),
            (schedule("@daily", "ops"), vec!["recipient"]),
            (schedule("every day", "ops at example.com"), vec!["cron", "recipient"]),
            (
                json!({"template": "nope", "format": "doc", "cron": "@daily", "recipient": "ops@example.com"}),
                vec!["template", "format"],
            ),
        ] {
            let problem = assert_problem(app.post("/api/v1/reports/schedule", token, &body).await, 422).await;
            assert_eq!(error_fields(&problem), fields, "{body}");
        }
        let listed = json_of(app.get("/api/v1/reports/schedules", token).await).await;
        assert_eq!(listed["items"].as_array().map(Vec::len), Some(0), "nothing half-written");
        let reports = json_of(app.get("/api/v1/reports", token).await).await;
        assert_eq!(reports["items"].as_array().map(Vec::len), Some(0), "nothing half-written");
    }

    async fn only_admins_may_use_reports(app) {
        let customer = app.user("customer").await;
        let token = Some(customer.access.as_str());
        assert_problem(app.get("/api/v1/reports/templates", token).await, 403).await;
        assert_problem(
            app.post("/api/v1/reports/generate", token, &json!({"template": "payments", "format": "csv"})).await,
            403,
        )
        .await;
        assert_problem(
            app.post(
                "/api/v1/reports/schedule",
                token,
                &json!({"template": "payments", "format": "csv", "cron": "@daily", "recipient": "me@example.com"}),
            )
            .await,
            403,
        )
        .await;
        assert_problem(app.get("/api/v1/reports/schedules", token).await, 403).await;
        assert_problem(app.get("/api/v1/reports", token).await, 403).await;
        assert_problem(app.get("/api/v1/reports/templates", None).await, 401).await;
    }
}

/// The first attachment of `mail`: its file name and decoded bytes.
fn attachment(mail: &ReceivedMail) -> (String, Vec<u8>) {
    let data = &mail.data;
    let lower = data.to_ascii_lowercase();
    let at = lower
        .find("content-disposition: attachment")
        .unwrap_or_else(|| panic!("no attachment in {data}"));
    // The part starts after the boundary line before its headers.
    let start = data[..at].rfind("\r\n--").map_or(0, |i| i + 2);
    let part = &data[start..];
    let part = &part[part.find("\r\n").map_or(0, |i| i + 2)..];
    let (headers, rest) = part.split_once("\r\n\r\n").expect("part headers");
    let body = rest.split("\r\n--").next().unwrap_or("");
    let unfolded = headers.replace("\r\n ", " ").replace("\r\n\t", " ");
    let header = |name: &str| {
        unfolded
            .split("\r\n")
            .find_map(|line| {
                let (key, value) = line.split_once(':')?;
                key.trim()
                    .eq_ignore_ascii_case(name)
                    .then(|| value.trim().to_owned())
            })
            .unwrap_or_default()
    };
    let disposition = header("content-disposition");
    let file_name = disposition
        .split(';')
        .find_map(|p| p.trim().strip_prefix("filename="))
        .map(|n| n.trim_matches('"').to_owned())
        .unwrap_or_else(|| panic!("no file name in {disposition}"));
    let bytes = match header("content-transfer-encoding")
        .to_ascii_lowercase()
        .as_str()
    {
        "base64" => {
            let compact: String = body.chars().filter(|c| !c.is_whitespace()).collect();
            data_encoding::BASE64
                .decode(compact.as_bytes())
                .expect("base64 attachment")
        }
        "quoted-printable" => quoted_printable(body),
        _ => body.as_bytes().to_vec(),
    };
    (file_name, bytes)
}

fn quoted_printable(body: &str) -> Vec<u8> {
    let joined = body.replace("=\r\n", "");
    let bytes = joined.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok());
        match hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
            Some(byte) if bytes[i] == b'=' => {
                out.push(byte);
                i += 3;
            }
            _ => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    out
}

async fn a_scheduled_report_reaches_its_recipient_with_the_file_attached(shape: Shape) {
    let smtp = SmtpServer::start().await;
    let mut vars = smtp.config_vars();
    vars.push(("VISCOUNT_ANALYTICS__REPORT_POLL_SECS".into(), "1".into()));
    vars.push((
        "VISCOUNT_NOTIFICATIONS__POLL_INTERVAL_MS".into(),
        "100".into(),
    ));
    let config = ConfigSource::from_parts("", vars).expect("config");
    let Some(app) = spawn_app_with(shape, config).await else {
        return;
    };
    let admin = app.admin().await;
    let recipient = format!("reports-{}@example.com", unique());
    let response = app
        .post(
            "/api/v1/reports/schedule",
            Some(&admin.access),
            &json!({"template": "sales_summary", "format": "csv", "cron": "@hourly", "recipient": recipient}),
        )
        .await;
    assert_eq!(response.status(), 201);
    let location = response
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .expect("location")
        .to_owned();
    let schedule = json_of(response).await;
    let id = schedule["id"].as_str().expect("id").to_owned();
    assert_eq!(location, format!("/api/v1/reports/schedules/{id}"));
    assert_eq!(schedule["cron"], "@hourly");
    assert_eq!(schedule["recipient"], recipient.as_str());
    assert_eq!(schedule["tenant"], "viscount");
    let next = schedule["next_run_at"].as_str().expect("next run");
    let next = platform::time::parse_rfc3339(next).expect("a time");
    let now = app.clock.now_millis();
    assert!(
        next > now && next <= now + HOUR,
        "within the hour: {schedule}"
    );
    let listed = json_of(
        app.get("/api/v1/reports/schedules", Some(&admin.access))
            .await,
    )
    .await;
    assert_eq!(listed["items"][0]["id"], id.as_str());

    // The clock reaches the next full hour: the schedule is due at the next poll (once:
    // its following run is an hour later). Access tokens do not last that long.
    let wait = u64::try_from(next - now + 1_000).expect("ahead");
    app.clock.advance(Duration::from_millis(wait));
    let admin = app.admin().await;
    let mail = smtp
        .wait_for(
            SETTLE + SETTLE,
            &format!("the sales summary to {recipient}"),
            |m| {
                m.to.contains(&recipient)
                    && m.subject().is_some_and(|s| s.contains("Sales summary"))
            },
        )
        .await;
    let (file_name, attached) = attachment(&mail);
    assert!(
        file_name.starts_with("sales_summary-") && file_name.ends_with(".csv"),
        "{file_name}"
    );
    let (header, rows) = csv_of(&attached);
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

    // The report the schedule made is the one mailed, and it ran once.
    let made = json_of(
        app.get(
            &format!("/api/v1/reports?schedule={id}"),
            Some(&admin.access),
        )
        .await,
    )
    .await;
    let items = made["items"].as_array().expect("items");
    assert_eq!(items.len(), 1, "{made}");
    assert_eq!(items[0]["schedule_id"], id.as_str());
    let (_, downloaded_name, downloaded) = download(&app, &admin, &items[0]).await;
    assert_eq!(downloaded_name, file_name);
    assert_eq!(csv_of(&downloaded), (header, rows));
    let from =
        platform::time::parse_rfc3339(items[0]["from"].as_str().expect("from")).expect("time");
    let created = platform::time::parse_rfc3339(schedule["created_at"].as_str().expect("created"))
        .expect("time");
    assert_eq!(
        from,
        created - created.rem_euclid(HOUR),
        "since the schedule was made, in whole hours"
    );
    let after = json_of(app.get(&location, Some(&admin.access)).await).await;
    assert!(after["last_run_at"].is_string(), "{after}");
    assert!(
        platform::time::parse_rfc3339(after["next_run_at"].as_str().expect("next")).expect("time")
            > next
    );

    assert_eq!(app.delete(&location, &admin.access).await.status(), 204);
    assert_problem(app.get(&location, Some(&admin.access)).await, 404).await;
    assert_problem(app.delete(&location, &admin.access).await, 404).await;
    assert_eq!(smtp.mails_to(&recipient).len(), 1, "one mail per run");
}
