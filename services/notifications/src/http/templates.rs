//! Templates for admins: the list, one template, and an edit (`PUT` creates or
//! replaces, checked to render before it is stored).

use axum::Router;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use platform::auth::Principal;
use platform::http::{Json, List, PageQuery, Problem, Query, created};
use serde::{Deserialize, Serialize};

use super::ApiResult;
use crate::app::{NotificationsApp, NotificationsError, POLICY, TemplateDraft};
use crate::domain::{Category, Template, TemplateId, TemplateText};

/// Admins' template routes.
pub(super) fn routes() -> Router<NotificationsApp> {
    Router::new()
        .route("/api/v1/notifications/templates", get(list_templates))
        .route(
            "/api/v1/notifications/templates/{id}",
            get(get_template).put(put_template),
        )
}

/// A template as the API shows it.
#[derive(Debug, Serialize)]
struct TemplateView {
    id: String,
    key: String,
    channel: String,
    category: String,
    subject: Option<String>,
    body: String,
    html: Option<String>,
    enabled: bool,
    /// Whether an admin changed it (a default that was never edited is not).
    customized: bool,
    updated_at: String,
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

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TemplateBody {
    #[serde(default)]
    subject: Option<String>,
    body: String,
    #[serde(default)]
    html: Option<String>,
    #[serde(default)]
    category: Option<String>,
    #[serde(default)]
    enabled: Option<bool>,
}

#[tracing::instrument(skip_all)]
async fn put_template(
    State(app): State<NotificationsApp>,
    caller: Principal,
    Path(id): Path<String>,
    Json(body): Json<TemplateBody>,
) -> ApiResult<Response> {
    POLICY.require_manage(&caller)?;
    let id = template_id_from_path(id)?;
    let category = match body.category.as_deref() {
        None => None,
        Some(raw) => Some(Category::parse(raw).ok_or_else(|| {
            Problem::invalid_field("category", "must be transactional or marketing")
        })?),
    };
    let draft = TemplateDraft {
        text: TemplateText {
            subject: body.subject,
            body: body.body,
            html: body.html,
        },
        category,
        enabled: body.enabled.unwrap_or(true),
    };
    let (template, is_new) = app.put_template(&caller.subject, &id, draft).await?;
    let location = format!("/api/v1/notifications/templates/{}", template.id);
    let view = TemplateView::from(template);
    Ok(if is_new {
        created(&location, view)
    } else {
        Json(view).into_response()
    })
}
