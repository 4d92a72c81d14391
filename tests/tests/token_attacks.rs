//! RFC 8725 attacks on access tokens, through the gateway socket, in both shapes.
//!
//! Every forged, stale or misused token presented as `Authorization: Bearer` must get
//! the same 401 problem with a `WWW-Authenticate` challenge, and none may make the
//! platform fetch a key from anywhere.

use std::time::Duration;

use data_encoding::BASE64URL_NOPAD;
use ed25519_dalek::{Signer, SigningKey};
use hmac::{Hmac, Mac};
use platform::auth::jwt::{Audience, Claims, TYP_ACCESS};
use serde_json::{Value, json};
use sha2::Sha256;
use viscount_tests::*;

both_shapes! {
    async fn alg_none_is_refused(app) {
        let user = app.user("none").await;
        assert_accepted(&app, &user.access).await;
        let kid = real_kid(&app).await;
        let payload = token_part(&user.access, 1);
        for alg in ["none", "None", "NONE", "nOnE"] {
            let header = json!({"alg": alg, "typ": "at+jwt", "kid": kid});
            assert_refused(&app, &forge(&header, payload, b"")).await;
        }
        // No signature part at all is not a token either.
        let header = json!({"alg": "none", "typ": "at+jwt", "kid": kid});
        assert_refused(&app, &format!("{}.{payload}", encode_json(&header))).await;
    }

    async fn hs256_keyed_with_the_public_key_is_refused(app) {
        let user = app.user("hs256").await;
        let jwks: Value = app.get("/.well-known/jwks.json", None).await.json().await.expect("jwks json");
        let jwk = &jwks["keys"][0];
        let kid = jwk["kid"].as_str().expect("kid");
        let x = jwk["x"].as_str().expect("x");
        let public_key = BASE64URL_NOPAD.decode(x.as_bytes()).expect("x is base64url");
        assert_eq!(public_key.len(), 32, "an Ed25519 public key");

        let header = json!({"alg": "HS256", "typ": "at+jwt", "kid": kid});
        let payload = token_part(&user.access, 1);
        let signing_input = format!("{}.{payload}", encode_json(&header));
        // The raw key bytes, and the `x` text as some libraries take a "secret" string.
        for hmac_key in [public_key.as_slice(), x.as_bytes()] {
            let mut mac = Hmac::<Sha256>::new_from_slice(hmac_key).expect("any key length");
            mac.update(signing_input.as_bytes());
            let signature = mac.finalize().into_bytes();
            let token = format!("{signing_input}.{}", BASE64URL_NOPAD.encode(&signature));
            assert_refused(&app, &token).await;
        }
    }

    async fn jku_and_x5u_headers_are_refused_without_an_outbound_fetch(app) {
        let user = app.user("jku").await;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind a local listener");
        let key_url = format!("http://{}/jwks.json", listener.local_addr().expect("listener address"));
        let real = real_kid(&app).await;
        let claims = claims_of(&user.access);
        for parameter in ["jku", "x5u"] {
            // The attacker's own key, named by the attacker's kid or by the real one.
            for kid in [ATTACKER_KID, real.as_str()] {
                let mut header = json!({"alg": "EdDSA", "typ": "at+jwt", "kid": kid});
                header[parameter] = json!(key_url);
                assert_refused(&app, &sign_as_attacker(&header, &claims)).await;
                let connection = tokio::time::timeout(Duration::from_millis(300), listener.accept()).await;
                assert!(connection.is_err(), "a token with `{parameter}` made the platform connect to {key_url}");
            }
        }
        // An embedded key is not trusted either.
        let attacker_jwk = json!({"kty": "OKP", "crv": "Ed25519", "x": BASE64URL_NOPAD.encode(attacker_key().verifying_key().as_bytes())});
        let header = json!({"alg": "EdDSA", "typ": "at+jwt", "kid": real, "jwk": attacker_jwk});
        assert_refused(&app, &sign_as_attacker(&header, &claims)).await;
    }

    async fn an_unknown_kid_is_refused(app) {
        let user = app.user("kid").await;
        let claims = claims_of(&user.access);
        for kid in [ATTACKER_KID, "", "../../keys/current"] {
            let header = json!({"alg": "EdDSA", "typ": "at+jwt", "kid": kid});
            assert_refused(&app, &sign_as_attacker(&header, &claims)).await;
        }
        let header = json!({"alg": "EdDSA", "typ": "at+jwt"});
        assert_refused(&app, &sign_as_attacker(&header, &claims)).await;
        // The real kid with someone else's signature.
        let header = json!({"alg": "EdDSA", "typ": "at+jwt", "kid": real_kid(&app).await});
        assert_refused(&app, &sign_as_attacker(&header, &claims)).await;
    }

    async fn an_expired_token_is_refused(app) {
        let user = app.user("expired").await;
        assert_accepted(&app, &user.access).await;
        app.clock.advance(Duration::from_secs(16 * 60));
        assert_refused(&app, &user.access).await;
    }

    async fn tokens_signed_with_the_real_key_but_wrong_claims_are_refused(app) {
        let user = app.user("claims").await;
        let claims = claims_of(&user.access);
        let keys = app.identity().keys();

        // Positive control: the same claims re-signed this way are good.
        let resigned = keys.sign(&claims, TYP_ACCESS).await;
        assert_accepted(&app, &resigned).await;

        let now = app.clock.now_secs();
        let not_yet = Claims { nbf: Some(now + 3600), ..claims.clone() };
        let wrong_issuer = Claims { iss: "https://evil.example".into(), ..claims.clone() };
        let issuer_with_slash = Claims { iss: format!("{}/", claims.iss), ..claims.clone() };
        let wrong_audience = Claims { aud: Audience::One("another-api".into()), ..claims.clone() };
        let other_audiences = Claims { aud: Audience::Many(vec!["another-api".into(), "more".into()]), ..claims.clone() };
        for forged in [not_yet, wrong_issuer, issuer_with_slash, wrong_audience, other_audiences] {
            let token = keys.sign(&forged, TYP_ACCESS).await;
            assert_refused(&app, &token).await;
        }

        // A listed audience among others is fine: this is what makes the refusals above
        // about the audience and not about the shape of `aud`.
        let among = Claims { aud: Audience::Many(vec!["another-api".into(), audience_of(&claims)]), ..claims.clone() };
        assert_accepted(&app, &keys.sign(&among, TYP_ACCESS).await).await;
    }

    async fn tampered_claims_are_refused(app) {
        let user = app.user("tamper").await;
        assert_accepted(&app, &user.access).await;
        let mut payload = part_json(&user.access, 1);
        assert_eq!(payload["roles"], json!(["customer"]));
        payload["roles"] = json!(["admin"]);
        let tampered = format!("{}.{}.{}", token_part(&user.access, 0), encode_json(&payload), token_part(&user.access, 2));
        assert_refused(&app, &tampered).await;
        let search = app.get("/api/v1/users/search?q=a", Some(&tampered)).await;
        assert!(search.headers().contains_key("www-authenticate"), "challenge on the admin route");
        assert_problem(search, 401).await;
    }

    async fn a_refresh_token_is_not_an_access_token(app) {
        let user = app.user("refresh-as-access").await;
        assert_refused(&app, &user.refresh).await;
        // And it still works as what it is.
        let response = app.post("/api/v1/auth/refresh", None, &json!({"refresh_token": user.refresh})).await;
        assert_eq!(response.status(), 200);
    }

    async fn an_mfa_pending_token_is_not_an_access_token(app) {
        let user = app.user("mfa").await;
        let enrolment = app.post("/api/v1/users/me/mfa/enable", Some(&user.access), &json!({})).await;
        assert_eq!(enrolment.status(), 200);
        let enrolment: Value = enrolment.json().await.expect("enrolment json");
        let secret = enrolment["secret"].as_str().expect("secret").to_owned();
        assert!(enrolment["otpauth_url"].as_str().is_some_and(|u| u.contains(&secret)));
        let code = totp_now(&secret, &app.clock);
        let verified = app.post("/api/v1/users/me/mfa/verify", Some(&user.access), &json!({"code": code})).await;
        assert_eq!(verified.status(), 204);

        let pending = assert_problem(app.login(&user.email, PASSWORD).await, 401).await;
        assert!(pending["type"].as_str().is_some_and(|t| t.ends_with("mfa-required")), "{pending}");
        let mfa_token = pending["mfa_token"].as_str().expect("mfa_token member").to_owned();
        assert_refused(&app, &mfa_token).await;
        // Not a refresh token either.
        let as_refresh = app.post("/api/v1/auth/refresh", None, &json!({"refresh_token": mfa_token})).await;
        assert_problem(as_refresh, 401).await;

        // Where it belongs it works (the verification used this step's code).
        app.clock.advance(Duration::from_secs(30));
        let code = totp_now(&secret, &app.clock);
        let done = app.post("/api/v1/auth/mfa", None, &json!({"mfa_token": mfa_token, "code": code})).await;
        assert_eq!(done.status(), 200);
        let tokens: Value = done.json().await.expect("tokens json");
        let access = tokens["access_token"].as_str().expect("access token");
        assert!(tokens["refresh_token"].as_str().is_some_and(|t| !t.is_empty()), "{tokens}");
        assert_accepted(&app, access).await;
        // An access token does not stand in for the MFA token.
        app.clock.advance(Duration::from_secs(30));
        let code = totp_now(&secret, &app.clock);
        let swapped = app.post("/api/v1/auth/mfa", None, &json!({"mfa_token": access, "code": code})).await;
        assert_problem(swapped, 401).await;
    }

    async fn a_deleted_users_token_is_refused(app) {
        let user = app.user("deleted").await;
        assert_accepted(&app, &user.access).await;
        let deleted = app.delete(&format!("/api/v1/users/{}", user.id), &user.access).await;
        assert_eq!(deleted.status(), 204);
        assert_refused(&app, &user.access).await;
        let refresh = app.post("/api/v1/auth/refresh", None, &json!({"refresh_token": user.refresh})).await;
        assert_problem(refresh, 401).await;
    }

    async fn a_reused_refresh_token_revokes_its_family(app) {
        let user = app.user("reuse").await;
        let response = app.post("/api/v1/auth/refresh", None, &json!({"refresh_token": user.refresh})).await;
        assert_eq!(response.status(), 200);
        let pair: Value = response.json().await.expect("pair json");
        let new_refresh = pair["refresh_token"].as_str().expect("refresh token").to_owned();
        assert_ne!(new_refresh, user.refresh, "rotated");
        assert_accepted(&app, pair["access_token"].as_str().expect("access token")).await;

        let replayed = app.post("/api/v1/auth/refresh", None, &json!({"refresh_token": user.refresh})).await;
        assert_problem(replayed, 401).await;
        let after = app.post("/api/v1/auth/refresh", None, &json!({"refresh_token": new_refresh})).await;
        assert_problem(after, 401).await;
    }

    async fn repeated_failures_lock_the_account_until_the_lock_expires(app) {
        let user = app.user("lockout").await;
        for attempt in 1..=5 {
            let problem = assert_problem(app.login(&user.email, "not the password").await, 401).await;
            assert!(problem["type"].as_str().is_some_and(|t| t.ends_with("invalid-credentials")), "attempt {attempt}: {problem}");
        }
        let locked = app.login(&user.email, PASSWORD).await;
        let retry_after = locked
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok())
            .expect("a numeric retry-after header");
        assert!((1..=15 * 60 + 1).contains(&retry_after), "retry-after {retry_after}");
        let problem = assert_problem(locked, 423).await;
        assert!(problem["type"].as_str().is_some_and(|t| t.ends_with("account-locked")), "{problem}");

        app.clock.advance(Duration::from_secs(16 * 60));
        let response = app.login(&user.email, PASSWORD).await;
        assert_eq!(response.status(), 200);
        let tokens: Value = response.json().await.expect("tokens json");
        assert_accepted(&app, tokens["access_token"].as_str().expect("access token")).await;
    }
}

