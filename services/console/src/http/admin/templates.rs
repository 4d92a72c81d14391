//! Notification templates: the list, editing one, and its live preview (rendered by
//! notifications with its sample data as the admin types, through htmx).

use std::sync::Arc;

use crate::http::render::view;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect};
use serde::{Deserialize, Serialize};
use serde_json::{Value as Json, json};

use crate::app::{Call, Console};
use crate::http::forms::FieldErrors;
use crate::http::render::{PageResult, base, ok};
use crate::http::shop::{List, encode};
use crate::http::visitor::Visitor;

#[derive(Deserialize, Default)]
pub(super) struct ListQuery {
    #[serde(default)]
    cursor: String,
}

/// `GET /admin/templates`.
#[tracing::instrument(skip_all)]
pub(super) async fn list(
    State(console): State<Arc<Console>>,
    visitor: Visitor,
    Query(query): Query<ListQuery>,
) -> PageResult {
    visitor.admin()?;
    let mut path = "/api/v1/notifications/templates?limit=25".to_owned();
    if !query.cursor.is_empty() {
        path.push_str(&format!("&cursor={}", encode(&query.cursor)));
    }
    let templates: List<Json> = visitor.ask(&console, Call::get(path), "templates").await?;
    let next_page = templates
        .next_cursor
        .map(|cursor| format!("/admin/templates?cursor={}", encode(&cursor)));
    ok(
        "admin/templates.html",
        view!(base(&visitor); templates => templates.items, next_page => next_page),
    )
}

/// A template form, as typed.
#[derive(Debug, Default, Deserialize, Serialize)]
pub(super) struct TemplateForm {
    #[serde(default)]
    subject: String,
    #[serde(default)]
    body: String,
    #[serde(default)]
    html: String,
    #[serde(default)]
    category: String,
    #[serde(default)]
    enabled: Option<String>,
}

impl TemplateForm {
    fn of(template: &Json) -> Self {
        TemplateForm {
            subject: template["subject"].as_str().unwrap_or_default().to_owned(),
            body: template["body"].as_str().unwrap_or_default().to_owned(),
            html: template["html"].as_str().unwrap_or_default().to_owned(),
            category: template["category"]
                .as_str()
                .unwrap_or("transactional")
                .to_owned(),
            enabled: template["enabled"]
                .as_bool()
                .unwrap_or(true)
                .then(|| "on".to_owned()),
        }
    }

    fn api_body(&self, channel: &str) -> Json {
        let mut body = json!({
            "body": self.body, "enabled": self.enabled.is_some(),
            "category": if self.category.is_empty() { "transactional" } else { &self.category },
        });
        // Email and push messages have a subject (a push's title); text messages none.
        if channel != "sms" {
            body["subject"] = json!(self.subject);
        }
        if channel == "email" && !self.html.trim().is_empty() {
            body["html"] = json!(self.html);
        }
        body
    }
}

fn channel(id: &str) -> &str {
    id.rsplit_once('.').map_or("", |(_, channel)| channel)
}

async fn template_page(
    console: &Console,
    visitor: &Visitor,
    id: &str,
    form: Option<TemplateForm>,
    errors: FieldErrors,
    notice: Option<&str>,
) -> PageResult {
    let template: Json = visitor
        .ask(
            console,
            Call::get(format!("/api/v1/notifications/templates/{}", encode(id))),
            "template",
        )
        .await?;
    let form = form.unwrap_or_else(|| TemplateForm::of(&template));
    let preview = render_preview(console, visitor, id, &form).await;
    ok(
        "admin/template.html",
        view!(base(visitor); template => template, form => form, errors => errors, notice => notice,
            preview => preview),
    )
}

/// The template rendered with notifications' sample data, or why it does not render.
async fn render_preview(
    console: &Console,
    visitor: &Visitor,
    id: &str,
    form: &TemplateForm,
) -> Json {
    let answer = visitor
        .send(
            console,
            Call::post(
                format!("/api/v1/notifications/templates/{}/preview", encode(id)),
                &form.api_body(channel(id)),
            ),
        )
        .await;
    match answer {
        Ok(answer) => answer.json::<Json>("preview").unwrap_or(Json::Null),
        Err(problem) => json!({
            "error": problem.errors.first().map_or(problem.detail.clone(), |e| format!("{}: {}", e.field, e.message)),
        }),
    }
}

/// `GET /admin/templates/{id}`.
#[tracing::instrument(skip_all)]
pub(super) async fn edit(
    State(console): State<Arc<Console>>,
    visitor: Visitor,
    Path(id): Path<String>,
) -> PageResult {
    visitor.admin()?;
    template_page(&console, &visitor, &id, None, FieldErrors::default(), None).await
}

/// `POST /admin/templates/{id}`: saves it.
#[tracing::instrument(skip_all)]
pub(super) async fn save(
    State(console): State<Arc<Console>>,
    visitor: Visitor,
    Path(id): Path<String>,
    axum::Form(form): axum::Form<TemplateForm>,
) -> PageResult {
    visitor.admin()?;
    let saved = visitor
        .send(
            &console,
            Call::put(
                format!("/api/v1/notifications/templates/{}", encode(&id)),
                &form.api_body(channel(&id)),
            ),
        )
        .await;
    match saved {
        Ok(_) => {
            Ok(Redirect::to(&format!("/admin/templates/{}?saved=1", encode(&id))).into_response())
        }
        Err(problem) if problem.status == 422 => {
            template_page(
                &console,
                &visitor,
                &id,
                Some(form),
                FieldErrors::from_problem(&problem, &[]),
                None,
            )
            .await
        }
        Err(problem) => Err(visitor.failed(problem)),
    }
}

/// `POST /admin/templates/{id}/preview` (htmx, as the admin types): the preview alone.
#[tracing::instrument(skip_all)]
pub(super) async fn preview(
    State(console): State<Arc<Console>>,
    visitor: Visitor,
    Path(id): Path<String>,
    axum::Form(form): axum::Form<TemplateForm>,
) -> PageResult {
    visitor.admin()?;
    let preview = render_preview(&console, &visitor, &id, &form).await;
    ok(
        "admin/preview.html",
        view!(base(&visitor); preview => preview),
    )
}
