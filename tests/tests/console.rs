//! The web console (issue 19, item 2) in a real headless Chromium over WebDriver,
//! against the platform in both shapes: a new customer signs up, signs in through the
//! authorization code flow, searches with a typo, adds two products, checks out and
//! sees the order confirmed and then its shipment; a declined card shows the reason
//! and leaves the cart; an admin signs in with a one-time code, creates a product with
//! a variant, adjusts its stock, refunds part of an order, edits a template watching
//! its preview, and sees the orders on the dashboard; a customer gets a 403 page at the
//! admin; a form without its CSRF token is refused. An admin prints a label, dispatches
//! and delivers a shipment, the customer asks to return part of it, and the admin
//! approves and receives it, then downloads a report. Every main page is screenshotted
//! under `target/console-screenshots/` and checked with axe-core.

use fantoccini::key::Key;
use serde_json::{Value, json};
use viscount_tests::browser::Browser;
use viscount_tests::shop::{APPROVE, DECLINE, items_order, json_of, order, stocked_named, until};
use viscount_tests::{
    PASSWORD, Shape, TestApp, TestUser, in_both_shapes, spawn_app_at_its_issuer, totp_now,
};

in_both_shapes!(
    a_new_customer_signs_up_finds_with_a_typo_and_checks_out,
    a_declined_card_shows_why_and_keeps_the_cart,
    an_admin_with_mfa_runs_the_shop,
    an_admin_ships_an_order_and_takes_a_return_back,
    a_customer_cannot_open_the_admin_and_forms_need_their_token,
);

/// Two products a buyer can find, in stock.
async fn shelves(app: &TestApp) -> (Value, Value) {
    let admin = app.admin().await;
    let suffix = &uuid::Uuid::now_v7().simple().to_string()[24..];
    let mug = stocked_named(
        app,
        &admin,
        &format!("MUG-{suffix}"),
        "Enamel Camping Mug",
        1_200,
        50,
    )
    .await;
    let socks = stocked_named(
        app,
        &admin,
        &format!("SOCK-{suffix}"),
        "Merino Hiking Socks",
        950,
        50,
    )
    .await;
    (mug, socks)
}

async fn platform(shape: Shape) -> Option<(TestApp, Browser)> {
    let app = spawn_app_at_its_issuer(shape, &[]).await?;
    let browser = Browser::open(&app.base).await?;
    Some((app, browser))
}

/// On identity's sign-in page: the email and password, then (if asked) the code.
async fn sign_in_on_identity_page(browser: &Browser, email: &str, password: &str) {
    browser.wait_for_path("/oauth2/authorize").await;
    browser.fill("email", email).await;
    browser.fill("password", password).await;
    browser.press("Sign in").await;
}

/// A customer made through the API, signed in in the browser through the code flow.
async fn signed_in_customer(app: &TestApp, browser: &Browser, label: &str) -> TestUser {
    let user = app.user(label).await;
    browser.go("/auth/login?return_to=%2F").await;
    sign_in_on_identity_page(browser, &user.email, PASSWORD).await;
    browser.wait_for_text("Sign out", false).await;
    user
}

/// Searches the shop for `words` and opens the product named `name`.
async fn find_and_open(browser: &Browser, words: &str, name: &str) {
    browser.fill("site-search", words).await;
    browser.press("Search").await;
    browser.wait_for_text(name, false).await;
    browser.follow(name).await;
    browser.wait_for_path("/products/").await;
}

async fn add_to_cart(browser: &Browser) {
    browser.press("Add to cart").await;
    browser.wait_for_path("/cart").await;
}

async fn fill_checkout(browser: &Browser, card: &str) {
    browser.wait_for_path("/checkout").await;
    for (field, value) in [
        ("f-name", "Ann Buyer"),
        ("f-line1", "1 Main St"),
        ("f-city", "Springfield"),
        ("f-postal_code", "12345"),
        ("f-country", "US"),
        ("f-card_number", card),
        ("f-exp_month", "12"),
        ("f-exp_year", "2099"),
        ("f-cvc", "123"),
    ] {
        browser.fill(field, value).await;
    }
    browser.press("Place order").await;
}

