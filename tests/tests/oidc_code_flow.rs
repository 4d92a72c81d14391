//! Identity as an OpenID Connect provider for browsers (issue 19, item 1), through the
//! gateway in both shapes: discovery lists the code flow; a user signs in on the
//! authorization page (password, then a one-time code when MFA is on) and the client
//! exchanges the code with its PKCE verifier for tokens and an RS256 ID token carrying
//! the nonce, verified here against the JWKS; and the errors RFC 6749 and RFC 7636 name
//! for a wrong redirect URI (never redirected to), a missing or wrong verifier, a
//! reused code (which revokes what it issued) and an expired one.

use std::time::Duration;

use data_encoding::BASE64URL_NOPAD;
use ring::signature::{RSA_PKCS1_2048_8192_SHA256, RsaPublicKeyComponents};
use serde_json::Value;
use viscount_tests::shop::json_of;
use viscount_tests::{
    PASSWORD, Shape, TestApp, in_both_shapes, spawn_app, spawn_app_with_vars, totp_now,
};

in_both_shapes!(
    discovery_lists_the_code_flow_with_pkce_and_rs256,
    a_user_signs_in_and_the_client_gets_a_verified_id_token,
    the_rfc_6749_errors_of_bad_requests_and_bad_exchanges,
    an_expired_code_is_refused,
    a_code_exchanged_at_once_many_times_gives_tokens_once,
    a_password_change_burns_the_codes_not_yet_exchanged,
    with_mfa_the_page_asks_for_the_one_time_code,
);

const CLIENT: &str = "viscount-console";
/// RFC 7636 appendix B.
const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

/// A client that shows redirects instead of following them, as a test of a redirect
/// must.
fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
}

async fn discovery(app: &TestApp) -> Value {
    json_of(app.get("/.well-known/openid-configuration", None).await).await
}

/// The console's redirect URI on this platform.
async fn callback(app: &TestApp) -> String {
    format!(
        "{}/auth/callback",
        discovery(app).await["issuer"].as_str().expect("issuer")
    )
}

