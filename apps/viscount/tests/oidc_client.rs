//! A standard OpenID Connect client library completes the authorization code flow
//! against `viscount up` (issue 19, item 1): Authlib (PyPI, pinned; installed by
//! `scripts/test` into `.tools/`, named by `VISCOUNT_TEST_OIDC_PYTHON`) runs
//! `oidc/authlib_client.py`: discovery, PKCE S256 with a nonce, the sign-in page, the
//! code exchanged, the RS256 ID token verified against the JWKS, the access token used.
//! Without that Python the test prints a SKIPPED line and passes.

use std::process::Stdio;

use serde_json::json;

mod support;

use support::running::{Running, viscount};

#[tokio::test]
async fn authlib_signs_a_user_in_through_the_code_flow() {
    let Ok(python) = std::env::var("VISCOUNT_TEST_OIDC_PYTHON") else {
        eprintln!("SKIPPED: VISCOUNT_TEST_OIDC_PYTHON (a Python with Authlib) not set");
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let mut command = viscount(dir.path());
    command.args(["up", "--data-dir", &dir.path().display().to_string()]);
    command.args(["--listen", "127.0.0.1:0"]);
    let mut platform = Running::spawn(command);
    let base = platform.url_of("viscount is up").await;

    let email = "authlib@example.com";
    let password = "correct horse battery";
    let registered = reqwest::Client::new()
        .post(format!("{base}/api/v1/users"))
        .json(&json!({"email": email, "password": password, "name": "Authlib User"}))
        .send()
        .await
        .expect("registered");
    assert_eq!(registered.status(), 201);

    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/oidc/authlib_client.py");
    let mut client = std::process::Command::new(python);
    client
        .args([script, &base, email, password])
        .stdin(Stdio::null());
    let output = tokio::task::spawn_blocking(move || client.output())
        .await
        .expect("joined")
        .expect("python runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success() && stdout.starts_with("verified "),
        "the client library completes the flow:\n{stdout}\n{stderr}"
    );
}
