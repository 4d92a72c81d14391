//! People and keys: users (searched, paginated) and their roles, and API keys (created
//! with their key shown once, revoked after confirmation).

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect};
use serde::Deserialize;
use serde_json::{Value as Json, json};

use crate::app::{Call, Console};
use crate::domain::format::words;
use crate::http::forms::{FieldErrors, confirm_page, confirmed};
use crate::http::render::{PageResult, base, ok, view};
use crate::http::shop::{List, encode};
use crate::http::visitor::Visitor;

/// The roles a user may hold.
const ROLES: [&str; 3] = ["customer", "premium", "admin"];

#[derive(Deserialize, Default)]
pub(super) struct UsersQuery {
    #[serde(default)]
    q: String,
    #[serde(default)]
    cursor: String,
}

async fn users_page(
    console: &Console,
    visitor: &Visitor,
    query: &UsersQuery,
    errors: FieldErrors,
    notice: Option<&str>,
) -> PageResult {
    let api = {
        // The serializer is not `Send`: finished before the call is awaited.
        let mut api = form_urlencoded::Serializer::new(String::new());
        api.append_pair("q", query.q.trim())
            .append_pair("limit", "20");
        if !query.cursor.is_empty() {
            api.append_pair("cursor", &query.cursor);
        }
        api.finish()
    };
    let users: List<Json> = visitor
        .ask(
            console,
            Call::get(format!("/api/v1/users/search?{api}")),
            "users",
        )
        .await?;
    let next_page = users.next_cursor.map(|cursor| {
        format!(
            "/admin/users?q={}&cursor={}",
            encode(&query.q),
            encode(&cursor)
        )
    });
    ok(
        "admin/users.html",
        view!(base(visitor); users => users.items, next_page => next_page, q => query.q,
              roles => ROLES, errors => errors, notice => notice),
    )
}

/// `GET /admin/users?q=`.
#[tracing::instrument(skip_all)]
pub(super) async fn users(
    State(console): State<Arc<Console>>,
    visitor: Visitor,
    Query(query): Query<UsersQuery>,
) -> PageResult {
    visitor.admin()?;
    users_page(&console, &visitor, &query, FieldErrors::default(), None).await
}

/// `POST /admin/users/{id}/roles`: the roles ticked.
#[tracing::instrument(skip_all)]
pub(super) async fn set_roles(
    State(console): State<Arc<Console>>,
    visitor: Visitor,
    Path(id): Path<String>,
    axum::Form(fields): axum::Form<BTreeMap<String, String>>,
) -> PageResult {
    visitor.admin()?;
    // The roles the user has now (not as the page showed them: another admin may have
    // changed them since). Roles this page does not show are kept as they are.
    let user: Json = visitor
        .ask(
            &console,
            Call::get(format!("/api/v1/users/{}", encode(&id))),
            "user",
        )
        .await?;
    let current: Vec<&str> = user["roles"]
        .as_array()
        .map(|roles| roles.iter().filter_map(Json::as_str).collect())
        .unwrap_or_default();
    let ticked = |role: &str| fields.contains_key(&format!("role_{role}"));
    let roles: Vec<&str> = ROLES
        .iter()
        .copied()
        .filter(|role| ticked(role))
        .chain(current.iter().copied().filter(|role| !ROLES.contains(role)))
        .collect();
    // Taking a role away (an admin's above all) is asked about first; giving one is not.
    let taken: Vec<String> = current
        .iter()
        .filter(|role| ROLES.contains(role) && !ticked(role))
        .map(|role| words(role))
        .collect();
    if !taken.is_empty() && !confirmed(&fields) {
        return confirm_page(
            &visitor,
            "Take roles away?",
            &format!(
                "The user loses what these roles allowed: {}.",
                taken.join(", ")
            ),
            &format!("/admin/users/{}/roles", encode(&id)),
            &fields,
            "Yes, take them away",
            &format!(
                "/admin/users?q={}",
                encode(fields.get("q").map_or("", String::as_str))
            ),
        );
    }
    let query = UsersQuery {
        q: fields.get("q").cloned().unwrap_or_default(),
        cursor: String::new(),
    };
    match visitor
        .submit(
            &console,
            Call::put(
                format!("/api/v1/users/{}/roles", encode(&id)),
                &json!({"roles": roles}),
            ),
        )
        .await?
    {
        Ok(_) => {
            users_page(
                &console,
                &visitor,
                &query,
                FieldErrors::default(),
                Some("Roles saved."),
            )
            .await
        }
        Err(problem) => {
            users_page(
                &console,
                &visitor,
                &query,
                FieldErrors::from_problem(&problem, &[]),
                None,
            )
            .await
        }
    }
}

