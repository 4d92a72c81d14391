//! What the numbers say: revenue by channel under each attribution model, the
//! reconciliation runs of each tenant (and a new one), and reports with their
//! schedules (generated, downloaded, scheduled by cron, unscheduled).

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use serde::{Deserialize, Serialize};
use serde_json::{Value as Json, json};

use crate::app::{Call, Console};
use crate::domain::format;
use crate::http::forms::{FieldErrors, confirm_page, confirmed};
use crate::http::render::{PageError, PageResult, base, ok, view};
use crate::http::shop::{List, encode, link};
use crate::http::visitor::Visitor;

/// The attribution models.
const MODELS: [&str; 5] = [
    "last_touch",
    "first_touch",
    "linear",
    "time_decay",
    "position_based",
];

/// A period and tenant, as typed (`YYYY-MM-DD`; empty: the API's default).
#[derive(Debug, Default, Deserialize, Serialize)]
pub(super) struct Period {
    #[serde(default)]
    tenant: String,
    #[serde(default)]
    model: String,
    #[serde(default)]
    from: String,
    #[serde(default)]
    to: String,
}

impl Period {
    fn query(&self, with_model: bool) -> String {
        let mut query = form_urlencoded::Serializer::new(String::new());
        for (name, value) in [
            ("tenant", &self.tenant),
            ("from", &self.from),
            ("to", &format::through_day(&self.to)),
        ] {
            if !value.trim().is_empty() {
                query.append_pair(name, value.trim());
            }
        }
        if with_model && MODELS.contains(&self.model.as_str()) {
            query.append_pair("model", &self.model);
        }
        query.finish()
    }
}

/// The field error of a period typed backwards (its last day before its first), which
/// the API, taking the end as exclusive, would run as an empty period.
fn backwards(from: &str, to: &str) -> Option<FieldErrors> {
    format::ends_before_it_starts(from, to).then(|| {
        let mut errors = FieldErrors::default();
        errors.push("to", "must not be before the first day");
        errors
    })
}

/// `GET /admin/revenue?tenant=&model=&from=&to=`.
#[tracing::instrument(skip_all)]
pub(super) async fn revenue(
    State(console): State<Arc<Console>>,
    visitor: Visitor,
    Query(period): Query<Period>,
) -> PageResult {
    visitor.admin()?;
    let (tenants, revenue) = tokio::join!(
        super::tenants(&console, &visitor),
        visitor.send(
            &console,
            Call::get(format!(
                "/api/v1/attribution/revenue/realtime?{}",
                period.query(true)
            ))
        ),
    );
    let (revenue, errors) = match (revenue, backwards(&period.from, &period.to)) {
        (_, Some(errors)) => (Json::Null, errors),
        (Ok(answer), None) => (
            answer.json::<Json>("revenue").map_err(PageError::Api)?,
            FieldErrors::default(),
        ),
        (Err(problem), None) if problem.status == 422 => {
            (Json::Null, FieldErrors::from_problem(&problem, &[]))
        }
        (Err(problem), None) => return Err(visitor.failed(problem)),
    };
    ok(
        "admin/revenue.html",
        view!(base(&visitor); tenants => tenants?, revenue => revenue, period => period,
              models => MODELS, errors => errors),
    )
}

async fn reconciliation_page(
    console: &Console,
    visitor: &Visitor,
    query: &RunQuery,
    form: &Period,
    errors: FieldErrors,
) -> PageResult {
    let runs_path = link(
        "/api/v1/reconciliation/runs",
        &[
            ("limit", "20"),
            ("tenant", &query.tenant),
            ("cursor", &query.runs_cursor),
        ],
    );
    let (tenants, status, runs) = tokio::join!(
        super::tenants(console, visitor),
        visitor.ask::<Json>(
            console,
            Call::get("/api/v1/reconciliation/status"),
            "reconciliation"
        ),
        visitor.ask::<List<Json>>(console, Call::get(runs_path), "runs"),
    );
    let (shown, discrepancies) = if query.run.is_empty() {
        (None, List::default())
    } else {
        let (run, found) = tokio::join!(
            visitor.ask::<Json>(
                console,
                Call::get(format!(
                    "/api/v1/reconciliation/runs/{}",
                    encode(&query.run)
                )),
                "run",
            ),
            visitor.ask::<List<Json>>(
                console,
                Call::get(link(
                    &format!(
                        "/api/v1/reconciliation/runs/{}/discrepancies",
                        encode(&query.run)
                    ),
                    &[("limit", "50"), ("cursor", &query.cursor)],
                )),
                "discrepancies",
            ),
        );
        (Some(run?), found?)
    };
    let (tenants, runs) = (tenants?, runs?);
    // Runs name their tenant by id; people know it by name.
    let names: BTreeMap<&str, &str> = tenants
        .iter()
        .filter_map(|t| Some((t["id"].as_str()?, t["name"].as_str()?)))
        .collect();
    // Each list pages on its own: the next page of one keeps where the other is.
    let at = |runs_cursor: &str, cursor: &str| {
        link(
            "/admin/reconciliation",
            &[
                ("tenant", &query.tenant),
                ("runs_cursor", runs_cursor),
                ("run", &query.run),
                ("cursor", cursor),
            ],
        )
    };
    let next_runs = runs.next_cursor.as_ref().map(|c| at(c, &query.cursor));
    // A run opened from the history keeps the history where it was.
    let keep = link(
        "",
        &[
            ("tenant", &query.tenant),
            ("runs_cursor", &query.runs_cursor),
        ],
    )
    .trim_start_matches('?')
    .to_owned();
    let next_discrepancies = discrepancies
        .next_cursor
        .as_ref()
        .map(|c| at(&query.runs_cursor, c));
    ok(
        "admin/reconciliation.html",
        view!(base(visitor); tenants => tenants, names => names, latest => status?["items"], runs => runs.items,
              next_runs => next_runs, keep => keep, tenant => query.tenant, run => shown,
              discrepancies => discrepancies.items, next_discrepancies => next_discrepancies,
              form => form, errors => errors),
    )
}