/// The `kid` the attacker's tokens name.
const ATTACKER_KID: &str = "attacker-key";

/// A key the platform has never seen.
fn attacker_key() -> SigningKey {
    SigningKey::from_bytes(&[42u8; 32])
}

/// A compact JWS of `header` and `claims` signed with the attacker's key.
fn sign_as_attacker(header: &Value, claims: &Claims) -> String {
    let claims = serde_json::to_value(claims).expect("claims serialize");
    let signing_input = format!("{}.{}", encode_json(header), encode_json(&claims));
    let signature = attacker_key().sign(signing_input.as_bytes());
    format!(
        "{signing_input}.{}",
        BASE64URL_NOPAD.encode(&signature.to_bytes())
    )
}

/// A token of `header`, an encoded `payload` and a raw `signature`.
fn forge(header: &Value, payload: &str, signature: &[u8]) -> String {
    format!(
        "{}.{payload}.{}",
        encode_json(header),
        BASE64URL_NOPAD.encode(signature)
    )
}

fn encode_json(value: &Value) -> String {
    BASE64URL_NOPAD.encode(&serde_json::to_vec(value).expect("json serializes"))
}

/// Part `index` of a compact JWS, still encoded.
fn token_part(token: &str, index: usize) -> &str {
    token.split('.').nth(index).expect("token part")
}

