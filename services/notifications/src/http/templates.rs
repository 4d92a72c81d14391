//! Templates for admins: the list, one template, an edit (`PUT` creates or replaces,
//! checked to render before it is stored), and the preview of an edit (the same body
//! and check, rendered with sample data and stored nowhere).

use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use platform::auth::Principal;
use platform::http::api::{ApiRouter, problems, routes};
use platform::http::{Json, List, PageQuery, Problem, Query, created};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa::openapi::schema::Object;

use super::{ApiResult, category_names, channel_names, names_schema};
use crate::app::{NotificationsApp, NotificationsError, POLICY, TemplateDraft};
use crate::domain::{Category, Content, Template, TemplateId, TemplateText};

/// Admins' template routes.
pub(super) fn api() -> ApiRouter<NotificationsApp> {
    ApiRouter::new()
        .routes(routes!(list_templates))
        .routes(routes!(get_template, put_template))
        .routes(routes!(preview_template))
}

/// The channel a template is for.
fn channel() -> Object {
    names_schema("The channel", channel_names(), false)
}

/// Whether recipients may switch its messages off (`marketing`) or not.
fn category() -> Object {
    names_schema("The category", category_names(), false)
}

/// Whether recipients may switch its messages off; the stored category (transactional
/// for a new template) when absent.
fn optional_category() -> Object {
    names_schema(
        "The category; absent or null keeps the stored one (transactional when new)",
        category_names(),
        true,
    )
}

/// A template as the API shows it.
#[derive(Debug, Serialize, ToSchema)]
struct TemplateView {
    /// `<key>.<channel>`.
    id: String,
    /// What its messages are about.
    key: String,
    /// The channel.
    #[schema(schema_with = channel)]
    channel: String,
    /// The category.
    #[schema(schema_with = category)]
    category: String,
    /// Subject line (email) or title (push).
    subject: Option<String>,
    /// Plain-text body (a MiniJinja template).
    body: String,
    /// HTML body (email).
    html: Option<String>,
    /// Whether messages are made from it.
    enabled: bool,
    /// Whether an admin changed it (a default that was never edited is not).
    customized: bool,
    /// Last change, RFC 3339.
    #[schema(format = DateTime)]
    updated_at: String,
    /// The admin who last changed it (null for an untouched default).
    updated_by: Option<String>,
}

impl From<Template> for TemplateView {
    fn from(t: Template) -> Self {
        Self {
            id: t.id.to_string(),
            key: t.id.key().to_owned(),
            channel: t.id.channel().as_str().to_owned(),
            category: t.category.as_str().to_owned(),
            customized: t.customized(),
            subject: t.text.subject,
            body: t.text.body,
            html: t.text.html,
            enabled: t.enabled,
            updated_at: platform::time::rfc3339(t.updated_at),
            updated_by: t.updated_by,
        }
    }
}

fn template_id_from_path(raw: String) -> ApiResult<TemplateId> {
    TemplateId::try_from(raw).map_err(|e| Problem::invalid_field("id", e.to_string()))
}

/// Every template, by id (admins).
#[utoipa::path(
    get,
    path = "/api/v1/notifications/templates",
    params(PageQuery),
    responses(
        (status = 200, description = "One page of templates", body = List<TemplateView>),
        problems::Unauthorized, problems::Forbidden, problems::Invalid,
    ),
)]
#[tracing::instrument(skip_all)]
async fn list_templates(
    State(app): State<NotificationsApp>,
    caller: Principal,
    Query(query): Query<PageQuery>,
) -> ApiResult<Json<List<TemplateView>>> {
    POLICY.require_manage(&caller)?;
    let page = query.page()?;
    let rows = app
        .templates(page.after.as_deref(), page.fetch_limit())
        .await?;
    let list = List::from_rows(rows, &page, |t| t.id.to_string());
    Ok(Json(List {
        items: list.items.into_iter().map(TemplateView::from).collect(),
        next_cursor: list.next_cursor,
    }))
}

/// One template (admins).
#[utoipa::path(
    get,
    path = "/api/v1/notifications/templates/{id}",
    params(("id" = String, Path, description = "`<key>.<channel>`, e.g. `order_confirmed.email`")),
    responses(
        (status = 200, description = "The template", body = TemplateView),
        problems::Unauthorized, problems::Forbidden, problems::NotFound,
    ),
)]
#[tracing::instrument(skip_all)]
async fn get_template(
    State(app): State<NotificationsApp>,
    caller: Principal,
    Path(id): Path<String>,
) -> ApiResult<Json<TemplateView>> {
    POLICY.require_manage(&caller)?;
    let Ok(id) = TemplateId::try_from(id) else {
        return Err(Problem::not_found("template"));
    };
    match app.template(&id).await {
        Ok(template) => Ok(Json(template.into())),
        Err(NotificationsError::UnknownTemplate) => Err(Problem::not_found("template")),
        Err(err) => Err(err.into()),
    }
}

