//! `viscount bench console`: the web console's pages under N browsers at once.
//!
//! Each browser is a customer (signed up, then signed in through the authorization
//! code flow exactly as a browser is: the console's redirect, identity's page, the
//! callback) with a cart and an order, or the admin signed in the same way. Then each
//! page is measured in turn: every browser GETs it with its own session, its next
//! request sent when the last answered. The table lists the pages heaviest first (by
//! p99) and the script each page loads. The product the customers buy is restocked
//! first (as the admin), so every browser's order is placed.

use std::collections::HashMap;
use std::time::Duration;

use anyhow::{Context, bail};
use reqwest::header::{COOKIE, HeaderMap, HeaderValue, LOCATION, SET_COOKIE};

use super::latency::{LatencyReport, measure_each};

/// Arguments of `viscount bench console`.
#[derive(Debug, Clone, clap::Args)]
pub struct ConsoleArgs {
    /// The platform's address (its issuer: where identity sends a browser back).
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    pub target: String,
    /// Browsers at once.
    #[arg(long, default_value_t = 32)]
    pub browsers: usize,
    /// How long each page is measured.
    #[arg(long, default_value = "10s", value_parser = humantime::parse_duration)]
    pub duration: Duration,
    /// Not recorded at the start of each page's run.
    #[arg(long, default_value = "2s", value_parser = humantime::parse_duration)]
    pub warmup: Duration,
    /// The admin's email (the admin pages are measured signed in as it).
    #[arg(long, env = "VISCOUNT_BOOTSTRAP_ADMIN_EMAIL")]
    pub admin_email: String,
    /// The admin's password.
    #[arg(long, env = "VISCOUNT_BOOTSTRAP_ADMIN_PASSWORD")]
    pub admin_password: String,
}

/// A client that shows redirects rather than following them.
fn plain_client() -> anyhow::Result<reqwest::Client> {
    Ok(reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(30))
        .build()?)
}

/// The cookies a response sets, by name.
fn cookies_of(response: &reqwest::Response, jar: &mut HashMap<String, String>) {
    for value in response.headers().get_all(SET_COOKIE) {
        if let Some((pair, _)) = value.to_str().unwrap_or_default().split_once(';')
            && let Some((name, value)) = pair.split_once('=')
        {
            jar.insert(name.trim().to_owned(), value.trim().to_owned());
        }
    }
}

fn cookie_header(jar: &HashMap<String, String>) -> String {
    jar.iter()
        .filter(|(_, value)| !value.is_empty())
        .map(|(name, value)| format!("{name}={value}"))
        .collect::<Vec<_>>()
        .join("; ")
}

/// The `name="…" value="…"` pairs of a page's hidden fields.
fn hidden_fields(page: &str) -> Vec<(String, String)> {
    let mut fields = Vec::new();
    for input in page.split("<input").skip(1) {
        let tag = input.split('>').next().unwrap_or_default();
        if !tag.contains("type=\"hidden\"") {
            continue;
        }
        let attribute = |name: &str| {
            tag.split(&format!("{name}=\""))
                .nth(1)
                .and_then(|rest| rest.split('"').next())
        };
        if let (Some(name), Some(value)) = (attribute("name"), attribute("value")) {
            fields.push((unescape(name), unescape(value)));
        }
    }
    fields
}

