//! The buyer's account: signing up, the profile, the password, MFA enrolment with its
//! QR code, and notification preferences.

use std::sync::Arc;

use crate::http::render::view;
use axum::extract::State;
use axum::response::{IntoResponse, Redirect};
use http::header;
use serde::{Deserialize, Serialize};
use serde_json::{Value as Json, json};

use super::forms::FieldErrors;
use super::render::{PageError, PageResult, base, ok};
use super::visitor::{Visitor, session_cookie};
use crate::app::{Call, Console};

#[derive(Default, Deserialize, Serialize)]
pub(super) struct SignupForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    email: String,
    #[serde(default, skip_serializing)]
    password: String,
}

/// `GET /signup`. A visitor without a session gets one here, for the form's CSRF token.
#[tracing::instrument(skip_all)]
pub(super) async fn signup_form(
    State(console): State<Arc<Console>>,
    mut visitor: Visitor,
) -> PageResult {
    if visitor.user().is_some() {
        return Ok(Redirect::to("/account").into_response());
    }
    let mut cookie = None;
    if visitor.session.is_none() {
        let started = console
            .start_anonymous()
            .await
            .map_err(|_| PageError::Unavailable)?;
        cookie = Some(session_cookie(
            Some(&started.id),
            console.secure_cookies(visitor.on).await,
        ));
        visitor.session = Some(started);
    }
    let mut response = ok(
        "account/signup.html",
        view!(base(&visitor); form => SignupForm::default(), errors => FieldErrors::default()),
    )?;
    if let Some(cookie) = cookie {
        response.headers_mut().append(header::SET_COOKIE, cookie);
    }
    Ok(response)
}

/// `POST /signup`: creates the account, then signs in through identity's page.
#[tracing::instrument(skip_all)]
pub(super) async fn signup(
    State(console): State<Arc<Console>>,
    visitor: Visitor,
    axum::Form(form): axum::Form<SignupForm>,
) -> PageResult {
    let created = console
        .api
        .send(
            Call::post(
                "/api/v1/users",
                &json!({"name": form.name.trim(), "email": form.email.trim(),
                        "password": form.password}),
            ),
            visitor.on,
        )
        .await;
    match created {
        Ok(_) => Ok(Redirect::to("/auth/login?return_to=%2F").into_response()),
        Err(problem) if matches!(problem.status, 409 | 422) => {
            let mut errors = FieldErrors::from_problem(&problem, &[]);
            if problem.status == 409 {
                errors = FieldErrors::default();
                errors.push(
                    "email",
                    "An account with this email exists. Sign in instead.",
                );
            }
            ok(
                "account/signup.html",
                view!(base(&visitor); form => form, errors => errors),
            )
        }
        Err(problem) => Err(visitor.failed(problem)),
    }
}

async fn account_page(
    console: &Console,
    visitor: &Visitor,
    errors: FieldErrors,
    notice: Option<&str>,
) -> PageResult {
    visitor.signed_in()?;
    let (me, preferences) = tokio::join!(
        visitor.ask::<Json>(console, Call::get("/api/v1/users/me"), "profile"),
        visitor.ask::<Json>(
            console,
            Call::get("/api/v1/users/me/notification-preferences"),
            "preferences"
        ),
    );
    ok(
        "account/account.html",
        view!(base(visitor); profile => me?, preferences => preferences?, errors => errors,
                   notice => notice),
    )
}

/// `GET /account`.
#[tracing::instrument(skip_all)]
pub(super) async fn show(State(console): State<Arc<Console>>, visitor: Visitor) -> PageResult {
    account_page(&console, &visitor, FieldErrors::default(), None).await
}

#[derive(Deserialize)]
pub(super) struct ProfileForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    phone: String,
}

/// `POST /account/profile`.
#[tracing::instrument(skip_all)]
pub(super) async fn update_profile(
    State(console): State<Arc<Console>>,
    visitor: Visitor,
    axum::Form(form): axum::Form<ProfileForm>,
) -> PageResult {
    visitor.signed_in()?;
    let phone = form.phone.trim();
    let body = json!({
        "name": form.name.trim(),
        "phone": if phone.is_empty() { Json::Null } else { json!(phone) },
    });
    match visitor
        .send(&console, Call::put("/api/v1/users/me", &body))
        .await
    {
        Ok(_) => {
            account_page(
                &console,
                &visitor,
                FieldErrors::default(),
                Some("Profile saved."),
            )
            .await
        }
        Err(problem) if problem.status == 422 => {
            account_page(
                &console,
                &visitor,
                FieldErrors::from_problem(&problem, &[]),
                None,
            )
            .await
        }
        Err(problem) => Err(visitor.failed(problem)),
    }
}

#[derive(Deserialize)]
pub(super) struct PasswordForm {
    #[serde(default)]
    current_password: String,
    #[serde(default)]
    new_password: String,
}