#[derive(Deserialize, Default)]
pub(super) struct CursorQuery {
    #[serde(default)]
    cursor: String,
}

async fn keys_page(
    console: &Console,
    visitor: &Visitor,
    cursor: &str,
    errors: FieldErrors,
    created: Option<Json>,
) -> PageResult {
    let mut path = "/api/v1/api-keys?limit=20".to_owned();
    if !cursor.is_empty() {
        path.push_str(&format!("&cursor={}", encode(cursor)));
    }
    let keys: List<Json> = visitor.ask(console, Call::get(path), "API keys").await?;
    let next_page = keys
        .next_cursor
        .map(|c| format!("/admin/api-keys?cursor={}", encode(&c)));
    let mut response = ok(
        "admin/api_keys.html",
        view!(base(visitor); keys => keys.items, next_page => next_page, errors => errors,
              created => created),
    )?;
    // A new key is shown once; no cache keeps the page.
    response.headers_mut().insert(
        http::header::CACHE_CONTROL,
        http::HeaderValue::from_static("no-store"),
    );
    Ok(response)
}

/// `GET /admin/api-keys`.
#[tracing::instrument(skip_all)]
pub(super) async fn api_keys(
    State(console): State<Arc<Console>>,
    visitor: Visitor,
    Query(query): Query<CursorQuery>,
) -> PageResult {
    visitor.admin()?;
    keys_page(
        &console,
        &visitor,
        &query.cursor,
        FieldErrors::default(),
        None,
    )
    .await
}

#[derive(Deserialize)]
pub(super) struct KeyForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    scopes: String,
}

/// `POST /admin/api-keys`: creates a key and shows it once.
#[tracing::instrument(skip_all)]
pub(super) async fn create_key(
    State(console): State<Arc<Console>>,
    visitor: Visitor,
    axum::Form(form): axum::Form<KeyForm>,
) -> PageResult {
    visitor.admin()?;
    let scopes: Vec<&str> = form
        .scopes
        .split([',', ' ', '\n'])
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect();
    let body = json!({"name": form.name.trim(), "scopes": scopes});
    match visitor
        .send(&console, Call::post("/api/v1/api-keys", &body))
        .await
    {
        Ok(answer) => {
            let created: Json = answer
                .json("API key")
                .map_err(crate::http::PageError::Api)?;
            keys_page(
                &console,
                &visitor,
                "",
                FieldErrors::default(),
                Some(created),
            )
            .await
        }
        Err(problem) if problem.status == 422 => {
            let errors = FieldErrors::from_problem(&problem, &[("scopes", "scopes")]);
            keys_page(&console, &visitor, "", errors, None).await
        }
        Err(problem) => Err(visitor.failed(problem)),
    }
}

/// `POST /admin/api-keys/{id}/delete`: revokes a key after confirmation.
#[tracing::instrument(skip_all)]
pub(super) async fn delete_key(
    State(console): State<Arc<Console>>,
    visitor: Visitor,
    Path(id): Path<String>,
    axum::Form(fields): axum::Form<BTreeMap<String, String>>,
) -> PageResult {
    visitor.admin()?;
    if !confirmed(&fields) {
        return confirm_page(
            &visitor,
            "Revoke this API key?",
            "Every client using it is refused from now on. This cannot be undone.",
            &format!("/admin/api-keys/{}/delete", encode(&id)),
            &fields,
            "Yes, revoke it",
            "/admin/api-keys",
        );
    }
    match visitor
        .send(
            &console,
            Call::delete(format!("/api/v1/api-keys/{}", encode(&id))),
        )
        .await
    {
        Ok(_) => Ok(Redirect::to("/admin/api-keys").into_response()),
        Err(problem) => Err(visitor.failed(problem)),
    }
}