/// A template's new text, checked to render before it is stored.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"subject": "Your order {{ order_id }} is confirmed", "body": "Hello {{ name }}, thank you for your order.", "category": "transactional", "enabled": true}))]
struct TemplateBody {
    /// Subject line (required for email) or title (push): up to 1000 characters.
    #[serde(default)]
    #[schema(max_length = 1000, pattern = r"\S")]
    subject: Option<String>,
    /// Plain-text body: up to 100000 characters, not blank.
    #[schema(min_length = 1, max_length = 100000, pattern = r"\S")]
    body: String,
    /// HTML body, email only: up to 200000 characters.
    #[serde(default)]
    #[schema(max_length = 200000)]
    html: Option<String>,
    /// The category.
    #[serde(default)]
    #[schema(schema_with = optional_category)]
    category: Option<String>,
    /// Whether messages are made from it (true when absent).
    #[serde(default)]
    enabled: Option<bool>,
}

impl TemplateBody {
    /// The edit: its text, and its category when one is named (422 naming `category`
    /// for an unknown one). The text itself is checked by the app, part by part.
    fn try_into_domain(self) -> ApiResult<TemplateDraft> {
        let category = match self.category.as_deref() {
            None => None,
            Some(raw) => Some(Category::parse(raw).ok_or_else(|| {
                Problem::invalid_field("category", "must be transactional or marketing")
            })?),
        };
        Ok(TemplateDraft {
            text: TemplateText {
                subject: self.subject,
                body: self.body,
                html: self.html,
            },
            category,
            enabled: self.enabled.unwrap_or(true),
        })
    }
}

/// Creates or replaces a template (admins); it must render with sample data.
#[utoipa::path(
    put,
    path = "/api/v1/notifications/templates/{id}",
    params(("id" = String, Path, pattern = r"^[a-z0-9_]{1,64}\.(email|sms|push)$",
        description = "`<key>.<channel>`, e.g. `order_confirmed.email` or a key of the admin's own")),
    request_body = TemplateBody,
    responses(
        (status = 200, description = "Replaced", body = TemplateView),
        (status = 201, description = "Created", body = TemplateView,
            headers(("Location" = String, description = "The new template"))),
        problems::BadRequest, problems::Unauthorized, problems::Forbidden, problems::Invalid,
    ),
)]
#[tracing::instrument(skip_all)]
async fn put_template(
    State(app): State<NotificationsApp>,
    caller: Principal,
    Path(id): Path<String>,
    Json(body): Json<TemplateBody>,
) -> ApiResult<Response> {
    POLICY.require_manage(&caller)?;
    let id = template_id_from_path(id)?;
    let draft = body.try_into_domain()?;
    let (template, is_new) = app.put_template(&caller.subject, &id, draft).await?;
    let location = format!("/api/v1/notifications/templates/{}", template.id);
    let view = TemplateView::from(template);
    Ok(if is_new {
        created(&location, view)
    } else {
        Json(view).into_response()
    })
}

/// A template edit as it would read: each part rendered with sample data.
#[derive(Debug, Serialize, ToSchema)]
struct PreviewView {
    /// The rendered subject line (email) or title (push), on one line; null when the
    /// template has none.
    subject: Option<String>,
    /// The rendered plain-text body.
    body: String,
    /// The rendered HTML body (email); null when the template has none.
    html: Option<String>,
}

impl From<Content> for PreviewView {
    fn from(c: Content) -> Self {
        Self {
            subject: c.subject,
            body: c.body,
            html: c.html,
        }
    }
}

/// Renders a template edit with sample data without storing it (admins).
///
/// The body is the `PUT`'s and is checked the same way, so an edit refused there is
/// refused here with the same problem. An event template renders with the sample of
/// its event's context the `PUT` checks against; a template of a key of the admin's
/// own with the sample recipient as `user` alone (the names a send's `data` would
/// supply print as nothing). Nothing is stored, and a template that does not exist
/// yet may be previewed.
#[utoipa::path(
    post,
    path = "/api/v1/notifications/templates/{id}/preview",
    params(("id" = String, Path, pattern = r"^[a-z0-9_]{1,64}\.(email|sms|push)$",
        description = "`<key>.<channel>`, e.g. `order_confirmed.email` or a key of the admin's own")),
    request_body = TemplateBody,
    responses(
        (status = 200, description = "The edit rendered with sample data; nothing stored", body = PreviewView),
        problems::BadRequest, problems::Unauthorized, problems::Forbidden, problems::Invalid,
    ),
)]
#[tracing::instrument(skip_all)]
async fn preview_template(
    State(app): State<NotificationsApp>,
    caller: Principal,
    Path(id): Path<String>,
    Json(body): Json<TemplateBody>,
) -> ApiResult<Json<PreviewView>> {
    POLICY.require_manage(&caller)?;
    let id = template_id_from_path(id)?;
    let draft = body.try_into_domain()?;
    Ok(Json(app.preview_template(&id, &draft.text)?.into()))
}