/// `POST /account/password`.
#[tracing::instrument(skip_all)]
pub(super) async fn change_password(
    State(console): State<Arc<Console>>,
    visitor: Visitor,
    axum::Form(form): axum::Form<PasswordForm>,
) -> PageResult {
    visitor.signed_in()?;
    let body = json!({"current_password": form.current_password,
                      "new_password": form.new_password});
    match visitor
        .send(&console, Call::post("/api/v1/users/me/password", &body))
        .await
    {
        Ok(_) => {
            account_page(
                &console,
                &visitor,
                FieldErrors::default(),
                Some("Password changed."),
            )
            .await
        }
        Err(problem) if problem.status == 422 => {
            account_page(
                &console,
                &visitor,
                FieldErrors::from_problem(&problem, &[]),
                None,
            )
            .await
        }
        Err(problem) => Err(visitor.failed(problem)),
    }
}

/// `POST /account/mfa`: starts enrolment and shows the QR code to scan.
#[tracing::instrument(skip_all)]
pub(super) async fn enrol_mfa(State(console): State<Arc<Console>>, visitor: Visitor) -> PageResult {
    visitor.signed_in()?;
    let started = visitor
        .send(
            &console,
            Call::new(http::Method::POST, "/api/v1/users/me/mfa/enable"),
        )
        .await;
    match started {
        Ok(answer) => {
            let enrolment: Json = answer.json("enrolment").map_err(PageError::Api)?;
            mfa_page(&visitor, &enrolment, FieldErrors::default())
        }
        Err(problem) if problem.status == 409 => {
            account_page(
                &console,
                &visitor,
                FieldErrors::default(),
                Some("Two-step sign-in is already on."),
            )
            .await
        }
        Err(problem) => Err(visitor.failed(problem)),
    }
}

fn mfa_page(visitor: &Visitor, enrolment: &Json, errors: FieldErrors) -> PageResult {
    // The QR code is drawn here from the otpauth URL (identity's SVG is a whole
    // document; this one is inline, labelled, and styled by the page).
    let url = enrolment["otpauth_url"].as_str().unwrap_or_default();
    let qr = qrcode::QrCode::new(url.as_bytes())
        .map(|code| {
            code.render::<qrcode::render::svg::Color<'_>>()
                .min_dimensions(200, 200)
                .quiet_zone(true)
                .build()
        })
        .unwrap_or_default();
    let qr = qr
        .split_once("<svg")
        .map(|(_, rest)| {
            format!(
                "<svg role=\"img\" aria-label=\"QR code to scan with an authenticator app\"{rest}"
            )
        })
        .unwrap_or_default();
    let mut response = ok(
        "account/mfa.html",
        view!(base(visitor); secret => enrolment["secret"].as_str(), qr_svg => minijinja::Value::from_safe_string(qr),
            otpauth_url => url, errors => errors),
    )?;
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        http::HeaderValue::from_static("no-store"),
    );
    Ok(response)
}

#[derive(Deserialize)]
pub(super) struct VerifyForm {
    #[serde(default)]
    code: String,
    #[serde(default)]
    secret: String,
    #[serde(default)]
    otpauth_url: String,
}

/// `POST /account/mfa/verify`: the first code from the app turns MFA on.
#[tracing::instrument(skip_all)]
pub(super) async fn verify_mfa(
    State(console): State<Arc<Console>>,
    visitor: Visitor,
    axum::Form(form): axum::Form<VerifyForm>,
) -> PageResult {
    visitor.signed_in()?;
    let verified = visitor
        .send(
            &console,
            Call::post(
                "/api/v1/users/me/mfa/verify",
                &json!({"code": form.code.trim()}),
            ),
        )
        .await;
    match verified {
        Ok(_) => {
            account_page(
                &console,
                &visitor,
                FieldErrors::default(),
                Some("Two-step sign-in is on."),
            )
            .await
        }
        Err(problem) if problem.status == 422 => mfa_page(
            &visitor,
            &json!({"secret": form.secret, "otpauth_url": form.otpauth_url}),
            FieldErrors::from_problem(&problem, &[]),
        ),
        Err(problem) => Err(visitor.failed(problem)),
    }
}

#[derive(Deserialize)]
pub(super) struct PreferencesForm {
    #[serde(default)]
    email_marketing: Option<String>,
    #[serde(default)]
    sms_marketing: Option<String>,
    #[serde(default)]
    sms_to: String,
}

/// `POST /account/notifications`.
#[tracing::instrument(skip_all)]
pub(super) async fn notification_preferences(
    State(console): State<Arc<Console>>,
    visitor: Visitor,
    axum::Form(form): axum::Form<PreferencesForm>,
) -> PageResult {
    visitor.signed_in()?;
    let sms_to = form.sms_to.trim();
    let body = json!({
        "email": {"marketing": form.email_marketing.is_some()},
        "sms": {
            "marketing": form.sms_marketing.is_some(),
            "to": if sms_to.is_empty() { Json::Null } else { json!(sms_to) },
        },
    });
    match visitor
        .send(
            &console,
            Call::put("/api/v1/users/me/notification-preferences", &body),
        )
        .await
    {
        Ok(_) => {
            account_page(
                &console,
                &visitor,
                FieldErrors::default(),
                Some("Preferences saved."),
            )
            .await
        }
        Err(problem) if problem.status == 422 => {
            account_page(
                &console,
                &visitor,
                FieldErrors::from_problem(
                    &problem,
                    &[("sms.to", "sms_to"), ("sms.", "sms_"), ("email.", "email_")],
                ),
                None,
            )
            .await
        }
        Err(problem) => Err(visitor.failed(problem)),
    }
}