/// `GET /admin/reconciliation`: the run shown (`run`, its discrepancies paged by
/// `cursor`) and the history of runs (of `tenant`, paged by `runs_cursor`).
#[derive(Deserialize, Default)]
pub(super) struct RunQuery {
    #[serde(default)]
    run: String,
    #[serde(default)]
    cursor: String,
    #[serde(default)]
    tenant: String,
    #[serde(default)]
    runs_cursor: String,
}

/// `GET /admin/reconciliation?run=&cursor=&tenant=&runs_cursor=`.
#[tracing::instrument(skip_all)]
pub(super) async fn reconciliation(
    State(console): State<Arc<Console>>,
    visitor: Visitor,
    Query(query): Query<RunQuery>,
) -> PageResult {
    visitor.admin()?;
    reconciliation_page(
        &console,
        &visitor,
        &query,
        &Period::default(),
        FieldErrors::default(),
    )
    .await
}

/// `POST /admin/reconciliation`: runs a reconciliation of a tenant's period.
#[tracing::instrument(skip_all)]
pub(super) async fn run_reconciliation(
    State(console): State<Arc<Console>>,
    visitor: Visitor,
    axum::Form(form): axum::Form<Period>,
) -> PageResult {
    visitor.admin()?;
    if let Some(errors) = backwards(&form.from, &form.to) {
        return reconciliation_page(&console, &visitor, &RunQuery::default(), &form, errors).await;
    }
    let body = json!({"tenant": form.tenant, "from": form.from.trim(),
                      "to": format::through_day(&form.to)});
    match visitor
        .submit(&console, Call::post("/api/v1/reconciliation/runs", &body))
        .await?
    {
        Ok(answer) => {
            let run: Json = answer.json("run").map_err(PageError::Api)?;
            let id = run["id"].as_str().unwrap_or_default();
            Ok(Redirect::to(&format!("/admin/reconciliation?run={}", encode(id))).into_response())
        }
        Err(problem) => {
            reconciliation_page(
                &console,
                &visitor,
                &RunQuery::default(),
                &form,
                FieldErrors::from_problem(&problem, &[]),
            )
            .await
        }
    }
}

/// A report or schedule form, as typed.
#[derive(Debug, Default, Deserialize, Serialize)]
pub(super) struct ReportForm {
    #[serde(default)]
    template: String,
    #[serde(default)]
    format: String,
    #[serde(default)]
    from: String,
    #[serde(default)]
    to: String,
    #[serde(default)]
    cron: String,
    #[serde(default)]
    recipient: String,
}

/// Where the reports page is in its two lists: the reports, newest first (`cursor`),
/// and the schedules (`schedules_cursor`).
#[derive(Deserialize, Default)]
pub(super) struct ReportPages {
    #[serde(default)]
    cursor: String,
    #[serde(default)]
    schedules_cursor: String,
}

async fn reports_page(
    console: &Console,
    visitor: &Visitor,
    pages: &ReportPages,
    form: &ReportForm,
    errors: FieldErrors,
    notice: Option<&str>,
) -> PageResult {
    let (templates, reports, schedules) = tokio::join!(
        visitor.ask::<Json>(
            console,
            Call::get("/api/v1/reports/templates"),
            "report templates"
        ),
        visitor.ask::<List<Json>>(
            console,
            Call::get(link(
                "/api/v1/reports",
                &[
                    ("order", "newest"),
                    ("limit", "20"),
                    ("cursor", &pages.cursor)
                ],
            )),
            "reports"
        ),
        visitor.ask::<List<Json>>(
            console,
            Call::get(link(
                "/api/v1/reports/schedules",
                &[("limit", "20"), ("cursor", &pages.schedules_cursor)],
            )),
            "schedules"
        ),
    );
    let (reports, schedules) = (reports?, schedules?);
    // Each list pages on its own: the next page of one keeps where the other is.
    let at = |cursor: &str, schedules_cursor: &str| {
        link(
            "/admin/reports",
            &[("cursor", cursor), ("schedules_cursor", schedules_cursor)],
        )
    };
    let next_reports = reports
        .next_cursor
        .as_ref()
        .map(|c| at(c, &pages.schedules_cursor));
    let next_schedules = schedules.next_cursor.as_ref().map(|c| at(&pages.cursor, c));
    ok(
        "admin/reports.html",
        view!(base(visitor); templates => templates?["items"], reports => reports.items,
              next_reports => next_reports, schedules => schedules.items,
              next_schedules => next_schedules, form => form, errors => errors, notice => notice),
    )
}