fn unescape(text: &str) -> String {
    text.replace("&#x2f;", "/")
        .replace("&quot;", "\"")
        .replace("&#x27;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

/// Signs `email` in through the console's code flow; returns the session cookie.
async fn sign_in(target: &str, email: &str, password: &str) -> anyhow::Result<String> {
    let client = plain_client()?;
    let mut jar = HashMap::new();
    let login = client.get(format!("{target}/auth/login")).send().await?;
    cookies_of(&login, &mut jar);
    let authorize = login
        .headers()
        .get(LOCATION)
        .and_then(|l| l.to_str().ok())
        .context("the console did not send the browser to identity")?
        .to_owned();
    let page = client.get(&authorize).send().await?.text().await?;
    let mut form = hidden_fields(&page);
    form.push(("email".into(), email.into()));
    form.push(("password".into(), password.into()));
    let signed = client
        .post(format!("{target}/oauth2/authorize"))
        .form(&form)
        .send()
        .await?;
    let callback = signed
        .headers()
        .get(LOCATION)
        .and_then(|l| l.to_str().ok())
        .with_context(|| {
            format!(
                "identity refused the sign-in of {email} ({})",
                signed.status()
            )
        })?
        .to_owned();
    let back = client
        .get(&callback)
        .header(COOKIE, cookie_header(&jar))
        .send()
        .await?;
    cookies_of(&back, &mut jar);
    jar.get("vc_session")
        .cloned()
        .filter(|s| !s.is_empty())
        .with_context(|| format!("no session after the callback ({})", back.status()))
}

/// A client sending `session`'s cookie with every request.
fn browser(session: &str) -> anyhow::Result<reqwest::Client> {
    let mut headers = HeaderMap::new();
    headers.insert(
        COOKIE,
        HeaderValue::from_str(&format!("vc_session={session}"))?,
    );
    Ok(reqwest::Client::builder()
        .default_headers(headers)
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(30))
        .build()?)
}

/// The CSRF token of a page's first form.
fn csrf_of(page: &str) -> Option<String> {
    hidden_fields(page)
        .into_iter()
        .find(|(name, _)| name == "csrf")
        .map(|(_, value)| value)
}

/// A new customer: signed up, signed in, with `sku` in the cart and one order placed
/// (so the order pages have one to show). Returns its browser and the order's path.
async fn customer(
    args: &ConsoleArgs,
    n: usize,
    sku: &str,
) -> anyhow::Result<(reqwest::Client, String)> {
    let email = format!("console-bench-{n}-{}@bench.test", platform::ids::new_id());
    let password = "console-bench-password";
    let signup = plain_client()?
        .post(format!("{}/api/v1/users", args.target))
        .json(&serde_json::json!({"email": email, "password": password, "name": format!("Bench Browser {n}")}))
        .send()
        .await?;
    if !signup.status().is_success() {
        bail!("sign-up of {email}: {}", signup.status());
    }
    let session = sign_in(&args.target, &email, password).await?;
    let client = browser(&session)?;
    let page = client
        .get(format!("{}/account", args.target))
        .send()
        .await?
        .text()
        .await?;
    let csrf = csrf_of(&page).context("no CSRF token on the account page")?;
    for _ in 0..2 {
        client
            .post(format!("{}/cart/items", args.target))
            .form(&[("csrf", csrf.as_str()), ("sku", sku), ("quantity", "1")])
            .send()
            .await?;
    }
    let placed = client
        .post(format!("{}/checkout", args.target))
        .form(&[
            ("csrf", csrf.as_str()),
            ("name", "Bench Browser"),
            ("line1", "1 Main St"),
            ("city", "Springfield"),
            ("postal_code", "12345"),
            ("country", "US"),
            ("card_number", "4242424242424242"),
            ("exp_month", "12"),
            ("exp_year", "2099"),
            ("cvc", "123"),
        ])
        .send()
        .await?;
    let Some(order) = placed
        .headers()
        .get(LOCATION)
        .and_then(|l| l.to_str().ok())
        .map(|l| l.split('?').next().unwrap_or(l).to_owned())
    else {
        let status = placed.status();
        let page = placed.text().await.unwrap_or_default();
        let why = page
            .split("role=\"alert\"")
            .nth(1)
            .map(|rest| rest.split("</div>").next().unwrap_or(rest).to_owned())
            .unwrap_or_default();
        bail!("checkout did not place an order ({status}): {why}");
    };
    // The cart page shows a line again.
    client
        .post(format!("{}/cart/items", args.target))
        .form(&[("csrf", csrf.as_str()), ("sku", sku), ("quantity", "1")])
        .send()
        .await?;
    Ok((client, order))
}

/// Adds enough of `sku` for every browser's orders, as the admin, in the first warehouse.
async fn restock(args: &ConsoleArgs, sku: &str) -> anyhow::Result<()> {
    let client = plain_client()?;
    let tokens: serde_json::Value = client
        .post(format!("{}/api/v1/auth/login", args.target))
        .json(&serde_json::json!({"email": args.admin_email, "password": args.admin_password}))
        .send()
        .await?
        .error_for_status()
        .context("the admin cannot sign in")?
        .json()
        .await?;
    let token = tokens["access_token"].as_str().context("no access token")?;
    let warehouses: serde_json::Value = client
        .get(format!("{}/api/v1/warehouses?limit=1", args.target))
        .bearer_auth(token)
        .send()
        .await?
        .json()
        .await?;
    let warehouse = warehouses["items"][0]["id"]
        .as_str()
        .context("no warehouse")?;
    client
        .post(format!("{}/api/v1/inventory/adjust", args.target))
        .bearer_auth(token)
        .json(&serde_json::json!({"sku": sku, "warehouse_id": warehouse,
                                  "delta": args.browsers * 4, "reason": "console bench"}))
        .send()
        .await?
        .error_for_status()
        .context("stock not added")?;
    Ok(())
}

/// Bytes of the scripts `page` loads (`<script src>`), fetched.
async fn script_bytes(client: &reqwest::Client, target: &str, page: &str) -> anyhow::Result<usize> {
    let mut total = 0;
    for tag in page.split("<script").skip(1) {
        let tag = tag.split('>').next().unwrap_or_default();
        if let Some(src) = tag
            .split("src=\"")
            .nth(1)
            .and_then(|rest| rest.split('"').next())
        {
            total += client
                .get(format!("{target}{}", unescape(src)))
                .send()
                .await?
                .bytes()
                .await?
                .len();
        }
    }
    Ok(total)
}

/// Runs the bench and prints the table.
pub async fn console(args: ConsoleArgs) -> anyhow::Result<()> {
    let target = args.target.trim_end_matches('/').to_owned();
    let args = ConsoleArgs { target, ..args };
    let products: serde_json::Value = plain_client()?
        .get(format!(
            "{}/api/v1/products?in_stock=true&limit=1",
            args.target
        ))
        .send()
        .await?
        .json()
        .await?;
    let product = products["items"][0].clone();
    let (Some(product_id), Some(sku)) = (product["id"].as_str(), product["sku"].as_str()) else {
        bail!("no product in stock: run `viscount seed --demo` first");
    };
    restock(&args, sku).await?;
    eprintln!(
        "signing in {} customers and {} admin sessions…",
        args.browsers, args.browsers
    );
    let mut customers = Vec::with_capacity(args.browsers);
    for n in 0..args.browsers {
        customers.push(customer(&args, n, sku).await?);
    }
    let mut admins = Vec::with_capacity(args.browsers);
    for _ in 0..args.browsers {
        admins.push(browser(
            &sign_in(&args.target, &args.admin_email, &args.admin_password).await?,
        )?);
    }
    let name = product["name"]
        .as_str()
        .unwrap_or("a")
        .split_whitespace()
        .next()
        .unwrap_or("a")
        .to_lowercase();
    // Each browser its own page (its own order); the admin pages the same for all.
    let at = |path: &str| format!("{}{path}", args.target);
    let shop = |path: &str| -> Vec<(reqwest::Client, String)> {
        customers
            .iter()
            .map(|(client, _)| (client.clone(), at(path)))
            .collect()
    };
    let admin = |path: &str| -> Vec<(reqwest::Client, String)> {
        admins
            .iter()
            .map(|client| (client.clone(), at(path)))
            .collect()
    };
    let own_orders: Vec<(reqwest::Client, String)> = customers
        .iter()
        .map(|(client, order)| (client.clone(), at(order)))
        .collect();
    let first_order = customers
        .first()
        .map(|(_, order)| order.clone())
        .unwrap_or_default();
    let pages: Vec<(&str, Vec<(reqwest::Client, String)>)> = vec![
        ("storefront home", shop("/")),
        ("search", shop(&format!("/search?q={name}"))),
        ("product", shop(&format!("/products/{product_id}"))),
        ("cart", shop("/cart")),
        ("checkout", shop("/checkout")),
        ("orders", shop("/orders")),
        ("order", own_orders),
        ("account", shop("/account")),
        ("admin dashboard", admin("/admin")),
        ("admin orders", admin("/admin/orders")),
        ("admin order", admin(&format!("/admin{first_order}"))),
        ("admin products", admin("/admin/products")),
        ("admin stock", admin(&format!("/admin/stock?sku={sku}"))),
        ("admin templates", admin("/admin/templates")),
        ("admin users", admin("/admin/users")),
        ("admin health", admin("/admin/health")),
    ];
    println!(
        "{} browsers at once, {} per page after {} warm-up",
        args.browsers,
        humantime::format_duration(args.duration),
        humantime::format_duration(args.warmup)
    );
    let mut results: Vec<(&str, String, LatencyReport, usize)> = Vec::new();
    for (label, targets) in pages {
        let (first, url) = targets.first().context("no browsers")?;
        let page = first.get(url).send().await?;
        if !page.status().is_success() {
            bail!("{label} ({url}) answered {}", page.status());
        }
        let html = page.text().await?;
        let scripts = script_bytes(first, &args.target, &html).await?;
        let report = measure_each(&targets, args.duration, args.warmup).await?;
        eprintln!("{label}: p99 {:.1} ms", report.p99_us as f64 / 1000.0);
        let path = url.trim_start_matches(&args.target).to_owned();
        results.push((label, path, report, scripts));
    }
    results.sort_by_key(|result| std::cmp::Reverse(result.2.p99_us));
    println!(
        "{:<18} {:>9} {:>10} {:>10} {:>10} {:>7} {:>9}  path",
        "page", "req/s", "p50", "p90", "p99", "errors", "script"
    );
    let ms = |us: u64| format!("{:.2} ms", us as f64 / 1000.0);
    for (label, path, report, scripts) in &results {
        println!(
            "{:<18} {:>9.0} {:>10} {:>10} {:>10} {:>7} {:>6} KB  {}",
            label,
            report.per_second,
            ms(report.p50_us),
            ms(report.p90_us),
            ms(report.p99_us),
            report.errors,
            scripts.div_ceil(1024),
            path
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hidden_fields_are_read_from_a_page() {
        let page = r#"<form><input type="hidden" name="csrf" value="a&#x2f;b"><input name="q" value="x"><input type="hidden" name="state" value="s1"></form>"#;
        assert_eq!(
            hidden_fields(page),
            vec![
                ("csrf".to_owned(), "a/b".to_owned()),
                ("state".to_owned(), "s1".to_owned())
            ]
        );
        assert_eq!(csrf_of(page).as_deref(), Some("a/b"));
    }
}
