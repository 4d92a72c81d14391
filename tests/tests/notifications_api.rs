//! Notifications through the gateway, in both shapes, against a real SMTP conversation
//! (the test SMTP server in `viscount_tests::smtp`) and a local webhook receiver: the
//! welcome and checkout messages (and the event each one records), SMTP connection
//! reuse, template edits and their previews, preferences, retries and permanent
//! failures, the SMS webhook, and the local outbox when no SMTP server is configured.

use std::time::{Duration, Instant};

use axum::http::StatusCode;
use contracts::Event;
use contracts::ordering::OrderConfirmed;
use contracts::payments::PaymentFailed;
use hmac::{Hmac, Mac};
use platform::config::ConfigSource;
use serde_json::{Value, json};
use sha2::Sha256;
use viscount_tests::in_both_shapes;
use viscount_tests::receiver::Receiver;
use viscount_tests::shop::*;
use viscount_tests::smtp::{Rule, SmtpServer};
use viscount_tests::{
    PASSWORD, Shape, TestApp, assert_problem, error_fields, eventually, spawn_app, spawn_app_with,
};

in_both_shapes!(
    registering_sends_the_welcome_email_over_smtp,
    a_checkout_emails_the_confirmation_and_a_declined_card_the_payment_failure,
    consecutive_emails_share_one_smtp_connection,
    an_admin_edits_a_template_and_the_next_message_uses_it,
    an_admin_previews_a_template_edit_without_storing_it,
    marketing_can_be_switched_off_but_transactional_messages_cannot,
    failed_attempts_are_retried_and_a_refused_address_blocks_no_one,
    text_messages_go_through_the_provider_webhook,
    without_smtp_email_lands_in_the_local_outbox,
);

/// Configuration pointing notifications at `smtp` (if any), with `extra` variables and
/// a short poll so retries of other replicas' rows are picked up quickly.
fn config(smtp: Option<&SmtpServer>, extra: &[(&str, String)]) -> ConfigSource {
    let mut vars = smtp.map(SmtpServer::config_vars).unwrap_or_default();
    vars.push((
        "VISCOUNT_NOTIFICATIONS__POLL_INTERVAL_MS".into(),
        "100".into(),
    ));
    vars.extend(extra.iter().map(|(k, v)| ((*k).to_owned(), v.clone())));
    ConfigSource::from_parts("", vars).expect("config")
}

/// A short unique suffix for emails and skus.
fn unique() -> String {
    uuid::Uuid::now_v7().simple().to_string()[20..].to_owned()
}

/// Waits until `user_id`'s notification from `template_id` satisfies `done`, reading as
/// `token`, and returns it.
async fn notification(
    app: &TestApp,
    token: &str,
    user_id: &str,
    template_id: &str,
    done: impl Fn(&Value) -> bool,
) -> Value {
    let path = format!("/api/v1/users/{user_id}/notifications?limit=100");
    eventually(SETTLE, &format!("{template_id} for {user_id}"), || async {
        let list = json_of(app.get(&path, Some(token)).await).await;
        list["items"]
            .as_array()?
            .iter()
            .find(|n| n["template_id"] == template_id && done(n))
            .cloned()
    })
    .await
}

/// Epoch milliseconds of a UTC RFC 3339 time as the API writes it
/// (`2026-11-22T10:00:00.123Z`, the fraction optional).
fn epoch_millis(text: &str) -> i64 {
    let (date, clock) = text
        .strip_suffix('Z')
        .and_then(|t| t.split_once('T'))
        .unwrap_or_else(|| panic!("not a UTC RFC 3339 time: {text}"));
    let (clock, fraction) = clock.split_once('.').unwrap_or((clock, ""));
    let numbers = |part: &str, sep: char| -> Vec<i64> {
        part.split(sep)
            .map(|n| n.parse().expect("a number"))
            .collect()
    };
    let (d, c) = (numbers(date, '-'), numbers(clock, ':'));
    let millis: i64 = format!("{fraction:0<3}")[..3].parse().expect("millis");
    // Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
    let (m, day) = (d[1], d[2]);
    let y = if m <= 2 { d[0] - 1 } else { d[0] };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * ((m + 9) % 12) + 2) / 5 + day - 1;
    let days = era * 146_097 + yoe * 365 + yoe / 4 - yoe / 100 + doy - 719_468;
    (((days * 24 + c[0]) * 60 + c[1]) * 60 + c[2]) * 1000 + millis
}