/// `GET /admin/reports?cursor=&schedules_cursor=`.
#[tracing::instrument(skip_all)]
pub(super) async fn reports(
    State(console): State<Arc<Console>>,
    visitor: Visitor,
    Query(pages): Query<ReportPages>,
) -> PageResult {
    visitor.admin()?;
    reports_page(
        &console,
        &visitor,
        &pages,
        &ReportForm::default(),
        FieldErrors::default(),
        None,
    )
    .await
}

/// `POST /admin/reports`: generates one.
#[tracing::instrument(skip_all)]
pub(super) async fn generate_report(
    State(console): State<Arc<Console>>,
    visitor: Visitor,
    axum::Form(form): axum::Form<ReportForm>,
) -> PageResult {
    visitor.admin()?;
    if let Some(errors) = backwards(&form.from, &form.to) {
        return reports_page(
            &console,
            &visitor,
            &ReportPages::default(),
            &form,
            errors,
            None,
        )
        .await;
    }
    let mut body = json!({"template": form.template, "format": form.format});
    for (name, value) in [
        ("from", form.from.trim().to_owned()),
        ("to", format::through_day(&form.to)),
    ] {
        if !value.is_empty() {
            body[name] = json!(value);
        }
    }
    match visitor
        .submit(&console, Call::post("/api/v1/reports/generate", &body))
        .await?
    {
        Ok(_) => {
            reports_page(
                &console,
                &visitor,
                &ReportPages::default(),
                &ReportForm::default(),
                FieldErrors::default(),
                Some("The report is being made."),
            )
            .await
        }
        Err(problem) => {
            reports_page(
                &console,
                &visitor,
                &ReportPages::default(),
                &form,
                FieldErrors::from_problem(&problem, &[]),
                None,
            )
            .await
        }
    }
}

/// `POST /admin/reports/schedules`: schedules one by cron.
#[tracing::instrument(skip_all)]
pub(super) async fn schedule_report(
    State(console): State<Arc<Console>>,
    visitor: Visitor,
    axum::Form(form): axum::Form<ReportForm>,
) -> PageResult {
    visitor.admin()?;
    let body = json!({"template": form.template, "format": form.format, "cron": form.cron.trim(),
                      "recipient": form.recipient.trim()});
    match visitor
        .submit(&console, Call::post("/api/v1/reports/schedules", &body))
        .await?
    {
        Ok(_) => {
            reports_page(
                &console,
                &visitor,
                &ReportPages::default(),
                &ReportForm::default(),
                FieldErrors::default(),
                Some("Scheduled."),
            )
            .await
        }
        Err(problem) => {
            reports_page(
                &console,
                &visitor,
                &ReportPages::default(),
                &form,
                FieldErrors::from_problem(&problem, &[]),
                None,
            )
            .await
        }
    }
}

/// `POST /admin/reports/schedules/{id}/delete`, after confirmation.
#[tracing::instrument(skip_all)]
pub(super) async fn unschedule_report(
    State(console): State<Arc<Console>>,
    visitor: Visitor,
    Path(id): Path<String>,
    axum::Form(fields): axum::Form<BTreeMap<String, String>>,
) -> PageResult {
    visitor.admin()?;
    if !confirmed(&fields) {
        return confirm_page(
            &visitor,
            "Stop this schedule?",
            "No more reports are made or sent by it.",
            &format!("/admin/reports/schedules/{}/delete", encode(&id)),
            &fields,
            "Yes, stop it",
            "/admin/reports",
        );
    }
    visitor
        .send(
            &console,
            Call::delete(format!("/api/v1/reports/schedules/{}", encode(&id))),
        )
        .await
        .map_err(|p| visitor.failed(p))?;
    Ok(Redirect::to("/admin/reports").into_response())
}

/// `GET /admin/reports/{id}/download`: the file, fetched with the admin's token.
#[tracing::instrument(skip_all)]
pub(super) async fn download_report(
    State(console): State<Arc<Console>>,
    visitor: Visitor,
    Path(id): Path<String>,
) -> Result<Response, PageError> {
    super::file(
        &console,
        &visitor,
        format!("/api/v1/reports/{}/download", encode(&id)),
    )
    .await
}
