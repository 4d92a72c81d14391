//! The knowledge base: admins write (create, replace, delete); every signed-in caller
//! reads published articles and searches them (`q`, typo-tolerant); admins see drafts.

use axum::extract::{Path, State};
use axum::response::Response;
use platform::auth::Principal;
use platform::http::api::problems;
use platform::http::{
    Fields, Json, List, PageQuery, Problem, Query, created, encode_cursor, no_content,
};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::path_id;
use crate::app::{ArticleQuery, SupportApp};
use crate::domain::{Article, ArticleBody, ArticleInput, Tags, Title};

type ApiResult<T> = Result<T, Problem>;

/// A knowledge-base article.
#[derive(Serialize, ToSchema)]
pub(super) struct ArticleView {
    /// Id.
    id: String,
    /// Title.
    title: String,
    /// Text.
    body: String,
    /// Tags, lowercase.
    tags: Vec<String>,
    /// Whether customers see it (a draft otherwise).
    published: bool,
    /// The admin who wrote it.
    author_id: String,
    /// Created, RFC 3339.
    created_at: String,
    /// Last change, RFC 3339.
    updated_at: String,
}

impl From<Article> for ArticleView {
    fn from(a: Article) -> Self {
        Self {
            id: a.id,
            title: a.title,
            body: a.body,
            tags: a.tags,
            published: a.published,
            author_id: a.author_id,
            created_at: platform::time::rfc3339(a.created_at),
            updated_at: platform::time::rfc3339(a.updated_at),
        }
    }
}

/// An article's content (creating or replacing it).
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"title": "Shipping times", "body": "Parcels leave within a day.", "tags": ["shipping"], "published": true}))]
pub(super) struct ArticleBodyIn {
    /// Title: 1 to 200 characters, one line.
    #[schema(min_length = 1, max_length = 200)]
    title: String,
    /// Text: 1 to 50 000 characters.
    #[schema(min_length = 1, max_length = 50000)]
    body: String,
    /// Up to 20 tags, each 1 to 40 letters, digits, `-` or `_`.
    #[serde(default)]
    #[schema(max_items = 20)]
    tags: Vec<String>,
    /// Whether customers see it; a draft (false) when absent.
    #[serde(default)]
    published: bool,
}

impl ArticleBodyIn {
    fn try_into_domain(self) -> ApiResult<ArticleInput> {
        let mut fields = Fields::default();
        let title = fields.check("title", Title::try_from(self.title));
        let body = fields.check("body", ArticleBody::try_from(self.body));
        let tags = fields.check("tags", Tags::try_from(self.tags));
        let (Some(title), Some(body), Some(tags)) = (title, body, tags) else {
            return Err(fields.into_problem());
        };
        Ok(ArticleInput {
            title,
            body,
            tags,
            published: self.published,
        })
    }
}

/// Writes an article (admins).
#[utoipa::path(
    post,
    path = "/api/v1/support/articles",
    request_body = ArticleBodyIn,
    responses(
        (status = 201, description = "Created", body = ArticleView,
            headers(("Location" = String, description = "The new article"))),
        problems::BadRequest, problems::Unauthorized, problems::Forbidden, problems::Invalid,
    ),
)]
#[tracing::instrument(skip_all)]
pub(super) async fn create_article(
    State(app): State<SupportApp>,
    caller: Principal,
    Json(body): Json<ArticleBodyIn>,
) -> ApiResult<Response> {
    caller.require_admin()?;
    let input = body.try_into_domain()?;
    let article = app.create_article(&caller, input).await?;
    Ok(created(
        &format!("/api/v1/support/articles/{}", article.id),
        ArticleView::from(article),
    ))
}

/// Replaces an article's content (admins).
#[utoipa::path(
    put,
    path = "/api/v1/support/articles/{id}",
    params(("id" = String, Path, description = "The article")),
    request_body = ArticleBodyIn,
    responses(
        (status = 200, description = "The article", body = ArticleView),
        problems::BadRequest, problems::Unauthorized, problems::Forbidden, problems::NotFound,
        problems::Invalid,
    ),
)]
#[tracing::instrument(skip_all)]
pub(super) async fn revise_article(
    State(app): State<SupportApp>,
    caller: Principal,
    Path(id): Path<String>,
    Json(body): Json<ArticleBodyIn>,
) -> ApiResult<Json<ArticleView>> {
    caller.require_admin()?;
    path_id(&id, "article")?;
    let input = body.try_into_domain()?;
    Ok(Json(app.revise_article(&id, input).await?.into()))
}