/// Registers `email` with display name `name`; returns (user id, access token).
async fn register_named(app: &TestApp, email: &str, name: &str) -> (String, String) {
    let created = app
        .post(
            "/api/v1/users",
            None,
            &json!({"email": email, "password": PASSWORD, "name": name}),
        )
        .await;
    assert_eq!(created.status(), 201, "register {email}");
    let id = json_of(created).await["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let tokens = json_of(app.login(email, PASSWORD).await).await;
    (
        id,
        tokens["access_token"].as_str().expect("access").to_owned(),
    )
}

async fn registering_sends_the_welcome_email_over_smtp(shape: Shape) {
    let smtp = SmtpServer::start().await;
    let Some(app) = spawn_app_with(shape, config(Some(&smtp), &[])).await else {
        return;
    };
    let email = format!("ada-{}@example.com", unique());
    let (user_id, access) = register_named(&app, &email, "Ada Lovelace").await;

    let mail = smtp
        .wait_for_mail(&email, "Welcome to Viscount, Ada Lovelace", SETTLE)
        .await;
    assert_eq!(mail.to, vec![email.clone()]);
    assert_eq!(mail.from, "no-reply@viscount.local");
    assert!(
        mail.text().contains("Hello Ada Lovelace"),
        "{}",
        mail.text()
    );
    assert!(mail.text().contains(&email), "the body names the account");
    assert!(
        mail.html()
            .is_some_and(|h| h.contains("Hello Ada Lovelace")),
        "html part"
    );

    let sent = notification(&app, &access, &user_id, "welcome.email", |n| {
        n["status"] == "sent"
    })
    .await;
    assert_eq!(sent["attempts"], 1, "{sent}");
    assert_eq!(sent["channel"], "email");
    assert_eq!(sent["category"], "transactional");
    assert_eq!(sent["to"], email.as_str());
    assert_eq!(sent["transport"], "smtp");
    assert!(sent["sent_at"].is_string() && sent["last_error"].is_null());
    assert!(sent.get("body").is_none(), "lists leave the body out");
    assert_eq!(smtp.mails_to(&email).len(), 1, "sent once");

    let id = sent["id"].as_str().expect("id");
    let detail = json_of(
        app.get(&format!("/api/v1/notifications/{id}"), Some(&access))
            .await,
    )
    .await;
    assert!(
        detail["body"]
            .as_str()
            .is_some_and(|b| b.contains("Hello Ada Lovelace")),
        "{detail}"
    );
    assert_eq!(detail["subject"], "Welcome to Viscount, Ada Lovelace");

    let stranger = app.user("stranger").await;
    assert_problem(
        app.get(
            &format!("/api/v1/notifications/{id}"),
            Some(&stranger.access),
        )
        .await,
        404,
    )
    .await;
    assert_problem(
        app.get(
            &format!("/api/v1/users/{user_id}/notifications"),
            Some(&stranger.access),
        )
        .await,
        404,
    )
    .await;
    assert_problem(
        app.get(&format!("/api/v1/users/{user_id}/notifications"), None)
            .await,
        401,
    )
    .await;
    // `me` names the caller, as in identity's paths.
    let mine: Value = app
        .get("/api/v1/users/me/notifications", Some(&access))
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(mine["items"][0]["user_id"], user_id.as_str(), "{mine}");
    assert_problem(
        app.get("/api/v1/notifications/not-an-id", Some(&access))
            .await,
        404,
    )
    .await;
    let bad = assert_problem(
        app.get(
            &format!("/api/v1/users/{user_id}/notifications?status=lost"),
            Some(&access),
        )
        .await,
        422,
    )
    .await;
    assert_eq!(error_fields(&bad), ["status"]);
}

async fn a_checkout_emails_the_confirmation_and_a_declined_card_the_payment_failure(shape: Shape) {
    let smtp = SmtpServer::start().await;
    let Some(app) = spawn_app_with(shape, config(Some(&smtp), &[])).await else {
        return;
    };
    let admin = app.admin().await;
    stocked(&app, &admin, "MAIL-1", 1999, 10).await;
    let buyer = app.user("buyer").await;

    let placed = json_of(order(&app, &buyer, &items_order("MAIL-1", 2, APPROVE)).await).await;
    assert_eq!(placed["status"], "confirmed", "{placed}");
    let order_id = placed["id"].as_str().expect("order id");
    let confirmed_at = Instant::now();
    let mail = smtp
        .wait_for_mail(&buyer.email, &format!("Order {order_id} confirmed"), SETTLE)
        .await;
    eprintln!(
        "order response to confirmation accepted by SMTP: {:?}",
        mail.received_at.saturating_duration_since(confirmed_at)
    );
    let text = mail.text();
    assert!(text.contains(order_id), "{text}");
    assert!(text.contains("- 2 x MAIL-1 at 19.99 USD"), "{text}");
    assert!(text.contains("Total: 39.98 USD"), "{text}");

    let declined = json_of(order(&app, &buyer, &items_order("MAIL-1", 1, DECLINE)).await).await;
    assert_eq!(declined["status"], "cancelled", "{declined}");
    let declined_id = declined["id"].as_str().expect("order id");
    let mail = smtp
        .wait_for_mail(
            &buyer.email,
            &format!("Payment for order {declined_id} failed"),
            SETTLE,
        )
        .await;
    let text = mail.text();
    assert!(text.contains(declined_id), "{text}");
    assert!(text.contains("of 19.99 USD did not go through"), "{text}");
    assert!(text.contains("nothing was charged"), "{text}");

    for (template, event_type) in [
        ("order_confirmed.email", OrderConfirmed::TYPE),
        ("payment_failed.email", PaymentFailed::TYPE),
    ] {
        let sent = notification(&app, &buyer.access, &buyer.id, template, |n| {
            n["status"] == "sent"
        })
        .await;
        assert_eq!(sent["attempts"], 1, "{sent}");
        assert_eq!(sent["event_type"], event_type, "{sent}");
    }

    // The confirmation names the event behind it, so the delay from the event to the
    // SMTP server's acceptance can be read off the message.
    let confirmation = notification(
        &app,
        &buyer.access,
        &buyer.id,
        "order_confirmed.email",
        |n| n["status"] == "sent",
    )
    .await;
    let detail = json_of(
        app.get(
            &format!(
                "/api/v1/notifications/{}",
                confirmation["id"].as_str().expect("id")
            ),
            Some(&buyer.access),
        )
        .await,
    )
    .await;
    for view in [&confirmation, &detail] {
        assert_eq!(view["event_type"], "ordering.order.confirmed.v1", "{view}");
        assert_eq!(view["event_subject"], order_id, "{view}");
    }
    let event_time = epoch_millis(detail["event_time"].as_str().expect("event_time"));
    let sent_at = epoch_millis(detail["sent_at"].as_str().expect("sent_at"));
    assert!(event_time <= sent_at, "{detail}");
    eprintln!(
        "order confirmed event to SMTP acceptance: {} ms",
        sent_at - event_time
    );
}

async fn consecutive_emails_share_one_smtp_connection(shape: Shape) {
    let smtp = SmtpServer::start().await;
    let Some(app) = spawn_app_with(shape, config(Some(&smtp), &[])).await else {
        return;
    };
    let sent = |n: &Value| n["status"] == "sent";
    // A message is recorded sent only after its connection went back to the pool, so
    // waiting for that keeps the next message from needing a second connection.
    let admin = app.admin().await;
    notification(&app, &admin.access, &admin.id, "welcome.email", sent).await;
    for name in ["first", "second"] {
        let user = app.user(name).await;
        notification(&app, &user.access, &user.id, "welcome.email", sent).await;
    }
    assert_eq!(smtp.mails().len(), 3);
    assert_eq!(
        smtp.connections(),
        1,
        "three emails one after another over one connection"
    );

    // The server hangs up on the idle connection (its idle timeout): the next message
    // still goes out at its first attempt, over a new connection.
    smtp.close_connections();
    let late = app.user("late").await;
    let welcome = notification(&app, &late.access, &late.id, "welcome.email", sent).await;
    assert_eq!(welcome["attempts"], 1, "{welcome}");
    assert_eq!(smtp.mails_to(&late.email).len(), 1);
    assert_eq!(smtp.connections(), 2);
}

async fn an_admin_edits_a_template_and_the_next_message_uses_it(shape: Shape) {
    let smtp = SmtpServer::start().await;
    let Some(app) = spawn_app_with(shape, config(Some(&smtp), &[])).await else {
        return;
    };
    let admin = app.admin().await;
    let customer = app.user("editor").await;
    let path = "/api/v1/notifications/templates/welcome.email";

    let edit = json!({"subject": "Hi {{ user.name }}!", "body": "Custom welcome for {{ user.name }} <{{ user.email }}>"});
    assert_problem(app.put(path, &customer.access, &edit).await, 403).await;
    assert_problem(
        app.get("/api/v1/notifications/templates", Some(&customer.access))
            .await,
        403,
    )
    .await;

    let before = json_of(app.get(path, Some(&admin.access)).await).await;
    assert_eq!(before["customized"], false, "{before}");
    assert_eq!(before["category"], "transactional");

    let response = app.put(path, &admin.access, &edit).await;
    assert_eq!(response.status(), 200);
    let edited = json_of(response).await;
    assert_eq!(edited["customized"], true);
    assert_eq!(edited["updated_by"], admin.id.as_str());

    for (bad, field) in [
        (
            json!({"subject": "Hi", "body": "Hello {{ user.name"}),
            "body",
        ),
        (json!({"subject": "{% if %}", "body": "Hello"}), "subject"),
        (json!({"subject": "{{ order.id }}", "body": "x"}), "subject"),
        (json!({"body": "no subject"}), "subject"),
        (
            json!({"subject": "x", "body": "x", "category": "spam"}),
            "category",
        ),
    ] {
        let problem = assert_problem(app.put(path, &admin.access, &bad).await, 422).await;
        assert_eq!(error_fields(&problem), [field], "{bad}: {problem}");
    }
    let kept = json_of(app.get(path, Some(&admin.access)).await).await;
    assert_eq!(
        kept["body"], edit["body"],
        "a refused edit keeps the template"
    );

    let newcomer = app.user("newcomer").await;
    let mail = smtp
        .wait_for_mail(&newcomer.email, "Hi Test User!", SETTLE)
        .await;
    assert!(
        mail.text().contains(&format!(
            "Custom welcome for Test User <{}>",
            newcomer.email
        )),
        "{}",
        mail.text()
    );

    let created = app
        .put(
            "/api/v1/notifications/templates/newsletter.email",
            &admin.access,
            &json!({"subject": "{{ title }}", "body": "{{ text }}", "category": "marketing"}),
        )
        .await;
    assert_eq!(created.status(), 201);
    let problem = assert_problem(
        app.put(
            "/api/v1/notifications/templates/welcome",
            &admin.access,
            &edit,
        )
        .await,
        422,
    )
    .await;
    assert_eq!(error_fields(&problem), ["id"]);
    assert_problem(
        app.get(
            "/api/v1/notifications/templates/nope.email",
            Some(&admin.access),
        )
        .await,
        404,
    )
    .await;
    let list = json_of(
        app.get(
            "/api/v1/notifications/templates?limit=100",
            Some(&admin.access),
        )
        .await,
    )
    .await;
    let ids: Vec<&str> = list["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter_map(|t| t["id"].as_str())
        .collect();
    for id in [
        "welcome.email",
        "order_confirmed.email",
        "payment_failed.email",
        "shipment_dispatched.email",
        "shipment_delivered.email",
        "refund_processed.email",
        "stock_low.email",
        "dispute_opened.email",
        "promotion.email",
        "newsletter.email",
    ] {
        assert!(ids.contains(&id), "{id} in {ids:?}");
    }
}

async fn an_admin_previews_a_template_edit_without_storing_it(shape: Shape) {
    let Some(app) = spawn_app(shape).await else {
        return;
    };
    let admin = app.admin().await;
    let customer = app.user("previewer").await;
    let path = "/api/v1/notifications/templates/welcome.email";
    let preview = "/api/v1/notifications/templates/welcome.email/preview";
    let before = json_of(app.get(path, Some(&admin.access)).await).await;

    let edit = json!({
        "subject": "Hi {{ user.name }}!",
        "body": "Welcome {{ user.name }} <{{ user.email }}>",
        "html": "<p>Welcome {{ user.name }}</p>",
        "category": "transactional",
        "enabled": false,
    });
    assert_problem(app.post(preview, Some(&customer.access), &edit).await, 403).await;
    assert_problem(app.post(preview, None, &edit).await, 401).await;

    // Rendered with the sample data the edit is checked against.
    let response = app.post(preview, Some(&admin.access), &edit).await;
    assert_eq!(response.status(), 200);
    let rendered = json_of(response).await;
    assert_eq!(
        rendered,
        json!({
            "subject": "Hi Ada Lovelace!",
            "body": "Welcome Ada Lovelace <ada@example.com>",
            "html": "<p>Welcome Ada Lovelace</p>",
        })
    );
    let order = json_of(
        app.post(
            "/api/v1/notifications/templates/order_confirmed.sms/preview",
            Some(&admin.access),
            &json!({"body": "Order {{ order.id }}: {{ order.total }}"}),
        )
        .await,
    )
    .await;
    assert_eq!(
        order,
        json!({"subject": null, "body": "Order 0190a000-0000-7000-8000-000000000002: 29.98 USD", "html": null})
    );
    // A key of the admin's own: the sample recipient, and nothing for the sender's names.
    let own = json_of(
        app.post(
            "/api/v1/notifications/templates/newsletter.email/preview",
            Some(&admin.access),
            &json!({"subject": "{{ title }} for {{ user.name }}", "body": "{{ text }}."}),
        )
        .await,
    )
    .await;
    assert_eq!(own["subject"], "for Ada Lovelace");
    assert_eq!(own["body"], ".");

    // Refused as the PUT refuses it, naming the field.
    for (bad, field) in [
        (
            json!({"subject": "Hi", "body": "Hello {{ user.name"}),
            "body",
        ),
        (json!({"subject": "{{ order.id }}", "body": "x"}), "subject"),
        (
            json!({"subject": "x", "body": "x", "html": "{% if %}"}),
            "html",
        ),
        (json!({"body": "no subject"}), "subject"),
        (
            json!({"subject": "x", "body": "x", "category": "spam"}),
            "category",
        ),
    ] {
        let previewed =
            assert_problem(app.post(preview, Some(&admin.access), &bad).await, 422).await;
        assert_eq!(error_fields(&previewed), [field], "{bad}: {previewed}");
        let put = assert_problem(app.put(path, &admin.access, &bad).await, 422).await;
        assert_eq!(
            previewed["errors"], put["errors"],
            "{bad}: the PUT's problem"
        );
    }
    let bad_id = assert_problem(
        app.post(
            "/api/v1/notifications/templates/welcome/preview",
            Some(&admin.access),
            &edit,
        )
        .await,
        422,
    )
    .await;
    assert_eq!(error_fields(&bad_id), ["id"]);

    // Nothing was stored: the template is as it was, and no new one exists.
    let after = json_of(app.get(path, Some(&admin.access)).await).await;
    assert_eq!(after, before, "a preview changes nothing");
    assert_eq!(after["customized"], false);
    assert_problem(
        app.get(
            "/api/v1/notifications/templates/newsletter.email",
            Some(&admin.access),
        )
        .await,
        404,
    )
    .await;
}

async fn marketing_can_be_switched_off_but_transactional_messages_cannot(shape: Shape) {
    let smtp = SmtpServer::start().await;
    let Some(app) = spawn_app_with(shape, config(Some(&smtp), &[])).await else {
        return;
    };
    let admin = app.admin().await;
    let user = app.user("prefs").await;
    smtp.wait_for_mail(&user.email, "Welcome", SETTLE).await;
    let path = format!("/api/v1/users/{}/notification-preferences", user.id);

    let current = json_of(app.get(&path, Some(&user.access)).await).await;
    assert_eq!(
        current["email"],
        json!({"to": user.email, "transactional": true, "marketing": true})
    );
    let response = app
        .put(&path, &user.access, &json!({"email": {"marketing": false}}))
        .await;
    assert_eq!(response.status(), 200);
    assert_eq!(json_of(response).await["email"]["marketing"], false);
    let problem = assert_problem(
        app.put(
            &path,
            &user.access,
            &json!({"email": {"transactional": false}}),
        )
        .await,
        422,
    )
    .await;
    assert_eq!(error_fields(&problem), ["email.transactional"]);
    let stranger = app.user("stranger").await;
    assert_problem(
        app.put(
            &path,
            &stranger.access,
            &json!({"email": {"marketing": true}}),
        )
        .await,
        404,
    )
    .await;

    let promotion = json!({"user_id": user.id, "template_id": "promotion.email",
                           "data": {"headline": "Winter sale", "message": "Everything half price"}});
    assert_problem(
        app.post("/api/v1/notifications/send", Some(&user.access), &promotion)
            .await,
        403,
    )
    .await;
    let response = app
        .post(
            "/api/v1/notifications/send",
            Some(&admin.access),
            &promotion,
        )
        .await;
    assert_eq!(response.status(), 201);
    let suppressed = json_of(response).await;
    assert_eq!(suppressed["status"], "suppressed", "{suppressed}");
    assert_eq!(suppressed["category"], "marketing");
    for field in ["event_type", "event_subject", "event_time"] {
        assert!(
            suppressed[field].is_null(),
            "no event behind a send: {suppressed}"
        );
    }

    // A transactional message still goes out, and after it nothing else arrived.
    let note = json!({"user_id": user.id, "channel": "email", "subject": "About your account",
                      "body": "Your password was changed."});
    let mut sent_ids = Vec::new();
    for _ in 0..2 {
        // A retried request with the same key sends nothing twice.
        let response = app
            .client
            .post(app.url("/api/v1/notifications/send"))
            .bearer_auth(&admin.access)
            .header("idempotency-key", format!("note-{}", user.id))
            .json(&note)
            .send()
            .await
            .expect("send");
        assert_eq!(response.status(), 201);
        sent_ids.push(json_of(response).await["id"].clone());
    }
    assert_eq!(sent_ids[0], sent_ids[1]);
    let mail = smtp
        .wait_for_mail(&user.email, "About your account", SETTLE)
        .await;
    assert!(mail.text().contains("Your password was changed."));
    let notes = smtp
        .mails_to(&user.email)
        .iter()
        .filter(|m| m.subject().as_deref() == Some("About your account"))
        .count();
    assert_eq!(notes, 1, "one message for two requests with one key");
    assert!(
        smtp.mails_to(&user.email)
            .iter()
            .all(|m| m.subject().as_deref() != Some("Winter sale")),
        "the suppressed promotion never reached SMTP"
    );
    let listed = notification(&app, &user.access, &user.id, "promotion.email", |n| {
        n["status"] == "suppressed"
    })
    .await;
    assert_eq!(listed["attempts"], 0);

    // Opted back in, the promotion arrives.
    app.put(&path, &user.access, &json!({"email": {"marketing": true}}))
        .await;
    let response = app
        .post(
            "/api/v1/notifications/send",
            Some(&admin.access),
            &promotion,
        )
        .await;
    assert_eq!(json_of(response).await["status"], "queued");
    let mail = smtp.wait_for_mail(&user.email, "Winter sale", SETTLE).await;
    assert!(mail.text().contains("Everything half price"));

    for (body, field) in [
        (
            json!({"user_id": user.id, "template_id": "promotion.email", "data": {}}),
            "data",
        ),
        (
            json!({"user_id": "0190a000-0000-7000-8000-00000000dead", "channel": "email", "subject": "x", "body": "x"}),
            "user_id",
        ),
        (
            json!({"user_id": user.id, "channel": "sms", "body": "x"}),
            "channel",
        ),
        (
            json!({"user_id": user.id, "template_id": "missing.email"}),
            "template_id",
        ),
    ] {
        let problem = assert_problem(
            app.post("/api/v1/notifications/send", Some(&admin.access), &body)
                .await,
            422,
        )
        .await;
        assert_eq!(error_fields(&problem), [field], "{body}: {problem}");
    }
}

async fn failed_attempts_are_retried_and_a_refused_address_blocks_no_one(shape: Shape) {
    let smtp = SmtpServer::with_rules(vec![
        Rule::first("retry-", 451, 1),
        Rule::always("bounce-", 550),
        Rule::always("greylist-", 451),
    ])
    .await;
    let retry_settings = [
        ("VISCOUNT_NOTIFICATIONS__MAX_ATTEMPTS", "3".to_owned()),
        ("VISCOUNT_NOTIFICATIONS__RETRY_BASE_MS", "400".to_owned()),
        ("VISCOUNT_NOTIFICATIONS__RETRY_MAX_MS", "2000".to_owned()),
    ];
    let Some(app) = spawn_app_with(shape, config(Some(&smtp), &retry_settings)).await else {
        return;
    };
    let admin = app.admin().await;
    let suffix = unique();
    let [retry, bounce, greylist, fine] = ["retry", "bounce", "greylist", "fine"]
        .map(|label| format!("{label}-{suffix}@example.com"));
    let (r, b, g, f) = tokio::join!(
        app.register(&retry),
        app.register(&bounce),
        app.register(&greylist),
        app.register(&fine)
    );
    let id = |v: &Value| v["id"].as_str().expect("id").to_owned();
    let (retry_id, bounce_id, greylist_id, fine_id) = (id(&r), id(&b), id(&g), id(&f));

    let fine_mail = smtp.wait_for_mail(&fine, "Welcome", SETTLE).await;
    let fine_sent = notification(&app, &admin.access, &fine_id, "welcome.email", |n| {
        n["status"] == "sent"
    })
    .await;
    assert_eq!(fine_sent["attempts"], 1);

    let retried = notification(&app, &admin.access, &retry_id, "welcome.email", |n| {
        n["status"] == "sent"
    })
    .await;
    assert_eq!(retried["attempts"], 2, "{retried}");
    let codes: Vec<u16> = smtp.attempts_for(&retry).iter().map(|a| a.code).collect();
    assert_eq!(codes, [451, 250]);
    assert_eq!(smtp.mails_to(&retry).len(), 1);

    let bounced = notification(&app, &admin.access, &bounce_id, "welcome.email", |n| {
        n["status"] == "failed"
    })
    .await;
    assert_eq!(bounced["attempts"], 1, "a permanent refusal is not retried");
    assert!(
        bounced["last_error"]
            .as_str()
            .is_some_and(|e| e.contains("550")),
        "{bounced}"
    );

    let given_up = notification(&app, &admin.access, &greylist_id, "welcome.email", |n| {
        n["status"] == "failed"
    })
    .await;
    assert_eq!(given_up["attempts"], 3, "{given_up}");
    assert!(
        given_up["last_error"]
            .as_str()
            .is_some_and(|e| e.contains("451")),
        "{given_up}"
    );
    let tries = smtp.attempts_for(&greylist);
    assert_eq!(tries.len(), 3);
    assert!(
        tries
            .windows(2)
            .all(|w| w[1].at > w[0].at + Duration::from_millis(300)),
        "attempts are spaced by the backoff"
    );
    assert!(
        fine_mail.received_at < tries[2].at,
        "another user's mail went out while this one was still being retried"
    );
    assert!(smtp.mails_to(&greylist).is_empty() && smtp.mails_to(&bounce).is_empty());
}

/// A provider webhook stand-in: `POST /sms` is accepted, `POST /push` always answers 503.
async fn provider() -> Receiver {
    Receiver::start(|hook, _| {
        if hook.path == "push" {
            StatusCode::SERVICE_UNAVAILABLE
        } else {
            StatusCode::OK
        }
    })
    .await
}

/// Checks `t=<t>,v1=<hex>` is the HMAC-SHA256 of `<t>.<body>` under `secret`.
fn signature_is_valid(header: &str, secret: &str, body: &[u8]) -> bool {
    let mut parts = header.split(',');
    let (Some(t), Some(v1)) = (
        parts.next().and_then(|p| p.strip_prefix("t=")),
        parts.next().and_then(|p| p.strip_prefix("v1=")),
    ) else {
        return false;
    };
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret.as_bytes()) else {
        return false;
    };
    mac.update(t.as_bytes());
    mac.update(b".");
    mac.update(body);
    data_encoding::HEXLOWER
        .decode(v1.as_bytes())
        .is_ok_and(|expected| mac.verify_slice(&expected).is_ok())
}

async fn text_messages_go_through_the_provider_webhook(shape: Shape) {
    let receiver = provider().await;
    let settings = [
        (
            "VISCOUNT_NOTIFICATIONS__SMS__URL",
            format!("http://{}/sms", receiver.addr),
        ),
        (
            "VISCOUNT_NOTIFICATIONS__SMS__SECRET",
            "whsec-test".to_owned(),
        ),
        (
            "VISCOUNT_NOTIFICATIONS__PUSH__URL",
            format!("http://{}/push", receiver.addr),
        ),
        ("VISCOUNT_NOTIFICATIONS__MAX_ATTEMPTS", "3".to_owned()),
        ("VISCOUNT_NOTIFICATIONS__RETRY_BASE_MS", "50".to_owned()),
        ("VISCOUNT_NOTIFICATIONS__RETRY_MAX_MS", "100".to_owned()),
    ];
    let Some(app) = spawn_app_with(shape, config(None, &settings)).await else {
        return;
    };
    let admin = app.admin().await;
    stocked(&app, &admin, "TEXT-1", 500, 10).await;
    let user = app.user("texts").await;
    let path = format!("/api/v1/users/{}/notification-preferences", user.id);
    let problem = assert_problem(
        app.put(&path, &user.access, &json!({"sms": {"to": "12345"}}))
            .await,
        422,
    )
    .await;
    assert_eq!(error_fields(&problem), ["sms.to"]);
    let response = app
        .put(
            &path,
            &user.access,
            &json!({"sms": {"to": "+15551234567"}, "push": {"to": "device-token-1"}}),
        )
        .await;
    assert_eq!(response.status(), 200);
    let preferences = json_of(response).await;
    assert_eq!(preferences["sms"]["to"], "+15551234567");
    assert_eq!(preferences["push"]["to"], "device-token-1");

    let placed = json_of(order(&app, &user, &items_order("TEXT-1", 1, APPROVE)).await).await;
    assert_eq!(placed["status"], "confirmed", "{placed}");
    let order_id = placed["id"].as_str().expect("order id").to_owned();
    let hook = eventually(SETTLE, "the confirmation text", || async {
        receiver.hooks("sms").into_iter().find(|h| {
            h.json()["body"]
                .as_str()
                .is_some_and(|b| b.contains(&order_id))
        })
    })
    .await;
    let json = hook.json();
    assert_eq!(json["channel"], "sms");
    assert_eq!(json["to"], "+15551234567");
    assert!(json["subject"].is_null());
    assert_eq!(
        json["body"],
        format!("Viscount: order {order_id} is confirmed. Total 5.00 USD.")
    );
    assert!(
        hook.header("x-viscount-signature")
            .is_some_and(|s| signature_is_valid(s, "whsec-test", &hook.raw)),
        "signed: {:?}",
        hook.header("x-viscount-signature")
    );
    let sent = notification(&app, &user.access, &user.id, "order_confirmed.sms", |n| {
        n["status"] == "sent"
    })
    .await;
    assert_eq!(sent["transport"], "webhook");
    assert_eq!(sent["id"], json["id"]);

    // The push provider keeps failing: retried up to the limit, then failed.
    let response = app
        .post(
            "/api/v1/notifications/send",
            Some(&admin.access),
            &json!({"user_id": user.id, "channel": "push", "subject": "Ping", "body": "Hello from the test"}),
        )
        .await;
    assert_eq!(response.status(), 201);
    let id = json_of(response).await["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let failed = eventually(SETTLE, "the push to fail", || async {
        let n = json_of(
            app.get(&format!("/api/v1/notifications/{id}"), Some(&admin.access))
                .await,
        )
        .await;
        (n["status"] == "failed").then_some(n)
    })
    .await;
    assert_eq!(failed["attempts"], 3, "{failed}");
    assert!(
        failed["last_error"]
            .as_str()
            .is_some_and(|e| e.contains("503")),
        "{failed}"
    );
    let pushes = receiver.hooks("push");
    assert_eq!(pushes.len(), 3);
    assert!(
        pushes
            .iter()
            .all(|h| h.json()["to"] == "device-token-1" && h.json()["subject"] == "Ping")
    );
}

async fn without_smtp_email_lands_in_the_local_outbox(shape: Shape) {
    let Some(app) = spawn_app(shape).await else {
        return;
    };
    let admin = app.admin().await;
    let user = app.user("outbox").await;
    let kept = eventually(SETTLE, "the welcome email in the outbox", || async {
        let list = json_of(
            app.get(
                "/api/v1/notifications/outbox?limit=100",
                Some(&admin.access),
            )
            .await,
        )
        .await;
        list["items"]
            .as_array()?
            .iter()
            .find(|n| n["to"] == user.email.as_str() && n["template_id"] == "welcome.email")
            .cloned()
    })
    .await;
    assert_eq!(kept["status"], "sent", "{kept}");
    assert_eq!(kept["transport"], "outbox");
    assert_eq!(kept["attempts"], 1);
    assert!(
        kept["body"]
            .as_str()
            .is_some_and(|b| b.contains("Hello Test User")),
        "{kept}"
    );
    assert_problem(
        app.get("/api/v1/notifications/outbox", Some(&user.access))
            .await,
        403,
    )
    .await;
    let own = notification(&app, &user.access, &user.id, "welcome.email", |n| {
        n["status"] == "sent"
    })
    .await;
    assert_eq!(own["transport"], "outbox");
}
