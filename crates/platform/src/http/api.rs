//! A service's documented HTTP API: its routes and their OpenAPI 3.1 description are
//! declared together, once.
//!
//! A service builds its routes with [`ApiRouter`] and [`routes!`]: each handler carries
//! `#[utoipa::path(...)]` (method, path, parameters, body, responses, security), and
//! the router takes the method and the path from it, so a route cannot exist without
//! its description. The routes are built without values — a per-route layer reads what
//! it needs from the request ([`crate::idempotency::IdempotencyStore`],
//! [`crate::tasks::detach`]) — so [`crate::service::Service::openapi`] describes a
//! service without starting it, and the gateway serves every service's description in
//! either shape.
//!
//! [`document`] finishes one service's description the same way for all: the title,
//! the security schemes, the shared `Problem` schema, a `default` problem+json answer
//! on every operation (the gateway may answer 413, 429 or 503 anywhere), operation ids
//! and schema names qualified by the service, so [`merge`] joins the documents without
//! collisions.

use std::collections::BTreeMap;

use serde_json::{Value, json};
use utoipa::openapi::{
    ContentBuilder, RefOr, Response, ResponseBuilder,
    schema::{AdditionalProperties, ArrayBuilder, ObjectBuilder, Schema, SchemaFormat, Type},
};

use super::problem::{FieldError, PROBLEM_JSON, Problem};

pub use utoipa;
pub use utoipa_axum::router::{OpenApiRouter as ApiRouter, UtoipaMethodRouterExt};
pub use utoipa_axum::routes;

/// The security scheme of a bearer access token (a JWT from identity).
pub const BEARER: &str = "bearer";
/// The security scheme of an `X-API-Key` header (API keys, tenant keys).
pub const API_KEY: &str = "api_key";

/// Schemas every service shares under their own names (not qualified by a service):
/// the platform's, and `contracts`' money.
const SHARED_SCHEMAS: [&str; 3] = ["Problem", "FieldError", "Money"];

impl utoipa::PartialSchema for Problem {
    fn schema() -> RefOr<Schema> {
        let text = |description: &str| {
            ObjectBuilder::new()
                .schema_type(Type::String)
                .description(Some(description))
        };
        ObjectBuilder::new()
            .description(Some(
                "An RFC 9457 problem: the body of every error. More members may be present \
                 (for example `mfa_token`, `refundable`, `reason`).",
            ))
            .property(
                "type",
                text("Stable URI naming the kind of problem.")
                    .format(Some(SchemaFormat::Custom("uri".into()))),
            )
            .required("type")
            .property("title", text("Short summary of the kind."))
            .required("title")
            .property(
                "status",
                ObjectBuilder::new()
                    .schema_type(Type::Integer)
                    .minimum(Some(100))
                    .maximum(Some(599)),
            )
            .required("status")
            .property("detail", text("What happened this time."))
            .required("detail")
            .property(
                "errors",
                ArrayBuilder::new()
                    .items(utoipa::openapi::Ref::from_schema_name("FieldError"))
                    .description(Some("The invalid fields, for 400 and 422.")),
            )
            .additional_properties(Some(AdditionalProperties::FreeForm(true)))
            .examples([json!({
                "type": "https://viscount.dev/problems/not-found",
                "title": "Not found",
                "status": 404,
                "detail": "no such payment"
            })])
            .into()
    }
}

impl utoipa::ToSchema for Problem {
    fn schemas(schemas: &mut Vec<(String, RefOr<Schema>)>) {
        schemas.push((
            "FieldError".into(),
            <FieldError as utoipa::PartialSchema>::schema(),
        ));
    }
}

impl utoipa::PartialSchema for FieldError {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .property(
                "field",
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .description(Some("The field, as a JSON path (`items[0].sku`).")),
            )
            .required("field")
            .property(
                "message",
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .description(Some("What is wrong with it.")),
            )
            .required("message")
            .into()
    }
}

impl utoipa::ToSchema for FieldError {}

/// A problem+json answer with `description`.
fn problem_response(description: &str) -> Response {
    ResponseBuilder::new()
        .description(description)
        .content(
            PROBLEM_JSON,
            ContentBuilder::new()
                .schema(Some(utoipa::openapi::Ref::from_schema_name("Problem")))
                .build(),
        )
        .build()
}