/// Part `index` of a compact JWS, decoded as JSON.
fn part_json(token: &str, index: usize) -> Value {
    let bytes = BASE64URL_NOPAD
        .decode(token_part(token, index).as_bytes())
        .expect("base64url part");
    serde_json::from_slice(&bytes).expect("json part")
}

/// The claims of a real token.
fn claims_of(token: &str) -> Claims {
    serde_json::from_value(part_json(token, 1)).expect("viscount claims")
}

/// Our audience, as a real token names it.
fn audience_of(claims: &Claims) -> String {
    match &claims.aud {
        Audience::One(aud) => aud.clone(),
        Audience::Many(all) => all.first().cloned().expect("an audience"),
    }
}

/// The kid of the current signing key, from the JWKS.
async fn real_kid(app: &TestApp) -> String {
    let jwks: Value = app
        .get("/.well-known/jwks.json", None)
        .await
        .json()
        .await
        .expect("jwks json");
    jwks["keys"][0]["kid"].as_str().expect("kid").to_owned()
}

/// `token` as a bearer on GET /api/v1/users/me gets a 401 problem with a challenge.
async fn assert_refused(app: &TestApp, token: &str) {
    let response = app.get("/api/v1/users/me", Some(token)).await;
    assert!(
        response.headers().contains_key("www-authenticate"),
        "401 without WWW-Authenticate for {token}"
    );
    let problem = assert_problem(response, 401).await;
    assert!(
        problem["type"]
            .as_str()
            .is_some_and(|t| t.ends_with("/unauthorized")),
        "{problem}"
    );
}

/// `token` as a bearer on GET /api/v1/users/me is accepted.
async fn assert_accepted(app: &TestApp, token: &str) {
    let response = app.get("/api/v1/users/me", Some(token)).await;
    assert_eq!(response.status(), 200, "a good token is accepted");
}