/// Deletes an article (admins).
#[utoipa::path(
    delete,
    path = "/api/v1/support/articles/{id}",
    params(("id" = String, Path, description = "The article")),
    responses(
        (status = 204, description = "Deleted"),
        problems::Unauthorized, problems::Forbidden, problems::NotFound,
    ),
)]
#[tracing::instrument(skip_all)]
pub(super) async fn delete_article(
    State(app): State<SupportApp>,
    caller: Principal,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    caller.require_admin()?;
    path_id(&id, "article")?;
    app.delete_article(&id).await?;
    Ok(no_content())
}

/// An article: published ones for every signed-in caller, drafts for admins (another
/// caller is answered 404).
#[utoipa::path(
    get,
    path = "/api/v1/support/articles/{id}",
    params(("id" = String, Path, description = "The article")),
    responses(
        (status = 200, description = "The article", body = ArticleView),
        problems::Unauthorized, problems::NotFound,
    ),
)]
#[tracing::instrument(skip_all)]
pub(super) async fn get_article(
    State(app): State<SupportApp>,
    caller: Principal,
    Path(id): Path<String>,
) -> ApiResult<Json<ArticleView>> {
    path_id(&id, "article")?;
    Ok(Json(app.article(&caller, &id).await?.into()))
}

/// Longest query, in characters.
const MAX_QUERY_CHARS: usize = 200;

/// What to search for.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(super) struct ArticleListQuery {
    /// Words to search title, tags and text for (each must match, one typo allowed);
    /// without it, the newest articles first.
    #[serde(default)]
    #[param(max_length = 200)]
    q: Option<String>,
    #[serde(flatten)]
    #[param(ignore)]
    page: PageQuery,
}

/// Articles the caller may see: ranked by `q` (full-text, typo-tolerant), or newest
/// first without it. Customers see published ones, admins drafts too.
#[utoipa::path(
    get,
    path = "/api/v1/support/articles",
    params(ArticleListQuery, PageQuery),
    responses(
        (status = 200, description = "One page of articles", body = List<ArticleView>),
        problems::Unauthorized, problems::Invalid,
    ),
)]
#[tracing::instrument(skip_all)]
pub(super) async fn list_articles(
    State(app): State<SupportApp>,
    caller: Principal,
    Query(query): Query<ArticleListQuery>,
) -> ApiResult<Json<List<ArticleView>>> {
    let page = query.page.page()?;
    let limit = page.limit as usize;
    let q = query
        .q
        .map(|q| q.trim().to_owned())
        .filter(|q| !q.is_empty());
    let Some(q) = q else {
        let rows = app
            .articles(&caller, ArticleQuery::Newest(page.after.clone()), limit)
            .await?;
        let list = List::from_rows(rows, &page, |a| a.id.clone());
        return Ok(Json(List {
            items: list.items.into_iter().map(ArticleView::from).collect(),
            next_cursor: list.next_cursor,
        }));
    };
    if q.chars().count() > MAX_QUERY_CHARS {
        return Err(Problem::invalid_field(
            "q",
            "must be at most 200 characters",
        ));
    }
    // A search page continues at a rank: its cursor is the number of results before it.
    let offset = match page.after.as_deref() {
        None => 0,
        Some(raw) => raw
            .parse::<usize>()
            .map_err(|_| Problem::invalid_field("cursor", "is not a cursor this API issued"))?,
    };
    let mut rows = app
        .articles(&caller, ArticleQuery::Search { q, offset }, limit)
        .await?;
    let next_cursor = (rows.len() > limit).then(|| encode_cursor(&(offset + limit).to_string()));
    rows.truncate(limit);
    Ok(Json(List {
        items: rows.into_iter().map(ArticleView::from).collect(),
        next_cursor,
    }))
}