/// Declares the problem answers handlers list in `responses(...)`, each a unit type
/// implementing [`utoipa::IntoResponses`].
macro_rules! problem_answers {
    ($($(#[$doc:meta])* $name:ident => $status:literal, $description:literal;)*) => {
        $(
            $(#[$doc])*
            pub struct $name;

            impl utoipa::IntoResponses for $name {
                fn responses() -> BTreeMap<String, RefOr<Response>> {
                    BTreeMap::from([(
                        $status.to_string(),
                        RefOr::T(problem_response($description)),
                    )])
                }
            }
        )*
    };
}

/// The problem answers an operation lists beside its successes:
/// `responses((status = 200, body = PaymentView), problems::NotFound, problems::Invalid)`.
pub mod problems {
    use super::*;

    problem_answers! {
        /// 400: the request could not be read (malformed JSON, a missing header).
        BadRequest => 400, "The request could not be read.";
        /// 401: no credentials, or bad ones.
        Unauthorized => 401, "No credentials, or bad ones.";
        /// 403: the caller may not do this.
        Forbidden => 403, "The caller may not do this.";
        /// 404: no such resource (also another user's).
        NotFound => 404, "No such resource (also for another user's).";
        /// 409: the resource's state does not allow it.
        Conflict => 409, "The resource's state does not allow this.";
        /// 412: a stale `If-Match`.
        PreconditionFailed => 412, "The `If-Match` version is stale.";
        /// 422: an invalid field, named in `errors`.
        Invalid => 422, "An invalid field, named in `errors`.";
        /// 423: the account is locked.
        Locked => 423, "The account is locked after repeated failures.";
        /// 503: a dependency is unavailable.
        Unavailable => 503, "A dependency is unavailable; try again later.";
    }
}

/// Finishes the description of `service`'s routes (see the module documentation).
pub fn document(service: &str, routes: utoipa::openapi::OpenApi) -> Value {
    let mut doc = serde_json::to_value(&routes).unwrap_or_else(|_| json!({}));
    let renamed: BTreeMap<String, String> = doc
        .pointer("/components/schemas")
        .and_then(Value::as_object)
        .map(|schemas| {
            schemas
                .keys()
                .filter(|name| !SHARED_SCHEMAS.contains(&name.as_str()))
                .map(|name| (name.clone(), format!("{service}.{name}")))
                .collect()
        })
        .unwrap_or_default();
    qualify_schema_refs(&mut doc, &renamed);
    if let Some(schemas) = doc
        .pointer_mut("/components/schemas")
        .and_then(Value::as_object_mut)
    {
        let old = std::mem::take(schemas);
        for (name, schema) in old {
            let name = renamed.get(&name).cloned().unwrap_or(name);
            schemas.insert(name, schema);
        }
    }
    if let Some(paths) = doc.get_mut("paths").and_then(Value::as_object_mut) {
        for item in paths.values_mut() {
            let Some(item) = item.as_object_mut() else {
                continue;
            };
            for (method, operation) in item.iter_mut() {
                if !is_method(method) {
                    continue;
                }
                finish_operation(service, operation);
            }
        }
    }
    doc["openapi"] = json!("3.1.0");
    doc["info"] = json!({
        "title": format!("Viscount {service} API"),
        "version": env!("CARGO_PKG_VERSION"),
    });
    add_shared_components(&mut doc);
    doc
}

fn is_method(key: &str) -> bool {
    matches!(
        key,
        "get" | "put" | "post" | "delete" | "options" | "head" | "patch" | "trace"
    )
}

/// Operation id and tag qualified by the service, the default security (a bearer token
/// or an API key) unless the operation says otherwise, and a `default` problem answer.
fn finish_operation(service: &str, operation: &mut Value) {
    let Some(operation) = operation.as_object_mut() else {
        return;
    };
    let id = operation
        .get("operationId")
        .and_then(Value::as_str)
        .unwrap_or("operation")
        .to_owned();
    operation.insert("operationId".into(), json!(format!("{service}.{id}")));
    operation.insert("tags".into(), json!([service]));
    operation
        .entry("security")
        .or_insert_with(|| json!([{ BEARER: [] }, { API_KEY: [] }]));
    let responses = operation.entry("responses").or_insert_with(|| json!({}));
    if let Some(responses) = responses.as_object_mut() {
        responses.entry("default").or_insert_with(|| {
            serde_json::to_value(problem_response(
                "Any other problem: 400 unreadable, 413 too large, 415 wrong media type, \
                 429 rate limited (with `Retry-After`), 503 a service unavailable.",
            ))
            .unwrap_or_default()
        });
    }
}

fn qualify_schema_refs(value: &mut Value, renamed: &BTreeMap<String, String>) {
    const PREFIX: &str = "#/components/schemas/";
    match value {
        Value::Object(map) => {
            for (key, child) in map.iter_mut() {
                if key == "$ref"
                    && let Some(name) = child.as_str().and_then(|r| r.strip_prefix(PREFIX))
                    && let Some(new) = renamed.get(name)
                {
                    *child = json!(format!("{PREFIX}{new}"));
                } else {
                    qualify_schema_refs(child, renamed);
                }
            }
        }
        Value::Array(items) => {
            for item in items {
                qualify_schema_refs(item, renamed);
            }
        }
        _ => {}
    }
}

fn add_shared_components(doc: &mut Value) {
    if !doc["components"].is_object() {
        doc["components"] = json!({});
    }
    let components = &mut doc["components"];
    if !components["schemas"].is_object() {
        components["schemas"] = json!({});
    }
    components["schemas"]["Problem"] =
        serde_json::to_value(<Problem as utoipa::PartialSchema>::schema()).unwrap_or_default();
    components["schemas"]["FieldError"] =
        serde_json::to_value(<FieldError as utoipa::PartialSchema>::schema()).unwrap_or_default();
    components["securitySchemes"] = json!({
        BEARER: {
            "type": "http",
            "scheme": "bearer",
            "bearerFormat": "JWT",
            "description": "An access token from `POST /api/v1/auth/login` or `POST /oauth2/token` (EdDSA-signed JWT)."
        },
        API_KEY: {
            "type": "apiKey",
            "in": "header",
            "name": "X-API-Key",
            "description": "An API key from `POST /api/v1/api-keys`, or a tenant key from `POST /api/v1/tenants`."
        }
    });
}

/// The gateway's document: every service's paths and components in one, under
/// `title`. Services are merged in the order given; a path two services both declare
/// keeps the first (the gateway routes it to the first too).
pub fn merge(title: &str, documents: impl IntoIterator<Item = Value>) -> Value {
    let mut merged = json!({
        "openapi": "3.1.0",
        "info": {
            "title": title,
            "version": env!("CARGO_PKG_VERSION"),
            "description": "The public API of every Viscount service, through the gateway. \
                Errors are `application/problem+json` (RFC 9457); lists are cursor pages \
                (`limit`, `cursor` → `next_cursor`); money is integer minor units with an \
                ISO 4217 currency."
        },
        "servers": [{ "url": "/" }],
        "paths": {},
        "components": { "schemas": {} },
        "tags": [],
    });
    for doc in documents {
        if let Some(paths) = doc.get("paths").and_then(Value::as_object) {
            for (path, item) in paths {
                let entry = &mut merged["paths"][path];
                if entry.is_null() {
                    *entry = item.clone();
                } else if let (Some(into), Some(from)) = (entry.as_object_mut(), item.as_object()) {
                    for (method, operation) in from {
                        into.entry(method.clone())
                            .or_insert_with(|| operation.clone());
                    }
                }
            }
        }
        if let Some(schemas) = doc
            .pointer("/components/schemas")
            .and_then(Value::as_object)
        {
            for (name, schema) in schemas {
                merged["components"]["schemas"][name] = schema.clone();
            }
        }
        if let Some(title) = doc.pointer("/info/title").and_then(Value::as_str)
            && let Some(tags) = merged["tags"].as_array_mut()
            && let Some(service) = title
                .strip_prefix("Viscount ")
                .and_then(|rest| rest.strip_suffix(" API"))
        {
            tags.push(json!({ "name": service, "description": title }));
        }
    }
    add_shared_components(&mut merged);
    merged
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn document_qualifies_schema_names_and_their_references() {
        let routes: utoipa::openapi::OpenApi = serde_json::from_value(json!({
            "openapi": "3.1.0",
            "info": {"title": "x", "version": "1"},
            "paths": {"/api/v1/things/{id}": {"get": {
                "operationId": "get_thing",
                "responses": {"200": {"description": "the thing", "content": {
                    "application/json": {"schema": {"$ref": "#/components/schemas/Thing"}}
                }}}
            }}},
            "components": {"schemas": {"Thing": {"type": "object"}}}
        }))
        .expect("a valid document");
        let doc = document("things", routes);
        let operation = &doc["paths"]["/api/v1/things/{id}"]["get"];
        assert_eq!(operation["operationId"], "things.get_thing");
        assert_eq!(
            operation["responses"]["200"]["content"]["application/json"]["schema"]["$ref"],
            "#/components/schemas/things.Thing"
        );
        assert!(doc["components"]["schemas"]["things.Thing"].is_object());
        assert!(doc["components"]["schemas"]["Thing"].is_null());
        assert!(doc["components"]["schemas"]["Problem"].is_object());
        assert_eq!(
            operation["responses"]["default"]["content"][PROBLEM_JSON]["schema"]["$ref"],
            "#/components/schemas/Problem"
        );
        assert_eq!(
            operation["security"],
            json!([{ BEARER: [] }, { API_KEY: [] }])
        );
    }

    #[test]
    fn merge_keeps_every_service_s_paths_and_schemas() {
        let one = json!({"info": {"title": "Viscount a API"}, "paths": {"/a": {"get": {}}},
            "components": {"schemas": {"a.X": {}}}});
        let two = json!({"info": {"title": "Viscount b API"}, "paths": {"/b": {"post": {}}},
            "components": {"schemas": {"b.X": {}}}});
        let merged = merge("Viscount", [one, two]);
        assert!(merged["paths"]["/a"]["get"].is_object());
        assert!(merged["paths"]["/b"]["post"].is_object());
        assert!(merged["components"]["schemas"]["a.X"].is_object());
        assert!(merged["components"]["schemas"]["b.X"].is_object());
        assert_eq!(merged["tags"][1]["name"], "b");
    }
}
