//! Hostile and broken request bodies through the gateway, in both shapes: each is
//! refused with the right problem+json and writes nothing.

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use viscount_tests::*;

both_shapes! {
    async fn malformed_json_is_a_400_problem_and_writes_nothing(app) {
        let tag = unique("malformed");
        let email = format!("{tag}@example.com");
        let bodies = [
            format!(r#"{{"email": "{email}", "password": "{PASSWORD}", "name": "M""#),
            format!(r#"{{"email": "{email}", "password": "{PASSWORD}", "name": "M"}} and more"#),
            format!(r#"{{"email": '{email}', "password": "{PASSWORD}", "name": "M"}}"#),
            format!(r#"{{"email": "{email}", "password": "{PASSWORD}", "name": "M",}}"#),
            String::new(),
        ];
        for body in bodies {
            let response = post_raw(&app, "/api/v1/users", Some("application/json"), body.clone().into_bytes()).await;
            let problem = assert_problem(response, 400).await;
            assert!(problem["type"].as_str().is_some_and(|t| t.ends_with("bad-request")), "{body}: {problem}");
        }
        // Invalid UTF-8 inside a string.
        let mut bytes = format!(r#"{{"email": "{email}", "password": "{PASSWORD}", "name": "M"#).into_bytes();
        bytes.extend_from_slice(&[0xff, 0xfe, b'"', b'}']);
        assert_problem(post_raw(&app, "/api/v1/users", Some("application/json"), bytes).await, 400).await;
        assert_eq!(app.count_users(&tag).await, 0);
    }

    async fn a_body_that_is_not_json_is_a_415_problem(app) {
        let tag = unique("mediatype");
        let body = registration(&format!("{tag}@example.com"));
        let bytes = serde_json::to_vec(&body).expect("json serializes");
        for content_type in [Some("text/plain"), Some("application/x-www-form-urlencoded"), Some("application/jsonp"), None] {
            let response = post_raw(&app, "/api/v1/users", content_type, bytes.clone()).await;
            let problem = assert_problem(response, 415).await;
            assert!(problem["type"].as_str().is_some_and(|t| t.ends_with("unsupported-media-type")), "{content_type:?}: {problem}");
        }
        assert_eq!(app.count_users(&tag).await, 0);
        // The same bytes as JSON (with parameters) are fine: the 415s were about the type.
        let response = post_raw(&app, "/api/v1/users", Some("Application/JSON; charset=utf-8"), bytes).await;
        assert_eq!(response.status(), 201);
        assert_eq!(app.count_users(&tag).await, 1);
    }

    async fn a_body_over_one_mebibyte_is_a_413_problem(app) {
        let tag = unique("oversized");
        let mut body = registration(&format!("{tag}@example.com"));
        body["name"] = json!("a".repeat(2 * 1024 * 1024));
        let bytes = serde_json::to_vec(&body).expect("json serializes");
        // The server answers 413 as soon as it sees the length and closes without reading
        // the rest: a client still writing may see the close (a broken pipe) before the
        // answer. Such a send is tried again; the 413 itself must come.
        let mut attempts = 0;
        let response = loop {
            attempts += 1;
            let mut request = app.client.post(app.url("/api/v1/users")).body(bytes.clone());
            request = request.header("content-type", "application/json");
            match request.send().await {
                Ok(response) => break response,
                Err(err) if attempts < 5 && err.is_request() => continue,
                Err(err) => panic!("request sent: {err:?}"),
            }
        };
        // The unread rest of the body ends the connection; the client must be told, or
        // its next request (the count below) goes down the closed connection and fails.
        let connection = response.headers().get("connection").and_then(|v| v.to_str().ok()).map(str::to_owned);
        assert_eq!(connection.as_deref(), Some("close"));
        let problem = assert_problem(response, 413).await;
        assert!(problem["type"].as_str().is_some_and(|t| t.ends_with("payload-too-large")), "{problem}");
        assert_eq!(app.count_users(&tag).await, 0);
    }

    async fn unknown_fields_are_named_in_a_422(app) {
        let tag = unique("unknown");
        for (field, value) in [("roles", json!(["admin"])), ("id", json!("u1")), ("mfa_enabled", json!(true))] {
            let mut body = registration(&format!("{tag}@example.com"));
            body[field] = value;
            let problem = assert_problem(app.post("/api/v1/users", None, &body).await, 422).await;
            assert_eq!(error_fields(&problem), vec![field]);
        }
        assert_eq!(app.count_users(&tag).await, 0);
    }

    async fn missing_and_mistyped_fields_are_named_in_a_422(app) {
        let tag = unique("missing");
        for field in ["email", "password", "name"] {
            let mut body = registration(&format!("{tag}@example.com"));
            body.as_object_mut().expect("an object").remove(field);
            let problem = assert_problem(app.post("/api/v1/users", None, &body).await, 422).await;
            assert_eq!(error_fields(&problem), vec![field], "missing {field}");

            for wrong in [json!(null), json!(42), json!(["x"]), json!({"x": 1})] {
                let mut body = registration(&format!("{tag}@example.com"));
                body[field] = wrong.clone();
                let problem = assert_problem(app.post("/api/v1/users", None, &body).await, 422).await;
                assert_eq!(error_fields(&problem), vec![field], "{field}: {wrong}");
            }
        }
        assert_eq!(app.count_users(&tag).await, 0);
    }

    async fn very_long_strings_are_named_in_a_422(app) {
        let tag = unique("long");
        let email = format!("{tag}@example.com");
        let long_email = format!("{}{email}", "a".repeat(100_000));
        let cases = [
            ("name", json!({"email": email, "password": PASSWORD, "name": "n".repeat(10_000)})),
            ("email", json!({"email": long_email, "password": PASSWORD, "name": "Long"})),
            ("password", json!({"email": email, "password": "p".repeat(100_000), "name": "Long"})),
        ];
        for (field, body) in &cases {
            let problem = assert_problem(app.post("/api/v1/users", None, body).await, 422).await;
            assert_eq!(error_fields(&problem), vec![*field]);
        }
        // All at once: one answer names every field.
        let all = json!({"email": long_email, "password": "p".repeat(100_000), "name": "n".repeat(10_000)});
        let problem = assert_problem(app.post("/api/v1/users", None, &all).await, 422).await;
        assert_eq!(error_fields(&problem), vec!["email", "password", "name"]);
        assert_eq!(app.count_users(&tag).await, 0);
    }

    async fn control_characters_in_a_name_are_a_422(app) {
        let tag = unique("control");
        for name in ["Ann\u{0}Smith", "Ann\u{7}", "\u{1b}[2JAnn", "Ann\u{7f}Smith", "An\u{85}n", "Ann\nSmith", "Ann\tSmith"] {
            let body = json!({"email": format!("{tag}@example.com"), "password": PASSWORD, "name": name});
            let problem = assert_problem(app.post("/api/v1/users", None, &body).await, 422).await;
            assert_eq!(error_fields(&problem), vec!["name"], "{name:?}");
        }
        assert_eq!(app.count_users(&tag).await, 0);
    }

    async fn a_non_ascii_name_is_kept_intact(app) {
        let tag = unique("unicode");
        let email = format!("{tag}@example.com");
        let name = "Zoë 李小龍";
        let response = app.post("/api/v1/users", None, &json!({"email": email, "password": PASSWORD, "name": name})).await;
        assert_eq!(response.status(), 201);
        let created: Value = response.json().await.expect("user json");
        assert_eq!(created["name"], name);
        let tokens: Value = app.login(&email, PASSWORD).await.json().await.expect("tokens json");
        let access = tokens["access_token"].as_str().expect("access token");
        let me: Value = app.get("/api/v1/users/me", Some(access)).await.json().await.expect("me json");
        assert_eq!(me["name"], name);
        assert_eq!(me["name"].as_str().map(str::len), Some(name.len()), "same bytes");
        assert_eq!(app.count_users(&tag).await, 1);
    }

    async fn non_ascii_garbage_in_an_email_is_a_422(app) {
        let tag = unique("garbage");
        let emails = [
            format!("🦀🦀🦀{tag}"),
            format!("{tag}@🦀"),
            format!("{tag}🦀@@example.com"),
            format!("{tag}@exam\u{0}ple.com"),
            format!("{tag}\u{2028}x@example.com"),
            format!("{tag}@例え"),
        ];
        for email in emails {
            let problem = assert_problem(app.post("/api/v1/users", None, &registration(&email)).await, 422).await;
            assert_eq!(error_fields(&problem), vec!["email"], "{email:?}");
        }
        assert_eq!(app.count_users(&tag).await, 0);
    }

    async fn json_that_is_not_an_object_is_a_422(app) {
        let tag = unique("notobject");
        let email = format!("{tag}@example.com");
        let bodies = [json!([]), json!([email, PASSWORD, "Positional"]), json!(email), json!(42), json!(null), json!(true)];
        for body in bodies {
            let problem = assert_problem(app.post("/api/v1/users", None, &body).await, 422).await;
            assert_eq!(error_fields(&problem), vec!["body"], "{body}");
        }
        assert_eq!(app.count_users(&tag).await, 0);
    }

    async fn deeply_nested_json_is_refused_without_harm(app) {
        let user = app.user("nested").await;
        let depth = 100_000;
        let body = format!(r#"{{"preferences": {}1{}}}"#, "[".repeat(depth), "]".repeat(depth));
        let response = app
            .client
            .put(app.url("/api/v1/users/me"))
            .bearer_auth(&user.access)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .expect("request sent");
        assert_problem(response, 400).await;
        let me: Value = app.get("/api/v1/users/me", Some(&user.access)).await.json().await.expect("me json");
        assert_eq!(me["preferences"], json!({}), "nothing written");
    }

    async fn bad_tokens_and_credentials_at_the_auth_endpoints_are_401s(app) {
        let user = app.user("authbad").await;
        let huge = "x".repeat(100 * 1024);
        for token in ["", " ", "vrt_", huge.as_str(), user.access.as_str()] {
            let response = app.post("/api/v1/auth/refresh", None, &json!({"refresh_token": token})).await;
            assert_problem(response, 401).await;
        }
        for body in [json!({}), json!({"refresh_token": null}), json!({"refresh_token": 1})] {
            let problem = assert_problem(app.post("/api/v1/auth/refresh", None, &body).await, 422).await;
            assert_eq!(error_fields(&problem), vec!["refresh_token"], "{body}");
        }

        let started = Instant::now();
        assert_problem(app.login(&user.email, &huge).await, 401).await;
        assert_problem(app.login(&huge, PASSWORD).await, 401).await;
        assert_problem(app.login("", "").await, 401).await;
        assert!(started.elapsed() < Duration::from_secs(10), "took {:?}", started.elapsed());
        let problem = assert_problem(app.post("/api/v1/auth/login", None, &json!({"email": user.email, "password": 1})).await, 422).await;
        assert_eq!(error_fields(&problem), vec!["password"]);

        let oauth = app
            .client
            .post(app.url("/oauth2/token"))
            .form(&[("grant_type", "password"), ("username", user.email.as_str()), ("password", huge.as_str())])
            .send()
            .await
            .expect("request sent");
        assert_eq!(assert_problem(oauth, 400).await["error"], "invalid_grant");

        let mfa = app.post("/api/v1/auth/mfa", None, &json!({"mfa_token": "", "code": ""})).await;
        assert_problem(mfa, 401).await;
        let mfa = app.post("/api/v1/auth/mfa", None, &json!({"mfa_token": huge, "code": "123456"})).await;
        assert_problem(mfa, 401).await;

        // None of it counted against the account or broke it.
        assert_eq!(app.login(&user.email, PASSWORD).await.status(), 200);
    }
}

/// `label` plus a unique suffix, to find this test's rows by.
fn unique(label: &str) -> String {
    format!(
        "{label}{}",
        &uuid::Uuid::now_v7().simple().to_string()[20..]
    )
}

/// A valid registration body for `email`.
fn registration(email: &str) -> Value {
    json!({"email": email, "password": PASSWORD, "name": "Bad Input"})
}

/// POSTs raw bytes with the given content type (none when `None`).
async fn post_raw(
    app: &TestApp,
    path: &str,
    content_type: Option<&str>,
    body: Vec<u8>,
) -> reqwest::Response {
    let mut request = app.client.post(app.url(path)).body(body);
    if let Some(content_type) = content_type {
        request = request.header("content-type", content_type);
    }
    request.send().await.expect("request sent")
}
