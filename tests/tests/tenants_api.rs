//! Tenants (identity's half of the Ingestion table of API.md) end to end through the
//! gateway, in both shapes: an admin creates a tenant with its API key, shown once and
//! stored hashed; the key authenticates as a client of that tenant only.

use platform::auth::remote::RemoteIdentity;
use platform::auth::{ApiKeyResolver, PrincipalKind};
use platform::service::Service;
use serde_json::{Value, json};
use viscount_tests::*;

/// A tenant as created: its id and its key.
struct CreatedTenant {
    id: String,
    key: String,
    key_id: String,
    body: Value,
}

async fn create_tenant(app: &TestApp, admin: &str, name: &str) -> CreatedTenant {
    let response = app
        .post("/api/v1/tenants", Some(admin), &json!({"name": name}))
        .await;
    assert_eq!(response.status(), 201, "create tenant {name}");
    let body: Value = response.json().await.expect("json");
    CreatedTenant {
        id: body["id"].as_str().expect("id").to_owned(),
        key: body["api_key"].as_str().expect("api_key").to_owned(),
        key_id: body["api_key_id"].as_str().expect("api_key_id").to_owned(),
        body,
    }
}

/// GET `path` presenting `key` as `X-API-Key`.
async fn get_with_key(app: &TestApp, path: &str, key: &str) -> reqwest::Response {
    app.client
        .get(app.url(path))
        .header("x-api-key", key)
        .send()
        .await
        .expect("request sent")
}

/// POST JSON to `path` presenting `key` as `X-API-Key`.
async fn post_with_key(app: &TestApp, path: &str, key: &str, body: &Value) -> reqwest::Response {
    app.client
        .post(app.url(path))
        .header("x-api-key", key)
        .json(body)
        .send()
        .await
        .expect("request sent")
}