async fn a_new_customer_signs_up_finds_with_a_typo_and_checks_out(shape: Shape) {
    let Some((app, browser)) = platform(shape).await else {
        return;
    };
    let (mug, socks) = shelves(&app).await;

    browser.go("/").await;
    browser.check_page("storefront-home").await;
    browser.follow("Sign up").await;
    let email = format!(
        "new-{}@example.com",
        &uuid::Uuid::now_v7().simple().to_string()[20..]
    );
    browser.fill("f-name", "Nia New").await;
    browser.fill("f-email", &email).await;
    browser.fill("f-password", PASSWORD).await;
    browser.check_page("storefront-signup").await;
    browser.press("Create account").await;
    // Signing up leads to identity's own page: the code flow, not a console password form.
    browser.wait_for_path("/oauth2/authorize").await;
    browser.check_page("identity-sign-in").await;
    sign_in_on_identity_page(&browser, &email, PASSWORD).await;
    browser.wait_for_text("Sign out", false).await;
    assert_eq!(browser.path().await, "/", "back at the shop");

    // "enamal" is one letter off "Enamel".
    find_and_open(&browser, "enamal mug", "Enamel Camping Mug").await;
    browser.check_page("storefront-product").await;
    assert!(browser.body().await.contains("50 available"));
    add_to_cart(&browser).await;
    // With the keyboard alone: the skip link comes first, and from the quantity the
    // next stop is the button, which Enter presses.
    find_and_open(&browser, "merino socks", "Merino Hiking Socks").await;
    browser.key(Key::Tab).await;
    assert_eq!(
        browser.focused("href").await.as_deref(),
        Some("#main"),
        "the skip link first"
    );
    browser.fill("f-quantity", "2").await;
    browser.key(Key::Tab).await;
    assert_eq!(browser.text_of_focused().await, "Add to cart");
    browser.key(Key::Enter).await;
    browser.wait_for_path("/cart").await;
    let cart = browser.text("#cart-lines").await;
    assert!(
        cart.contains("Enamel Camping Mug") && cart.contains("Merino Hiking Socks"),
        "{cart}"
    );
    assert!(cart.contains("$31.00"), "1 × $12.00 + 2 × $9.50: {cart}");
    browser.check_page("storefront-cart").await;

    browser.follow("Check out").await;
    browser.wait_for_path("/checkout").await;
    browser.check_page("storefront-checkout").await;
    fill_checkout(&browser, APPROVE).await;
    let at = browser.wait_for_path("/orders/").await;
    let order_id = at
        .trim_start_matches("/orders/")
        .split('?')
        .next()
        .unwrap_or_default()
        .to_owned();
    browser.wait_for_text("Confirmed", true).await;
    assert!(browser.body().await.contains("Thank you") || at.contains("placed"));
    // Fulfillment makes the shipment from the confirmed order's event.
    browser.wait_for_text("Label created", true).await;
    assert!(browser.has(".shipment").await);
    browser.check_page("storefront-order").await;

    browser.follow("Orders").await;
    browser.wait_for_path("/orders").await;
    assert!(
        browser.body().await.contains(&order_id[..8]),
        "the order is listed"
    );
    browser.check_page("storefront-orders").await;
    browser.go("/cart").await;
    assert!(
        browser.body().await.contains("Your cart is empty"),
        "the cart was emptied"
    );
    browser.follow("Account").await;
    browser.wait_for_text("Two-step sign-in", false).await;
    browser.check_page("storefront-account").await;

    // Two-step sign-in, enrolled from the QR code's page with the app's first code.
    browser.press("Turn on two-step sign-in").await;
    browser.find(".qr svg[role=img]").await;
    let secret = browser.text("#mfa-secret").await;
    browser.check_page("storefront-mfa").await;
    browser.fill("f-code", &totp_now(&secret, &app.clock)).await;
    browser.press("Turn on").await;
    browser
        .wait_for_text("Two-step sign-in is on.", false)
        .await;
    let me = json_of(app.login(&email, PASSWORD).await).await;
    assert!(
        me["mfa_token"].is_string(),
        "a password alone no longer signs in: {me}"
    );

    // Signing out ends the session: the orders page asks to sign in again.
    browser.press("Sign out").await;
    browser.wait_for_text("Sign in", false).await;
    browser.go("/orders").await;
    browser.wait_for_path("/oauth2/authorize").await;

    // Both products' stock went to the order.
    for (product, left) in [(&mug, 49), (&socks, 48)] {
        let sku = product["sku"].as_str().unwrap_or_default();
        let level = json_of(app.get(&format!("/api/v1/inventory/{sku}"), None).await).await;
        assert!(
            level["available"].as_i64().unwrap_or(-1) <= left,
            "{sku}: {level}"
        );
    }
    browser.close().await;
}