/// The authorization request's query, with `overrides` replacing (or, with an empty
/// value, dropping) parameters.
fn request(redirect_uri: &str, overrides: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut params: Vec<(String, String)> = [
        ("response_type", "code"),
        ("client_id", CLIENT),
        ("redirect_uri", redirect_uri),
        ("scope", "openid email profile"),
        ("state", "state-1"),
        ("nonce", "nonce-1"),
        ("code_challenge", CHALLENGE),
        ("code_challenge_method", "S256"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    for (name, value) in overrides {
        params.retain(|(k, _)| k != name);
        if !value.is_empty() {
            params.push(((*name).to_owned(), (*value).to_owned()));
        }
    }
    params
}

/// The authorization endpoint's answer to a request of `params`.
async fn authorize(app: &TestApp, params: &[(String, String)]) -> reqwest::Response {
    browser()
        .get(app.url("/oauth2/authorize"))
        .query(params)
        .send()
        .await
        .expect("authorization endpoint")
}

/// The session's next refresh, answered (the rotated token, or the refusal).
async fn refresh(app: &TestApp, token: &str) -> reqwest::Response {
    app.post(
        "/api/v1/auth/refresh",
        None,
        &serde_json::json!({"refresh_token": token}),
    )
    .await
}

/// Posts the sign-in form of `params` with `fields`.
async fn sign_in(
    app: &TestApp,
    params: &[(String, String)],
    fields: &[(&str, &str)],
) -> reqwest::Response {
    let mut form: Vec<(String, String)> = params.to_vec();
    form.extend(
        fields
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
    );
    browser()
        .post(app.url("/oauth2/authorize"))
        .form(&form)
        .send()
        .await
        .expect("sign-in posted")
}

/// The query parameter `name` of a redirect's `Location`, which must go to `to`.
fn redirected(response: &reqwest::Response, to: &str, name: &str) -> Option<String> {
    assert_eq!(response.status(), 303, "a redirect");
    let location = response
        .headers()
        .get("location")
        .and_then(|l| l.to_str().ok())
        .expect("a Location");
    assert!(location.starts_with(to), "{location} goes to {to}");
    let url = reqwest::Url::parse(location).expect("a URL");
    url.query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

/// Signs `email` in through the page and answers the code sent to the client.
async fn code_for(app: &TestApp, email: &str, redirect_uri: &str) -> String {
    let signed_in = sign_in(
        app,
        &request(redirect_uri, &[]),
        &[("email", email), ("password", PASSWORD)],
    )
    .await;
    assert_eq!(
        redirected(&signed_in, redirect_uri, "state").as_deref(),
        Some("state-1")
    );
    redirected(&signed_in, redirect_uri, "code").expect("a code")
}

/// The token endpoint's answer to exchanging `code` with `verifier` (none: absent).
async fn exchange(
    app: &TestApp,
    code: &str,
    redirect_uri: &str,
    verifier: Option<&str>,
) -> reqwest::Response {
    let mut form = vec![
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", redirect_uri),
        ("client_id", CLIENT),
    ];
    if let Some(verifier) = verifier {
        form.push(("code_verifier", verifier));
    }
    browser()
        .post(app.url("/oauth2/token"))
        .form(&form)
        .send()
        .await
        .expect("token endpoint")
}

/// `response` is RFC 6749's error `error`, status 400.
async fn assert_oauth_error(response: reqwest::Response, error: &str) {
    assert_eq!(response.status(), 400);
    let body = json_of(response).await;
    assert_eq!(body["error"], error, "{body}");
}

/// The claims of `id_token` once its RS256 signature is verified with the JWKS key it
/// names.
async fn verified_claims(app: &TestApp, id_token: &str) -> Value {
    let mut parts = id_token.split('.');
    let (Some(header), Some(payload), Some(signature), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        panic!("three parts: {id_token}");
    };
    let decode = |part: &str| BASE64URL_NOPAD.decode(part.as_bytes()).expect("base64url");
    let header: Value = serde_json::from_slice(&decode(header)).expect("header");
    assert_eq!(header["alg"], "RS256", "{header}");
    let jwks = json_of(app.get("/.well-known/jwks.json", None).await).await;
    let key = jwks["keys"]
        .as_array()
        .and_then(|keys| keys.iter().find(|k| k["kid"] == header["kid"]))
        .expect("the ID token's key is published");
    assert_eq!((&key["kty"], &key["alg"]), (&"RSA".into(), &"RS256".into()));
    let public = RsaPublicKeyComponents {
        n: decode(key["n"].as_str().expect("n")),
        e: decode(key["e"].as_str().expect("e")),
    };
    let signed = format!(
        "{}.{payload}",
        id_token.split('.').next().expect("header part")
    );
    public
        .verify(
            &RSA_PKCS1_2048_8192_SHA256,
            signed.as_bytes(),
            &decode(signature),
        )
        .expect("the signature verifies");
    serde_json::from_slice(&decode(payload)).expect("claims")
}

async fn discovery_lists_the_code_flow_with_pkce_and_rs256(shape: Shape) {
    let Some(app) = spawn_app(shape).await else {
        return;
    };
    let found = discovery(&app).await;
    let issuer = found["issuer"].as_str().expect("issuer");
    assert_eq!(
        found["authorization_endpoint"],
        format!("{issuer}/oauth2/authorize")
    );
    assert_eq!(
        found["response_types_supported"],
        serde_json::json!(["code"])
    );
    assert_eq!(
        found["code_challenge_methods_supported"],
        serde_json::json!(["S256"])
    );
    let algs = found["id_token_signing_alg_values_supported"].to_string();
    assert!(algs.contains("RS256") && algs.contains("EdDSA"), "{algs}");
    let grants = found["grant_types_supported"].to_string();
    assert!(grants.contains("authorization_code"), "{grants}");
}

async fn a_user_signs_in_and_the_client_gets_a_verified_id_token(shape: Shape) {
    let Some(app) = spawn_app(shape).await else {
        return;
    };
    let user = app.user("oidc").await;
    let redirect_uri = callback(&app).await;
    let params = request(&redirect_uri, &[]);

    let page = authorize(&app, &params).await;
    assert_eq!(page.status(), 200);
    let policy = page
        .headers()
        .get("content-security-policy")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert!(
        policy.contains("default-src 'none'") && policy.contains("frame-ancestors 'none'"),
        "{policy}"
    );
    let html = page.text().await.expect("html");
    assert!(
        html.contains("name=\"password\"") && html.contains(CHALLENGE),
        "the page carries the request: {html}"
    );

    let wrong = sign_in(
        &app,
        &params,
        &[("email", &user.email), ("password", "nope")],
    )
    .await;
    assert_eq!(wrong.status(), 200, "the page again");
    let html = wrong.text().await.expect("html");
    assert!(html.contains("role=\"alert\""), "{html}");
    assert!(html.contains(&user.email), "the email stays filled in");
    assert!(!html.contains("nope"), "the password is never echoed");

    let code = code_for(&app, &user.email, &redirect_uri).await;
    let tokens = exchange(&app, &code, &redirect_uri, Some(VERIFIER)).await;
    assert_eq!(tokens.status(), 200);
    assert_eq!(
        tokens
            .headers()
            .get("cache-control")
            .and_then(|v| v.to_str().ok()),
        Some("no-store")
    );
    let tokens = json_of(tokens).await;
    let claims = verified_claims(&app, tokens["id_token"].as_str().expect("an ID token")).await;
    let issuer = discovery(&app).await["issuer"].clone();
    assert_eq!(claims["iss"], issuer);
    assert_eq!(claims["sub"], user.id.as_str());
    assert_eq!(claims["aud"], CLIENT);
    assert_eq!(claims["nonce"], "nonce-1");
    assert_eq!(claims["email"], user.email.as_str());
    assert_eq!(claims["amr"], serde_json::json!(["pwd"]));
    assert!(claims["exp"].as_i64() > claims["iat"].as_i64());

    // The access token is the platform's own; the refresh token refreshes.
    let access = tokens["access_token"].as_str().expect("access token");
    assert_eq!(
        app.get("/api/v1/users/me", Some(access)).await.status(),
        200
    );
    let first = tokens["refresh_token"].as_str().expect("refresh token");
    let refreshed = refresh(&app, first).await;
    assert_eq!(refreshed.status(), 200);
    let rotated = json_of(refreshed).await["refresh_token"]
        .as_str()
        .expect("rotated")
        .to_owned();

    // The code again: refused, and the session it started is revoked.
    assert_oauth_error(
        exchange(&app, &code, &redirect_uri, Some(VERIFIER)).await,
        "invalid_grant",
    )
    .await;
    let revoked = refresh(&app, &rotated).await;
    assert_eq!(revoked.status(), 401, "the reused code revoked its session");
}

async fn the_rfc_6749_errors_of_bad_requests_and_bad_exchanges(shape: Shape) {
    let Some(app) = spawn_app(shape).await else {
        return;
    };
    let user = app.user("errors").await;
    let redirect_uri = callback(&app).await;

    // An unknown client or redirect URI: answered here, never redirected to.
    for overrides in [
        vec![("redirect_uri", "https://evil.example/cb")],
        vec![("redirect_uri", "")],
        vec![("client_id", "nobody")],
    ] {
        let refused = authorize(&app, &request(&redirect_uri, &overrides)).await;
        assert!(refused.headers().get("location").is_none(), "{overrides:?}");
        assert_oauth_error(refused, "invalid_request").await;
    }
    // Anything else goes back to the client as `error`, with the state.
    for (overrides, error) in [
        (vec![("code_challenge", "")], "invalid_request"),
        (vec![("code_challenge_method", "plain")], "invalid_request"),
        (
            vec![("response_type", "token")],
            "unsupported_response_type",
        ),
        (vec![("scope", "email")], "invalid_scope"),
    ] {
        let refused = authorize(&app, &request(&redirect_uri, &overrides)).await;
        assert_eq!(
            redirected(&refused, &redirect_uri, "error").as_deref(),
            Some(error),
            "{overrides:?}"
        );
        assert_eq!(
            redirected(&refused, &redirect_uri, "state").as_deref(),
            Some("state-1")
        );
    }

    // A missing or wrong verifier, another redirect URI, another client: refused, and
    // the code is burnt by the attempt.
    let wrong_verifier = "x".repeat(43);
    for verifier in [None, Some(wrong_verifier.as_str())] {
        let code = code_for(&app, &user.email, &redirect_uri).await;
        assert_oauth_error(
            exchange(&app, &code, &redirect_uri, verifier).await,
            "invalid_grant",
        )
        .await;
        assert_oauth_error(
            exchange(&app, &code, &redirect_uri, Some(VERIFIER)).await,
            "invalid_grant",
        )
        .await;
    }
    let code = code_for(&app, &user.email, &redirect_uri).await;
    let elsewhere = format!("{redirect_uri}/other");
    assert_oauth_error(
        exchange(&app, &code, &elsewhere, Some(VERIFIER)).await,
        "invalid_grant",
    )
    .await;
    assert_oauth_error(
        exchange(&app, "vac_made_up", &redirect_uri, Some(VERIFIER)).await,
        "invalid_grant",
    )
    .await;
    let missing = browser()
        .post(app.url("/oauth2/token"))
        .form(&[("grant_type", "authorization_code"), ("client_id", CLIENT)])
        .send()
        .await
        .expect("token endpoint");
    assert_oauth_error(missing, "invalid_request").await;
}

async fn an_expired_code_is_refused(shape: Shape) {
    let Some(app) = spawn_app_with_vars(
        shape,
        &[("VISCOUNT_IDENTITY__AUTHORIZATION_CODE_TTL_SECS", "1")],
    )
    .await
    else {
        return;
    };
    let user = app.user("late").await;
    let redirect_uri = callback(&app).await;
    let code = code_for(&app, &user.email, &redirect_uri).await;
    // The code's lifetime passes on the platform's clock.
    app.clock.advance(Duration::from_secs(2));
    assert_oauth_error(
        exchange(&app, &code, &redirect_uri, Some(VERIFIER)).await,
        "invalid_grant",
    )
    .await;
}

async fn with_mfa_the_page_asks_for_the_one_time_code(shape: Shape) {
    let Some(app) = spawn_app(shape).await else {
        return;
    };
    let user = app.user("second-factor").await;
    let enrolment = json_of(
        app.post(
            "/api/v1/users/me/mfa/enable",
            Some(&user.access),
            &serde_json::json!({}),
        )
        .await,
    )
    .await;
    let secret = enrolment["secret"].as_str().expect("secret").to_owned();
    let verified = app
        .post(
            "/api/v1/users/me/mfa/verify",
            Some(&user.access),
            &serde_json::json!({"code": totp_now(&secret, &app.clock)}),
        )
        .await;
    assert_eq!(verified.status(), 204);
    app.clock.advance(Duration::from_secs(30));

    let redirect_uri = callback(&app).await;
    let params = request(&redirect_uri, &[]);
    let step = sign_in(
        &app,
        &params,
        &[("email", &user.email), ("password", PASSWORD)],
    )
    .await;
    assert_eq!(step.status(), 200, "the one-time code's step");
    let html = step.text().await.expect("html");
    assert!(html.contains("name=\"totp_code\""), "{html}");
    let mfa_token = html
        .split("name=\"mfa_token\" value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("the pending sign-in")
        .to_owned();

    let wrong = sign_in(
        &app,
        &params,
        &[("mfa_token", &mfa_token), ("totp_code", "000000")],
    )
    .await;
    if wrong.status() == 200 {
        let html = wrong.text().await.expect("html");
        assert!(
            html.contains("role=\"alert\"") && html.contains("totp_code"),
            "{html}"
        );
    }
    let code = totp_now(&secret, &app.clock);
    let done = sign_in(
        &app,
        &params,
        &[("mfa_token", &mfa_token), ("totp_code", &code)],
    )
    .await;
    let code = redirected(&done, &redirect_uri, "code").expect("a code");
    let tokens = json_of(exchange(&app, &code, &redirect_uri, Some(VERIFIER)).await).await;
    let claims = verified_claims(&app, tokens["id_token"].as_str().expect("ID token")).await;
    assert_eq!(claims["amr"], serde_json::json!(["pwd", "otp"]));
}

async fn a_code_exchanged_at_once_many_times_gives_tokens_once(shape: Shape) {
    let Some(app) = spawn_app(shape).await else {
        return;
    };
    let user = app.user("racer").await;
    let redirect_uri = callback(&app).await;
    let code = code_for(&app, &user.email, &redirect_uri).await;
    let exchanges = (0..6).map(|_| exchange(&app, &code, &redirect_uri, Some(VERIFIER)));
    let statuses: Vec<u16> = futures_util::future::join_all(exchanges)
        .await
        .iter()
        .map(|r| r.status().as_u16())
        .collect();
    assert_eq!(
        statuses.iter().filter(|s| **s == 200).count(),
        1,
        "one exchange wins: {statuses:?}"
    );
    assert!(
        statuses.iter().all(|s| *s == 200 || *s == 400),
        "{statuses:?}"
    );
}

async fn a_password_change_burns_the_codes_not_yet_exchanged(shape: Shape) {
    let Some(app) = spawn_app(shape).await else {
        return;
    };
    let user = app.user("changer").await;
    let redirect_uri = callback(&app).await;
    let code = code_for(&app, &user.email, &redirect_uri).await;
    let changed = app
        .post(
            "/api/v1/users/me/password",
            Some(&user.access),
            &serde_json::json!({"current_password": PASSWORD, "new_password": "a new password 1"}),
        )
        .await;
    assert_eq!(changed.status(), 204);
    assert_oauth_error(
        exchange(&app, &code, &redirect_uri, Some(VERIFIER)).await,
        "invalid_grant",
    )
    .await;
}
