//! The Identity table of API.md, end to end through the gateway, in both shapes.

use platform::service::Service;
use std::time::Duration;

use serde_json::{Value, json};
use viscount_tests::*;

both_shapes! {
    async fn register_login_and_read_me(app) {
        let response = app
            .post("/api/v1/users", None, &json!({"email": "Ann@Example.com", "password": PASSWORD, "name": "Ann"}))
            .await;
        assert_eq!(response.status(), 201);
        let location = response.headers().get("location").and_then(|v| v.to_str().ok()).map(str::to_owned);
        let user: Value = response.json().await.expect("json");
        assert_eq!(user["email"], "ann@example.com", "email normalised");
        assert_eq!(user["name"], "Ann");
        assert_eq!(user["roles"], json!(["customer"]));
        assert!(user["created_at"].as_str().is_some_and(|t| t.ends_with('Z')));
        let id = user["id"].as_str().expect("id");
        assert_eq!(location.as_deref(), Some(format!("/api/v1/users/{id}").as_str()));

        let response = app.login("ann@example.com", PASSWORD).await;
        assert_eq!(response.status(), 200);
        assert_eq!(response.headers().get("cache-control").and_then(|v| v.to_str().ok()), Some("no-store"));
        let tokens: Value = response.json().await.expect("json");
        assert_eq!(tokens["token_type"], "Bearer");
        assert_eq!(tokens["expires_in"], 900);
        assert!(tokens["refresh_token"].as_str().is_some_and(|t| t.len() > 40));
        let access = tokens["access_token"].as_str().expect("access token");

        let me: Value = app.get("/api/v1/users/me", Some(access)).await.json().await.expect("json");
        assert_eq!(me["id"], id);
        assert_eq!(me["email"], "ann@example.com");
        assert_eq!(me["preferences"], json!({}));
        assert_problem(app.get("/api/v1/users/me", None).await, 401).await;
    }

    async fn registration_refuses_a_taken_email_a_weak_password_and_a_bad_email(app) {
        app.register("taken@example.com").await;
        let again = app
            .post("/api/v1/users", None, &json!({"email": "TAKEN@example.com", "password": PASSWORD, "name": "B"}))
            .await;
        assert_problem(again, 409).await;
        let bad = app
            .post("/api/v1/users", None, &json!({"email": "not-an-email", "password": "short", "name": "C"}))
            .await;
        let problem = assert_problem(bad, 422).await;
        let fields = error_fields(&problem);
        assert!(fields.contains(&"email".to_owned()) && fields.contains(&"password".to_owned()), "{fields:?}");
        assert_eq!(app.count_users("not-an-email").await, 0);
    }

    async fn registration_cannot_choose_roles(app) {
        let response = app
            .post("/api/v1/users", None, &json!({"email": "eve@example.com", "password": PASSWORD, "name": "Eve", "roles": ["admin"]}))
            .await;
        let problem = assert_problem(response, 422).await;
        assert_eq!(error_fields(&problem), vec!["roles"]);
        assert_eq!(app.count_users("eve@example.com").await, 0);
    }

    async fn wrong_password_and_unknown_email_are_the_same_401(app) {
        let user = app.user("ann").await;
        let wrong = assert_problem(app.login(&user.email, "wrong password!").await, 401).await;
        let unknown = assert_problem(app.login("nobody@example.com", PASSWORD).await, 401).await;
        assert_eq!(wrong["type"], unknown["type"]);
        assert_eq!(wrong["detail"], unknown["detail"]);
    }

    async fn refresh_rotates_and_reuse_revokes_the_family(app) {
        let user = app.user("ann").await;
        let response = app.post("/api/v1/auth/refresh", None, &json!({"refresh_token": user.refresh})).await;
        assert_eq!(response.status(), 200);
        let pair: Value = response.json().await.expect("json");
        let new_refresh = pair["refresh_token"].as_str().expect("refresh").to_owned();
        assert_ne!(new_refresh, user.refresh);
        let new_access = pair["access_token"].as_str().expect("access");
        assert_eq!(app.get("/api/v1/users/me", Some(new_access)).await.status(), 200);

        let reused = app.post("/api/v1/auth/refresh", None, &json!({"refresh_token": user.refresh})).await;
        assert_problem(reused, 401).await;
        let after = app.post("/api/v1/auth/refresh", None, &json!({"refresh_token": new_refresh})).await;
        assert_problem(after, 401).await;
    }

    async fn logout_ends_the_session(app) {
        let user = app.user("ann").await;
        let other = app.user("bob").await;
        let not_mine = app.post("/api/v1/auth/logout", Some(&other.access), &json!({"refresh_token": user.refresh})).await;
        assert_eq!(not_mine.status(), 204);
        let still = app.post("/api/v1/auth/refresh", None, &json!({"refresh_token": user.refresh})).await;
        assert_eq!(still.status(), 200, "another user cannot log me out");
        let pair: Value = still.json().await.expect("json");
        let refresh = pair["refresh_token"].as_str().expect("refresh");

        let response = app.post("/api/v1/auth/logout", Some(&user.access), &json!({"refresh_token": refresh})).await;
        assert_eq!(response.status(), 204);
        assert_problem(app.post("/api/v1/auth/refresh", None, &json!({"refresh_token": refresh})).await, 401).await;
        assert_problem(app.post("/api/v1/auth/logout", None, &json!({"refresh_token": refresh})).await, 401).await;
    }

    async fn profile_updates_are_validated_and_kept(app) {
        let user = app.user("ann").await;
        let response = app
            .put("/api/v1/users/me", &user.access, &json!({"name": "Ann Smith", "preferences": {"newsletter": false, "locale": "fr-FR"}}))
            .await;
        assert_eq!(response.status(), 200);
        let me: Value = app.get("/api/v1/users/me", Some(&user.access)).await.json().await.expect("json");
        assert_eq!(me["name"], "Ann Smith");
        assert_eq!(me["preferences"]["locale"], "fr-FR");

        let bad = app.put("/api/v1/users/me", &user.access, &json!({"name": "  ", "preferences": [1]})).await;
        let problem = assert_problem(bad, 422).await;
        assert_eq!(error_fields(&problem), vec!["name", "preferences"]);
        let me: Value = app.get("/api/v1/users/me", Some(&user.access)).await.json().await.expect("json");
        assert_eq!(me["name"], "Ann Smith", "nothing written");
    }

    async fn password_change_revokes_other_sessions_only(app) {
        let user = app.user("ann").await;
        let second: Value = app.login(&user.email, PASSWORD).await.json().await.expect("json");
        let second_refresh = second["refresh_token"].as_str().expect("refresh");

        let wrong = app
            .post("/api/v1/users/me/password", Some(&user.access), &json!({"current_password": "nope nope nope", "new_password": "a new password 1"}))
            .await;
        assert_eq!(error_fields(&assert_problem(wrong, 422).await), vec!["current_password"]);
        let weak = app
            .post("/api/v1/users/me/password", Some(&user.access), &json!({"current_password": PASSWORD, "new_password": "short"}))
            .await;
        assert_eq!(error_fields(&assert_problem(weak, 422).await), vec!["new_password"]);

        let response = app
            .post("/api/v1/users/me/password", Some(&user.access), &json!({"current_password": PASSWORD, "new_password": "a new password 1"}))
            .await;
        assert_eq!(response.status(), 204);
        assert_problem(app.post("/api/v1/auth/refresh", None, &json!({"refresh_token": second_refresh})).await, 401).await;
        let own = app.post("/api/v1/auth/refresh", None, &json!({"refresh_token": user.refresh})).await;
        assert_eq!(own.status(), 200, "the session that changed the password stays");
        assert_problem(app.login(&user.email, PASSWORD).await, 401).await;
        assert_eq!(app.login(&user.email, "a new password 1").await.status(), 200);
    }

    async fn mfa_is_required_at_login_once_verified(app) {
        let user = app.user("ann").await;
        let enrolment: Value = app
            .post("/api/v1/users/me/mfa/enable", Some(&user.access), &json!({}))
            .await
            .json()
            .await
            .expect("json");
        let secret = enrolment["secret"].as_str().expect("secret").to_owned();
        assert!(enrolment["otpauth_url"].as_str().is_some_and(|u| u.starts_with("otpauth://totp/") && u.contains(&secret)));
        let qr_svg = enrolment["qr_svg"].as_str().expect("qr_svg");
        assert!(qr_svg.starts_with("<?xml") || qr_svg.starts_with("<svg"), "an SVG document: {qr_svg}");
        assert!(qr_svg.contains("<svg") && qr_svg.contains("</svg>"), "a whole SVG document: {qr_svg}");
        assert_eq!(app.login(&user.email, PASSWORD).await.status(), 200, "not required until verified");

        let wrong = app.post("/api/v1/users/me/mfa/verify", Some(&user.access), &json!({"code": "000000"})).await;
        let wrong_ok = wrong.status() == 422;
        if !wrong_ok {
            // 000000 may be the real code once in a million; then it must have worked.
            assert_eq!(wrong.status(), 204);
        } else {
            let code = totp_now(&secret, &app.clock);
            let verified = app.post("/api/v1/users/me/mfa/verify", Some(&user.access), &json!({"code": code})).await;
            assert_eq!(verified.status(), 204);
        }

        let pending = assert_problem(app.login(&user.email, PASSWORD).await, 401).await;
        assert!(pending["type"].as_str().is_some_and(|t| t.ends_with("mfa-required")));
        let mfa_token = pending["mfa_token"].as_str().expect("mfa token").to_owned();

        app.clock.advance(Duration::from_secs(30));
        let code = totp_now(&secret, &app.clock);
        let done = app.post("/api/v1/auth/mfa", None, &json!({"mfa_token": mfa_token, "code": code})).await;
        assert_eq!(done.status(), 200);
        let replay = app.post("/api/v1/auth/mfa", None, &json!({"mfa_token": mfa_token, "code": code})).await;
        assert_problem(replay, 401).await;

        app.clock.advance(Duration::from_secs(30));
        let code = totp_now(&secret, &app.clock);
        let direct = app
            .post("/api/v1/auth/login", None, &json!({"email": user.email, "password": PASSWORD, "totp_code": code}))
            .await;
        assert_eq!(direct.status(), 200);
        let again = app.post("/api/v1/users/me/mfa/enable", Some(&user.access), &json!({})).await;
        assert_problem(again, 409).await;
    }

    async fn users_see_and_delete_only_themselves_admins_anyone(app) {
        let ann = app.user("ann").await;
        let bob = app.user("bob").await;
        let admin = app.admin().await;
        assert_eq!(app.get(&format!("/api/v1/users/{}", ann.id), Some(&ann.access)).await.status(), 200);
        assert_problem(app.get(&format!("/api/v1/users/{}", bob.id), Some(&ann.access)).await, 404).await;
        assert_problem(app.delete(&format!("/api/v1/users/{}", bob.id), &ann.access).await, 404).await;
        assert_problem(app.get("/api/v1/users/no-such-id", Some(&admin.access)).await, 404).await;
        let seen: Value = app.get(&format!("/api/v1/users/{}", bob.id), Some(&admin.access)).await.json().await.expect("json");
        assert_eq!(seen["email"], bob.email.as_str());

        assert_eq!(app.delete(&format!("/api/v1/users/{}", bob.id), &admin.access).await.status(), 204);
        assert_problem(app.get(&format!("/api/v1/users/{}", bob.id), Some(&admin.access)).await, 404).await;
        assert_problem(app.get("/api/v1/users/me", Some(&bob.access)).await, 401).await;
        assert_problem(app.post("/api/v1/auth/refresh", None, &json!({"refresh_token": bob.refresh})).await, 401).await;

        assert_eq!(app.delete(&format!("/api/v1/users/{}", ann.id), &ann.access).await.status(), 204);
        assert_problem(app.login(&ann.email, PASSWORD).await, 401).await;
        app.register(&ann.email).await;
    }

    async fn admins_search_users_with_pagination(app) {
        let customer = app.user("searcher").await;
        for i in 0..3 {
            app.register(&format!("pager{i}@needle.example")).await;
        }
        let admin = app.admin().await;
        assert_problem(app.get("/api/v1/users/search?q=needle", Some(&customer.access)).await, 403).await;
        let first: Value = app.get("/api/v1/users/search?q=NEEDLE&limit=2", Some(&admin.access)).await.json().await.expect("json");
        assert_eq!(first["items"].as_array().map(Vec::len), Some(2));
        let cursor = first["next_cursor"].as_str().expect("next cursor");
        let second: Value = app
            .get(&format!("/api/v1/users/search?q=needle&limit=2&cursor={cursor}"), Some(&admin.access))
            .await
            .json()
            .await
            .expect("json");
        assert_eq!(second["items"].as_array().map(Vec::len), Some(1));
        assert!(second["next_cursor"].is_null());
        assert_eq!(app.count_users("100%").await, 0, "LIKE wildcards are literal");
        assert_problem(app.get("/api/v1/users/search?q=x&limit=500", Some(&admin.access)).await, 422).await;
    }

    async fn api_keys_are_shown_once_scoped_and_revocable(app) {
        let admin = app.admin().await;
        let customer = app.user("ann").await;
        let body = json!({"name": "warehouse robot", "scopes": ["inventory:write"]});
        assert_problem(app.post("/api/v1/api-keys", Some(&customer.access), &body).await, 403).await;
        let response = app.post("/api/v1/api-keys", Some(&admin.access), &body).await;
        assert_eq!(response.status(), 201);
        let created: Value = response.json().await.expect("json");
        let key = created["key"].as_str().expect("key shown at creation").to_owned();
        let id = created["id"].as_str().expect("id").to_owned();
        assert_eq!(created["scopes"], json!(["inventory:write"]));

        let listed: Value = app.get("/api/v1/api-keys", Some(&admin.access)).await.json().await.expect("json");
        let items = listed["items"].as_array().expect("items");
        assert!(items.iter().any(|k| k["id"] == id.as_str()));
        assert!(items.iter().all(|k| k.get("key").is_none()), "never shown again");

        let with_key = |k: &str| app.client.get(app.url("/api/v1/users/search?q=x")).header("x-api-key", k.to_owned()).send();
        assert_problem(with_key(&key).await.expect("sent"), 403).await;
        assert_problem(with_key("vsk_not-a-key").await.expect("sent"), 401).await;

        let bad = app.post("/api/v1/api-keys", Some(&admin.access), &json!({"name": "x", "scopes": ["Bad Scope"]})).await;
        assert_eq!(error_fields(&assert_problem(bad, 422).await), vec!["scopes"]);

        assert_eq!(app.delete(&format!("/api/v1/api-keys/{id}"), &admin.access).await.status(), 204);
        assert_problem(with_key(&key).await.expect("sent"), 401).await;
        assert_problem(app.delete(&format!("/api/v1/api-keys/{id}"), &admin.access).await, 404).await;
    }

    async fn oidc_discovery_and_jwks_describe_the_signing_key(app) {
        let discovery: Value = app.get("/.well-known/openid-configuration", None).await.json().await.expect("json");
        let issuer = discovery["issuer"].as_str().expect("issuer");
        assert_eq!(discovery["jwks_uri"], format!("{issuer}/.well-known/jwks.json"));
        assert_eq!(discovery["token_endpoint"], format!("{issuer}/oauth2/token"));
        assert_eq!(discovery["id_token_signing_alg_values_supported"], json!(["RS256", "EdDSA"]));
        let jwks: Value = app.get("/.well-known/jwks.json", None).await.json().await.expect("json");
        let keys = jwks["keys"].as_array().expect("keys");
        assert_eq!(keys.len(), 1);
        assert_eq!(keys[0]["kty"], "OKP");
        assert_eq!(keys[0]["crv"], "Ed25519");
        assert_eq!(keys[0]["alg"], "EdDSA");
        let user = app.user("ann").await;
        let header = token_header(&user.access);
        assert_eq!(header["kid"], keys[0]["kid"]);
        assert_eq!(header["typ"], "at+jwt");
        let claims = token_claims(&user.access);
        assert_eq!(claims["iss"], issuer);
        assert_eq!(claims["exp"].as_i64().zip(claims["iat"].as_i64()).map(|(e, i)| e - i), Some(900));
    }

    async fn rotation_keeps_old_tokens_valid_until_they_expire(app) {
        let admin = app.admin().await;
        let user = app.user("ann").await;
        let old_kid = token_header(&user.access)["kid"].clone();
        let customer_rotation = app.post("/api/v1/signing-keys/rotate", Some(&user.access), &json!({})).await;
        assert_problem(customer_rotation, 403).await;
        let rotated: Value = app.post("/api/v1/signing-keys/rotate", Some(&admin.access), &json!({})).await.json().await.expect("json");
        assert_ne!(rotated["kid"], old_kid);
        assert_eq!(app.get("/api/v1/users/me", Some(&user.access)).await.status(), 200, "old key still verifies");
        let fresh = app.user("bob").await;
        assert_eq!(token_header(&fresh.access)["kid"], rotated["kid"]);
        let kids = |jwks: Value| -> Vec<Value> { jwks["keys"].as_array().map(|k| k.iter().map(|k| k["kid"].clone()).collect()).unwrap_or_default() };
        let both = kids(app.get("/.well-known/jwks.json", None).await.json().await.expect("json"));
        assert!(both.contains(&old_kid) && both.contains(&rotated["kid"]));

        app.clock.advance(Duration::from_secs(16 * 60));
        let later = kids(app.get("/.well-known/jwks.json", None).await.json().await.expect("json"));
        assert_eq!(later, vec![rotated["kid"].clone()], "the retired key is gone once its tokens expired");
    }

    async fn oauth2_token_endpoint_supports_three_grants(app) {
        let user = app.user("ann").await;
        let form = |pairs: &[(&str, &str)]| {
            app.client.post(app.url("/oauth2/token")).form(&pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect::<Vec<_>>()).send()
        };
        let password = form(&[("grant_type", "password"), ("username", &user.email), ("password", PASSWORD)]).await.expect("sent");
        let status = password.status();
        let pair: Value = password.json().await.expect("json");
        assert_eq!(status, 200, "{pair}");
        let refresh = pair["refresh_token"].as_str().expect("refresh").to_owned();

        let bad = form(&[("grant_type", "password"), ("username", &user.email), ("password", "nope")]).await.expect("sent");
        assert_eq!(assert_problem(bad, 400).await["error"], "invalid_grant");
        let refreshed = form(&[("grant_type", "refresh_token"), ("refresh_token", &refresh)]).await.expect("sent");
        assert_eq!(refreshed.status(), 200);
        let unsupported = form(&[("grant_type", "implicit")]).await.expect("sent");
        assert_eq!(assert_problem(unsupported, 400).await["error"], "unsupported_grant_type");
        let json_body = app.post("/oauth2/token", None, &json!({"grant_type": "password"})).await;
        assert_problem(json_body, 415).await;

        let admin = app.admin().await;
        let key: Value = app
            .post("/api/v1/api-keys", Some(&admin.access), &json!({"name": "reporting", "scopes": ["reports:read", "orders:read"]}))
            .await
            .json()
            .await
            .expect("json");
        let (id, secret) = (key["id"].as_str().expect("id"), key["key"].as_str().expect("key"));
        let client = form(&[("grant_type", "client_credentials"), ("client_id", id), ("client_secret", secret), ("scope", "reports:read")])
            .await
            .expect("sent");
        assert_eq!(client.status(), 200);
        let token: Value = client.json().await.expect("json");
        assert_eq!(token["scope"], "reports:read");
        assert!(token.get("refresh_token").is_none());
        let access = token["access_token"].as_str().expect("access");
        assert_eq!(token_claims(access)["client_id"], id);
        let basic = app
            .client
            .post(app.url("/oauth2/token"))
            .basic_auth(id, Some(secret))
            .form(&[("grant_type", "client_credentials")])
            .send()
            .await
            .expect("sent");
        assert_eq!(basic.status(), 200);
        let wrong = form(&[("grant_type", "client_credentials"), ("client_id", id), ("client_secret", "vsk_wrong")]).await.expect("sent");
        assert_eq!(assert_problem(wrong, 401).await["error"], "invalid_client");
        let too_much = form(&[("grant_type", "client_credentials"), ("client_id", id), ("client_secret", secret), ("scope", "admin")])
            .await
            .expect("sent");
        assert_eq!(assert_problem(too_much, 400).await["error"], "invalid_scope");
    }

    async fn oauth2_revoke_and_userinfo(app) {
        let user = app.user("ann").await;
        let info: Value = app.get("/oauth2/userinfo", Some(&user.access)).await.json().await.expect("json");
        assert_eq!(info["sub"], user.id.as_str());
        assert_eq!(info["email"], user.email.as_str());
        assert_problem(app.get("/oauth2/userinfo", None).await, 401).await;
        let revoke = |token: &str| app.client.post(app.url("/oauth2/revoke")).form(&[("token", token.to_owned())]).send();
        assert_eq!(revoke(&user.refresh).await.expect("sent").status(), 200);
        assert_eq!(revoke("unknown-token").await.expect("sent").status(), 200, "RFC 7009: always 200");
        assert_problem(app.post("/api/v1/auth/refresh", None, &json!({"refresh_token": user.refresh})).await, 401).await;
    }

    async fn registration_emits_user_created_through_the_outbox(app) {
        let user = app.user("evented").await;
        let admin = app.admin().await;
        app.put("/api/v1/users/me", &user.access, &json!({"name": "Renamed"})).await;
        assert_eq!(app.delete(&format!("/api/v1/users/{}", user.id), &admin.access).await.status(), 204);
        let db = app.identity().db().clone();
        let types: Vec<String> = platform::db::query_scalar("SELECT event_type FROM outbox WHERE subject = $1 ORDER BY seq")
            .bind(&user.id)
            .fetch_all(db.reader())
            .await
            .expect("outbox");
        // The sign-in of `app.user` announced its session (issue 21).
        assert_eq!(types, vec!["identity.user.created.v1", "identity.user.authenticated.v1", "identity.user.updated.v1", "identity.user.deleted.v1"]);
        // Distributed: the relay publishes them. Embedded: the rows are the log, so they
        // are stored as published and never wait in the relay's index.
        eventually(Duration::from_secs(10), "relay to publish", || {
            let db = db.clone();
            async move {
                let pending: i64 = platform::db::query_scalar("SELECT COUNT(*) FROM outbox WHERE published_at IS NULL")
                    .fetch_one(db.reader())
                    .await
                    .ok()?;
                (pending == 0).then_some(())
            }
        })
        .await;
    }

    async fn a_nul_in_a_sign_in_an_id_a_query_or_a_cursor_is_a_4xx(app) {
        // PostgreSQL refuses a NUL in text: none may reach a query as a 500.
        let admin = app.admin().await;
        let login = app.post("/api/v1/auth/login", None, &json!({"email": "a\u{0}b@example.com", "password": "x"})).await;
        assert_problem(login, 401).await;
        let token = app.client.post(app.url("/oauth2/token")).form(&[("grant_type", "password"), ("username", "a\u{0}b"), ("password", "x")]);
        assert_eq!(assert_problem(token.send().await.expect("sent"), 400).await["error"], "invalid_grant");
        let nul_cursor = data_encoding::BASE64URL_NOPAD.encode(b"\0");
        for (path, status) in [
            ("/api/v1/users/%00".to_owned(), 404),
            ("/api/v1/tenants/%00".to_owned(), 404),
            ("/api/v1/users/search?q=%00".to_owned(), 422),
            (format!("/api/v1/users/search?cursor={nul_cursor}"), 422),
            (format!("/api/v1/api-keys?cursor={nul_cursor}"), 422),
            (format!("/api/v1/tenants?cursor={nul_cursor}"), 422),
        ] {
            assert_eq!(app.get(&path, Some(&admin.access)).await.status(), status, "{path}");
        }
        assert_problem(app.delete("/api/v1/api-keys/%00", &admin.access).await, 404).await;
        assert_problem(app.delete("/api/v1/users/%00", &admin.access).await, 404).await;
    }

    async fn health_and_metrics_through_the_gateway(app) {
        let health: Value = app.get("/health", None).await.json().await.expect("json");
        assert_eq!(health["status"], "ok");
        assert_eq!(health["services"]["identity"]["checks"]["database"]["status"], "ok");
        assert_eq!(health["services"]["identity"]["checks"]["bus"]["status"], "ok");
        app.user("metered").await;
        let metrics = app.get("/metrics", None).await.text().await.expect("text");
        assert!(metrics.contains("viscount_http_requests_total"));
        assert!(metrics.contains("route=\"/api/v1/auth/login\""), "service routes are labelled exactly");
    }
}

/// The decoded JOSE header of a token.
fn token_header(token: &str) -> Value {
    decode_part(token, 0)
}

/// The decoded claims of a token.
fn token_claims(token: &str) -> Value {
    decode_part(token, 1)
}

fn decode_part(token: &str, index: usize) -> Value {
    let part = token.split('.').nth(index).expect("token part");
    let bytes = data_encoding::BASE64URL_NOPAD
        .decode(part.as_bytes())
        .expect("base64url");
    serde_json::from_slice(&bytes).expect("json")
}