both_shapes! {
    async fn an_admin_creates_a_tenant_whose_key_is_shown_once(app) {
        let admin = app.admin().await;
        let response = app.post("/api/v1/tenants", Some(&admin.access), &json!({"name": "  Acme Shop "})).await;
        assert_eq!(response.status(), 201);
        let header = |name: &str| response.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_owned);
        let (location, cache_control) = (header("location"), header("cache-control"));
        let created: Value = response.json().await.expect("json");
        let id = created["id"].as_str().expect("id");
        assert_eq!(location.as_deref(), Some(format!("/api/v1/tenants/{id}").as_str()));
        assert_eq!(cache_control.as_deref(), Some("no-store"));
        assert_eq!(created["name"], "Acme Shop", "name trimmed");
        assert!(created["created_at"].as_str().is_some_and(|t| t.ends_with('Z')));
        let key = created["api_key"].as_str().expect("key shown at creation");
        assert!(key.starts_with("vsk_") && key.len() > 40, "{key}");

        let read = app.get(&format!("/api/v1/tenants/{id}"), Some(&admin.access)).await;
        assert_eq!(read.status(), 200);
        let read: Value = read.json().await.expect("json");
        assert_eq!(read, json!({"id": id, "name": "Acme Shop", "created_at": created["created_at"]}), "never the key again");

        let listed: Value = app.get("/api/v1/tenants", Some(&admin.access)).await.json().await.expect("json");
        let items = listed["items"].as_array().expect("items");
        assert!(items.iter().any(|t| t["id"] == id));
        assert!(items.iter().all(|t| t.get("api_key").is_none()), "never listed with its key");

        // The key is an API key like the others: listed (without its secret) with its
        // tenant and no scopes.
        let keys: Value = app.get("/api/v1/api-keys?limit=100", Some(&admin.access)).await.json().await.expect("json");
        let listed_key = keys["items"].as_array().expect("items").iter().find(|k| k["id"] == created["api_key_id"]).cloned().expect("tenant key listed");
        assert_eq!(listed_key["tenant_id"], id);
        assert_eq!(listed_key["scopes"], json!([]));
        assert!(listed_key.get("key").is_none());

        // The tenant and its event were written together.
        let db = app.identity().db().clone();
        let events: Vec<String> = platform::db::query_scalar("SELECT body FROM outbox WHERE event_type = $1 AND subject = $2")
            .bind("identity.tenant.created.v1")
            .bind(id)
            .fetch_all(db.reader())
            .await
            .expect("outbox");
        assert_eq!(events.len(), 1);
        let envelope: Value = serde_json::from_str(&events[0]).expect("envelope");
        assert_eq!(envelope["data"], json!({"tenant_id": id, "name": "Acme Shop"}));
        assert!(!events[0].contains(key), "the event never carries the key");
    }

    async fn tenants_are_listed_page_by_page(app) {
        let admin = app.admin().await;
        for name in ["one", "two", "three"] {
            create_tenant(&app, &admin.access, name).await;
        }
        let first: Value = app.get("/api/v1/tenants?limit=2", Some(&admin.access)).await.json().await.expect("json");
        assert_eq!(first["items"].as_array().map(Vec::len), Some(2));
        let cursor = first["next_cursor"].as_str().expect("a next page");
        let second: Value = app.get(&format!("/api/v1/tenants?limit=2&cursor={cursor}"), Some(&admin.access)).await.json().await.expect("json");
        assert_eq!(second["items"].as_array().map(Vec::len), Some(2));
        assert!(second["next_cursor"].is_null());
        let names: Vec<&str> = first["items"].as_array().into_iter().chain(second["items"].as_array()).flatten().filter_map(|t| t["name"].as_str()).collect();
        // Ids are UUIDv7 (creation order); the built-in tenant's fixed id sorts after them.
        assert_eq!(names, ["one", "two", "three", "Viscount"], "in creation order");
        assert_problem(app.get("/api/v1/tenants?limit=0", Some(&admin.access)).await, 422).await;
    }

    async fn only_admins_manage_tenants(app) {
        let admin = app.admin().await;
        let customer = app.user("ann").await;
        let tenant = create_tenant(&app, &admin.access, "Acme").await;
        let body = json!({"name": "Mine"});

        assert_problem(app.post("/api/v1/tenants", Some(&customer.access), &body).await, 403).await;
        assert_problem(app.get("/api/v1/tenants", Some(&customer.access)).await, 403).await;
        let hidden = assert_problem(app.get(&format!("/api/v1/tenants/{}", tenant.id), Some(&customer.access)).await, 404).await;
        assert_eq!(hidden["detail"], "tenant not found");

        assert_problem(app.post("/api/v1/tenants", None, &body).await, 401).await;
        assert_problem(app.get("/api/v1/tenants", None).await, 401).await;
        assert_problem(app.get(&format!("/api/v1/tenants/{}", tenant.id), None).await, 401).await;

        // A key with every scope is still no admin.
        let scoped: Value = app.post("/api/v1/api-keys", Some(&admin.access), &json!({"name": "robot", "scopes": ["*"]})).await.json().await.expect("json");
        let scoped = scoped["key"].as_str().expect("key");
        assert_problem(post_with_key(&app, "/api/v1/tenants", scoped, &body).await, 403).await;

        assert_problem(app.get("/api/v1/tenants/not-a-tenant", Some(&admin.access)).await, 404).await;
    }

    async fn a_bad_tenant_name_is_named(app) {
        let admin = app.admin().await;
        for body in [json!({"name": "   "}), json!({"name": "n".repeat(101)}), json!({"name": "a\u{7}b"}), json!({})] {
            let problem = assert_problem(app.post("/api/v1/tenants", Some(&admin.access), &body).await, 422).await;
            assert_eq!(error_fields(&problem), vec!["name"], "{body}");
        }
        let unknown = assert_problem(app.post("/api/v1/tenants", Some(&admin.access), &json!({"name": "x", "scopes": ["*"]})).await, 422).await;
        assert_eq!(error_fields(&unknown), vec!["scopes"]);
        let listed: Value = app.get("/api/v1/tenants", Some(&admin.access)).await.json().await.expect("json");
        let ids: Vec<&str> = listed["items"].as_array().expect("items").iter().filter_map(|t| t["id"].as_str()).collect();
        assert_eq!(ids, ["viscount"], "nothing was created beside the built-in tenant");
    }

    async fn a_tenant_key_introspects_with_its_tenant(app) {
        let admin = app.admin().await;
        let tenant = create_tenant(&app, &admin.access, "Acme").await;
        // Holding the key is the authority to introspect it: no other credential.
        let response = app.post("/api/v1/api-keys/introspect", None, &json!({"key": tenant.key})).await;
        assert_eq!(response.status(), 200);
        let introspection: Value = response.json().await.expect("json");
        assert_eq!(introspection, json!({"active": true, "id": tenant.key_id, "scopes": [], "tenant": tenant.id}));

        let plain: Value = app.post("/api/v1/api-keys", Some(&admin.access), &json!({"name": "robot", "scopes": ["inventory:write"]})).await.json().await.expect("json");
        let plain: Value = app.post("/api/v1/api-keys/introspect", None, &json!({"key": plain["key"]})).await.json().await.expect("json");
        assert_eq!(plain["tenant"], Value::Null, "a scoped key has no tenant");
        assert_eq!(plain["scopes"], json!(["inventory:write"]));

        // Another process resolves the key through the same call and gets its tenant.
        let remote = RemoteIdentity::new(&app.base);
        let principal = remote.resolve(&tenant.key).await.expect("identity answers").expect("an active key");
        assert_eq!(principal.kind, PrincipalKind::Client);
        assert_eq!(principal.subject, tenant.key_id);
        assert_eq!(principal.tenant.as_deref(), Some(tenant.id.as_str()));
        assert!(principal.scopes.is_empty() && principal.roles.is_empty());
        assert!(remote.resolve("vsk_not-a-key").await.expect("identity answers").is_none());
    }

    async fn a_tenant_key_reads_its_own_tenant_only(app) {
        let admin = app.admin().await;
        let acme = create_tenant(&app, &admin.access, "Acme").await;
        let other = create_tenant(&app, &admin.access, "Other").await;

        let own = get_with_key(&app, &format!("/api/v1/tenants/{}", acme.id), &acme.key).await;
        assert_eq!(own.status(), 200);
        let own: Value = own.json().await.expect("json");
        assert_eq!(own["name"], "Acme");
        assert_eq!(own["id"], acme.body["id"]);

        // Another tenant's id and an id that does not exist are answered alike.
        let theirs = assert_problem(get_with_key(&app, &format!("/api/v1/tenants/{}", other.id), &acme.key).await, 404).await;
        let missing = assert_problem(get_with_key(&app, "/api/v1/tenants/0190a0a0-0000-7000-8000-000000000000", &acme.key).await, 404).await;
        assert_eq!(theirs["detail"], "tenant not found");
        assert_eq!(theirs["detail"], missing["detail"]);
        assert_eq!(get_with_key(&app, &format!("/api/v1/tenants/{}", other.id), &other.key).await.status(), 200);
    }

    async fn a_tenant_key_manages_nothing(app) {
        let admin = app.admin().await;
        let tenant = create_tenant(&app, &admin.access, "Acme").await;
        assert_problem(post_with_key(&app, "/api/v1/tenants", &tenant.key, &json!({"name": "Mine"})).await, 403).await;
        assert_problem(get_with_key(&app, "/api/v1/tenants", &tenant.key).await, 403).await;
        assert_problem(post_with_key(&app, "/api/v1/api-keys", &tenant.key, &json!({"name": "more", "scopes": ["*"]})).await, 403).await;
        assert_problem(get_with_key(&app, "/api/v1/users/search?q=a", &tenant.key).await, 403).await;
        // Nor does it trade itself for an access token, which could not carry its tenant.
        let token = app
            .client
            .post(app.url("/oauth2/token"))
            .form(&[("grant_type", "client_credentials"), ("client_id", &tenant.key_id), ("client_secret", &tenant.key)])
            .send()
            .await
            .expect("sent");
        assert_eq!(assert_problem(token, 400).await["error"], "unauthorized_client");
    }

    async fn a_tenant_key_is_stored_hashed_and_revocable(app) {
        let admin = app.admin().await;
        let tenant = create_tenant(&app, &admin.access, "Acme").await;
        let db = app.identity().db().clone();
        let row = platform::db::query("SELECT key_hash, scopes, tenant_id FROM api_keys WHERE id = $1")
            .bind(&tenant.key_id)
            .fetch_one(db.reader())
            .await
            .expect("key row");
        let hash: String = row.try_get("key_hash").expect("key_hash");
        let scopes: String = row.try_get("scopes").expect("scopes");
        let bound: Option<String> = row.try_get("tenant_id").expect("tenant_id");
        assert_eq!(hash, platform::ids::sha256_hex(tenant.key.as_bytes()));
        assert_eq!((scopes.as_str(), bound.as_deref()), ("", Some(tenant.id.as_str())));
        let holding: i64 = platform::db::query_scalar(
            "SELECT COUNT(*) FROM api_keys WHERE key_hash = $1 OR name = $1 OR scopes = $1 OR created_by = $1",
        )
        .bind(&tenant.key)
        .fetch_one(db.reader())
        .await
        .expect("count");
        assert_eq!(holding, 0, "the key itself is stored nowhere");

        assert_eq!(app.delete(&format!("/api/v1/api-keys/{}", tenant.key_id), &admin.access).await.status(), 204);
        assert_problem(get_with_key(&app, &format!("/api/v1/tenants/{}", tenant.id), &tenant.key).await, 401).await;
        assert_eq!(app.get(&format!("/api/v1/tenants/{}", tenant.id), Some(&admin.access)).await.status(), 200, "the tenant stays");
    }
}