async fn a_declined_card_shows_why_and_keeps_the_cart(shape: Shape) {
    let Some((app, browser)) = platform(shape).await else {
        return;
    };
    shelves(&app).await;
    signed_in_customer(&app, &browser, "declined").await;
    find_and_open(&browser, "camping mug", "Enamel Camping Mug").await;
    add_to_cart(&browser).await;
    browser.follow("Check out").await;
    fill_checkout(&browser, DECLINE).await;
    let declined = browser.text("#declined").await;
    assert!(declined.contains("card was declined"), "{declined}");
    assert_eq!(browser.path().await, "/checkout", "still at checkout");
    browser.check_page("storefront-checkout-declined").await;
    browser.go("/cart").await;
    assert!(
        browser
            .text("#cart-lines")
            .await
            .contains("Enamel Camping Mug"),
        "the cart is kept"
    );
    browser.close().await;
}

async fn an_admin_with_mfa_runs_the_shop(shape: Shape) {
    let Some((app, browser)) = platform(shape).await else {
        return;
    };
    let (mug, _) = shelves(&app).await;
    let admin = app.admin().await;
    let enrolment = json_of(
        app.post(
            "/api/v1/users/me/mfa/enable",
            Some(&admin.access),
            &json!({}),
        )
        .await,
    )
    .await;
    let secret = enrolment["secret"].as_str().expect("secret").to_owned();
    let verified = app
        .post(
            "/api/v1/users/me/mfa/verify",
            Some(&admin.access),
            &json!({"code": totp_now(&secret, &app.clock)}),
        )
        .await;
    assert_eq!(verified.status(), 204);
    // A code is good once: the sign-in below needs the next one.
    app.clock.advance(std::time::Duration::from_secs(30));
    // An order to refund and to see on the dashboard.
    let buyer = app.user("buyer").await;
    let sku = mug["sku"].as_str().expect("sku");
    let placed = json_of(order(&app, &buyer, &items_order(sku, 2, APPROVE)).await).await;
    let order_id = placed["id"].as_str().expect("order id").to_owned();
    until(
        &app,
        &buyer.access,
        &format!("/api/v1/orders/{order_id}"),
        "confirmed",
        |o| o["status"] == "confirmed",
    )
    .await;

    browser.go("/admin").await;
    sign_in_on_identity_page(&browser, "admin@viscount.test", "admin-password-1").await;
    // The one-time code, on identity's second step.
    browser.find("#totp_code").await;
    browser.check_page("identity-one-time-code").await;
    browser
        .fill("totp_code", &totp_now(&secret, &app.clock))
        .await;
    browser.press("Sign in").await;
    browser.wait_for_path("/admin").await;
    browser.wait_for_text("Dashboard", false).await;

    // The dashboard counts the order once analytics has it.
    browser.wait_for_text("Orders per minute", false).await;
    let started = std::time::Instant::now();
    while browser.text("#kpi-orders").await.trim() == "0" {
        assert!(
            started.elapsed() < std::time::Duration::from_secs(20),
            "the order never reaches the dashboard"
        );
        browser.client.refresh().await.expect("reload");
    }
    assert!(
        browser.has("figure svg[role=img]").await,
        "charts are drawn"
    );
    browser.check_page("admin-dashboard").await;

    // A product with a variant.
    browser.go("/admin/products/new").await;
    let suffix = &uuid::Uuid::now_v7().simple().to_string()[24..];
    let (sku, variant_sku) = (format!("LAMP-{suffix}"), format!("LAMP-{suffix}-RED"));
    for (field, value) in [
        ("f-sku", sku.as_str()),
        ("f-name", "Brass Desk Lamp"),
        ("f-price", "45.00"),
        ("f-attributes", "material: brass"),
        ("f-variant_sku", variant_sku.as_str()),
        ("f-variant_name", "Brass Desk Lamp, red shade"),
        ("f-variant_price", "49.50"),
    ] {
        browser.fill(field, value).await;
    }
    browser.check_page("admin-product-new").await;
    browser.press("Create product").await;
    browser
        .wait_for_text("Brass Desk Lamp, red shade", false)
        .await;
    assert!(browser.path().await.contains("saved=1"));
    browser.check_page("admin-product").await;
    let variants = json_of(
        app.get(&format!("/api/v1/products?sku={variant_sku}"), None)
            .await,
    )
    .await;
    let parent = json_of(app.get(&format!("/api/v1/products?sku={sku}"), None).await).await;
    assert_eq!(
        variants["items"][0]["variant_of"], parent["items"][0]["id"],
        "the variant names its product"
    );
    assert_eq!(variants["items"][0]["price"]["amount"], 4950);

    // Its stock, adjusted, with the ledger.
    browser.follow(&format!("Stock of {sku}")).await;
    browser.fill("f-delta", "25").await;
    browser.fill("f-reason", "first delivery").await;
    browser.press("Adjust stock").await;
    browser.wait_for_text("first delivery", false).await;
    assert_eq!(browser.text("#available").await, "25");
    browser.check_page("admin-stock").await;

    // Part of the order, refunded after confirming.
    browser.go("/admin/orders").await;
    browser.follow(&order_id[..8]).await;
    browser.check_page("admin-order").await;
    browser.fill("f-amount", "5.00").await;
    browser.press("Refund").await;
    browser.wait_for_text("Refund this order?", false).await;
    browser.check_page("admin-confirm").await;
    browser.press("Yes, refund").await;
    browser.wait_for_text("Refund sent.", false).await;
    assert_eq!(browser.text("#refunded").await, "$5.00");
    let refunded = until(
        &app,
        &admin.access,
        &format!("/api/v1/orders/{order_id}"),
        "refunded",
        |o| o["refunded"]["amount"] == 500,
    )
    .await;
    assert_eq!(refunded["status"], "partially_refunded");
    browser.go("/admin/orders").await;
    browser.check_page("admin-orders").await;

    // A template, with its live preview.
    browser.go("/admin/templates").await;
    browser.check_page("admin-templates").await;
    let template = json_of(
        app.get(
            "/api/v1/notifications/templates?limit=100",
            Some(&admin.access),
        )
        .await,
    )
    .await;
    let id = template["items"]
        .as_array()
        .and_then(|items| items.iter().find(|t| t["channel"] == "email"))
        .and_then(|t| t["id"].as_str())
        .expect("an email template")
        .to_owned();
    browser.go(&format!("/admin/templates/{id}")).await;
    browser
        .fill("f-body", "Hello from the console preview test.")
        .await;
    let started = std::time::Instant::now();
    while !browser
        .text("#preview")
        .await
        .contains("Hello from the console preview test.")
    {
        assert!(
            started.elapsed() < std::time::Duration::from_secs(20),
            "the preview never follows the text"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    browser.check_page("admin-template").await;
    browser.press("Save template").await;
    browser
        .wait_for_path(&format!("/admin/templates/{id}?saved=1"))
        .await;
    let saved = json_of(
        app.get(
            &format!("/api/v1/notifications/templates/{id}"),
            Some(&admin.access),
        )
        .await,
    )
    .await;
    assert_eq!(saved["body"], "Hello from the console preview test.");

    the_rest_of_the_admin(&app, &browser, &admin, &buyer, &order_id).await;
    browser.close().await;
}

/// Every other admin page, each with what it is for: shipments, returns, users and
/// roles, API keys, tenants and sources, revenue, reconciliation, reports and
/// schedules, dead letters, health.
async fn the_rest_of_the_admin(
    app: &TestApp,
    browser: &Browser,
    admin: &TestUser,
    buyer: &TestUser,
    order_id: &str,
) {
    browser.go("/admin/shipments").await;
    browser.wait_for_text(&order_id[..8], true).await;
    browser.check_page("admin-shipments").await;
    browser.go("/admin/returns").await;
    browser.wait_for_text("No returns.", false).await;
    browser.check_page("admin-returns").await;

    browser.go(&format!("/admin/users?q={}", buyer.email)).await;
    browser.wait_for_text(&buyer.email, false).await;
    browser.click("#users input[name=role_premium]").await;
    browser.press("Save").await;
    browser.wait_for_text("Roles saved.", false).await;
    browser.check_page("admin-users").await;
    let roles = json_of(
        app.get(&format!("/api/v1/users/{}", buyer.id), Some(&admin.access))
            .await,
    )
    .await;
    assert_eq!(roles["roles"], json!(["customer", "premium"]));
    // Taking a role away is asked about first.
    browser.click("#users input[name=role_premium]").await;
    browser.press("Save").await;
    browser.wait_for_text("Take roles away?", false).await;
    browser.press("Yes, take them away").await;
    browser.wait_for_text("Roles saved.", false).await;
    let roles = json_of(
        app.get(&format!("/api/v1/users/{}", buyer.id), Some(&admin.access))
            .await,
    )
    .await;
    assert_eq!(roles["roles"], json!(["customer"]));

    browser.go("/admin/api-keys").await;
    browser.fill("f-name", "reporting").await;
    browser.fill("f-scopes", "orders:read").await;
    browser.press("Make key").await;
    let key = browser.text("#new-key").await;
    assert!(key.len() > 20, "the key is shown once: {key}");
    browser.check_page("admin-api-keys").await;

    browser.go("/admin/tenants").await;
    browser.fill("f-tenant_name", "Corner Shop").await;
    browser.press("Add tenant").await;
    browser.wait_for_text("shown once", false).await;
    browser.fill("f-secret", "shpss_console_test_secret").await;
    browser.press("Save source").await;
    browser
        .wait_for_text("The Shopify source is set.", false)
        .await;
    browser.check_page("admin-tenants").await;

    browser.go("/admin/revenue").await;
    browser.wait_for_text("Revenue by channel", false).await;
    browser.check_page("admin-revenue").await;

    browser.go("/admin/reconciliation").await;
    let today = platform::time::rfc3339(platform::time::now_millis());
    browser.fill("f-from", &today[..10]).await;
    browser.fill("f-to", &today[..10]).await;
    browser.press("Reconcile").await;
    browser.wait_for_path("/admin/reconciliation?run=").await;
    browser.wait_for_text("discrepancies", false).await;
    // Listed among every run, as an admin's.
    browser.wait_for_text_in("#runs", "an admin").await;
    browser.check_page("admin-reconciliation").await;

    browser.go("/admin/reports").await;
    browser.press("Make report").await;
    browser
        .wait_for_text("The report is being made.", false)
        .await;
    browser.fill("f-cron", "0 7 * * 1").await;
    browser.fill("f-recipient", "owner@example.com").await;
    browser.press("Schedule").await;
    browser.wait_for_text("owner@example.com", false).await;
    browser.check_page("admin-reports").await;

    browser.go("/admin/dead-letters").await;
    browser.wait_for_text("No dead letters.", false).await;
    browser.check_page("admin-dead-letters").await;
    browser.go("/admin/health").await;
    assert_eq!(browser.text("#health-status").await, "all ready");
    browser.check_page("admin-health").await;
}

/// Fulfilment from the browser: the label downloaded, the shipment dispatched then
/// delivered (each button offered only when it applies), a return asked for by the
/// customer on their order page, approved and received by the admin (the unit back in
/// stock), and a report downloaded.
async fn an_admin_ships_an_order_and_takes_a_return_back(shape: Shape) {
    let Some((app, browser)) = platform(shape).await else {
        return;
    };
    let (mug, _) = shelves(&app).await;
    let sku = mug["sku"].as_str().expect("sku").to_owned();
    let admin = app.admin().await;
    let buyer = app.user("returner").await;
    let placed = json_of(order(&app, &buyer, &items_order(&sku, 2, APPROVE)).await).await;
    let order_id = placed["id"].as_str().expect("order id").to_owned();
    let order_path = format!("/api/v1/orders/{order_id}");
    until(&app, &buyer.access, &order_path, "confirmed", |o| {
        o["status"] == "confirmed"
    })
    .await;

    browser.go("/admin/shipments").await;
    sign_in_on_identity_page(&browser, "admin@viscount.test", "admin-password-1").await;
    browser.wait_for_path("/admin/shipments").await;
    browser.wait_for_text(&order_id[..8], true).await;
    let label = browser.fetch_link("a[href$='/label']").await;
    assert_eq!(label.status, 200, "{label:?}");
    assert_eq!(label.content_type, "application/pdf", "{label:?}");
    assert!(label.head.starts_with(b"%PDF-"), "a PDF: {label:?}");
    assert!(label.disposition.contains("filename="), "named: {label:?}");
    assert!(
        !browser.has("form[action$='/deliver']").await,
        "a parcel still in the warehouse is offered dispatch, not delivery"
    );
    browser.press("Dispatch").await;
    // Back on the list, the parcel on its way: now it can be marked delivered.
    browser.find("form[action$='/deliver']").await;
    assert_eq!(browser.path().await, "/admin/shipments");
    until(&app, &admin.access, &order_path, "shipped", |o| {
        o["status"] == "shipped"
    })
    .await;
    browser.press("Mark delivered").await;
    browser.wait_for_text_in("tbody", "Delivered").await;
    assert_eq!(browser.path().await, "/admin/shipments");
    until(&app, &admin.access, &order_path, "delivered", |o| {
        o["status"] == "delivered"
    })
    .await;
    assert!(
        !browser.has("form[action$='/dispatch']").await,
        "nothing more to do to a delivered parcel"
    );
    browser.check_page("admin-shipments-delivered").await;
    browser.press("Sign out").await;
    browser.wait_for_text("Sign in", false).await;

    // The customer asks to return one of the two.
    browser.go(&format!("/orders/{order_id}")).await;
    sign_in_on_identity_page(&browser, &buyer.email, PASSWORD).await;
    browser.wait_for_path(&format!("/orders/{order_id}")).await;
    browser.fill(&format!("f-qty_{sku}"), "1").await;
    browser.fill("f-reason", "One was enough.").await;
    browser.check_page("order-return").await;
    browser.press("Ask to return").await;
    browser
        .wait_for_text("Your return request is sent.", false)
        .await;
    let asked = json_of(app.get("/api/v1/returns", Some(&buyer.access)).await).await;
    assert_eq!(asked["items"][0]["status"], "requested", "{asked}");
    assert_eq!(asked["items"][0]["lines"][0]["quantity"], 1, "{asked}");
    let return_id = asked["items"][0]["id"]
        .as_str()
        .expect("return id")
        .to_owned();
    browser.press("Sign out").await;
    browser.wait_for_text("Sign in", false).await;

    // The admin approves it and, the parcel back, receives it: the unit is in stock again.
    let stock_path = format!("/api/v1/inventory/{sku}");
    let before = until(&app, &admin.access, &stock_path, "the sale counted", |s| {
        s["reserved"] == 0
    })
    .await;
    browser.go("/admin/returns").await;
    sign_in_on_identity_page(&browser, "admin@viscount.test", "admin-password-1").await;
    browser.wait_for_text("One was enough.", false).await;
    browser.press("Approve").await;
    browser.press("Received").await;
    browser
        .wait_for_none(&format!(
            "form[action='/admin/returns/{return_id}/receive']"
        ))
        .await;
    let received = until(
        &app,
        &admin.access,
        &format!("/api/v1/returns/{return_id}"),
        "received",
        |r| r["status"] == "received",
    )
    .await;
    assert_eq!(received["order_id"], order_id.as_str());
    let on_hand = before["on_hand"].as_i64().expect("on hand");
    until(&app, &admin.access, &stock_path, "restocked", |s| {
        s["on_hand"].as_i64() == Some(on_hand + 1)
    })
    .await;
    browser.check_page("admin-returns-received").await;

    // A report, made and downloaded.
    browser.go("/admin/reports").await;
    browser.press("Make report").await;
    browser
        .wait_for_text("The report is being made.", false)
        .await;
    browser.go("/admin/reports").await;
    browser.wait_for_text("Download", true).await;
    let report = browser.fetch_link("a[href$='/download']").await;
    assert_eq!(report.status, 200, "{report:?}");
    assert!(report.length > 0, "{report:?}");
    assert!(
        report.disposition.contains("filename="),
        "named: {report:?}"
    );
    browser.close().await;
}

async fn a_customer_cannot_open_the_admin_and_forms_need_their_token(shape: Shape) {
    let Some((app, browser)) = platform(shape).await else {
        return;
    };
    signed_in_customer(&app, &browser, "nosy").await;
    browser.go("/admin/orders").await;
    let page = browser.body().await;
    assert!(page.contains("Not allowed"), "{page}");
    assert!(
        !browser.has("#orders").await,
        "no order data on the 403 page"
    );
    browser.check_page("forbidden").await;

    // The same, as the status code and with no data, through the session cookie.
    let cookie = browser
        .client
        .get_named_cookie("vc_session")
        .await
        .expect("session cookie");
    assert_eq!(cookie.http_only(), Some(true));
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let session = format!("vc_session={}", cookie.value());
    let forbidden = client
        .get(app.url("/admin/orders"))
        .header("cookie", &session)
        .send()
        .await
        .expect("admin");
    assert_eq!(forbidden.status(), 403);
    let page = forbidden.text().await.expect("body");
    assert!(
        page.contains("Not allowed") && !page.contains("id=\"orders\""),
        "no data: {page}"
    );

    // A browser at another name of the host signs in at the issuer's (where identity
    // sends it back, so its sign-in cookie must be set there).
    let elsewhere = app.base.replace("127.0.0.1", "localhost");
    let moved = client
        .get(format!("{elsewhere}/auth/login?return_to=%2Fcart"))
        .send()
        .await
        .expect("login");
    assert_eq!(moved.status(), 303);
    let location = moved.headers()["location"]
        .to_str()
        .expect("location")
        .to_owned();
    assert!(
        location.starts_with(&format!("{}/auth/login?", app.base)) && location.contains("moved=1"),
        "{location}"
    );
    let at_issuer = client
        .get(&location)
        .send()
        .await
        .expect("login at the issuer");
    assert!(
        at_issuer.headers()["location"]
            .to_str()
            .expect("location")
            .contains("/oauth2/authorize?")
    );

    // A form without its CSRF token is refused and changes nothing.
    let refused = client
        .post(app.url("/account/profile"))
        .header("cookie", &session)
        .form(&[("name", "Forged Name")])
        .send()
        .await
        .expect("post");
    assert_eq!(refused.status(), 403);
    assert!(refused.text().await.expect("body").contains("Form refused"));
    // Nor with another session's token, as a field or as htmx's header.
    let forged = client
        .post(app.url("/account/profile"))
        .header("cookie", &session)
        .form(&[("name", "Forged Name"), ("csrf", "not-this-sessions-token")])
        .send()
        .await
        .expect("post");
    assert_eq!(forged.status(), 403);
    let forged = client
        .post(app.url("/account/profile"))
        .header("cookie", &session)
        .header("x-csrf-token", "not-this-sessions-token")
        .header("hx-request", "true")
        .form(&[("name", "Forged Name")])
        .send()
        .await
        .expect("post");
    assert_eq!(forged.status(), 403);
    // The session's own token in htmx's header is accepted.
    let token = browser
        .client
        .execute(
            "return document.querySelector('input[name=csrf]').value;",
            Vec::new(),
        )
        .await
        .expect("token")
        .as_str()
        .expect("a token")
        .to_owned();
    let renamed = client
        .post(app.url("/account/profile"))
        .header("cookie", &session)
        .header("x-csrf-token", &token)
        .form(&[("name", "Nosy Parker")])
        .send()
        .await
        .expect("post");
    assert_eq!(renamed.status(), 200);
    assert!(
        renamed
            .text()
            .await
            .expect("body")
            .contains("Profile saved.")
    );
    browser.go("/account").await;
    browser
        .client
        .execute("document.querySelector('form[action=\"/account/profile\"] input[name=csrf]').remove();", Vec::new())
        .await
        .expect("token removed");
    browser.fill("f-name", "Forged Name").await;
    browser.press("Save profile").await;
    browser.wait_for_text("Form refused", false).await;
    browser.go("/account").await;
    assert!(
        !browser.body().await.contains("Forged Name"),
        "the profile is unchanged"
    );
    browser.close().await;
}
