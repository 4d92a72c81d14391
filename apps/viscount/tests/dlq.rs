//! `viscount dlq` against a running `viscount up`: the operator lists the platform's
//! dead letters, replays one (its effect shows through the API) and discards another,
//! through the gateway, as an admin.

use std::path::Path;
use std::process::{Output, Stdio};

use serde_json::{Value, json};

mod support;

use support::running::{Running, viscount};

const ADMIN_EMAIL: &str = "desk@example.com";
const ADMIN_PASSWORD: &str = "desk-password-1";

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// `viscount up` on `dir`, with the admin.
fn up(dir: &Path) -> Running {
    let mut command = viscount(dir);
    command
        .args(["up", "--data-dir", &dir.display().to_string()])
        .args(["--listen", "127.0.0.1:0"])
        .env("VISCOUNT_BOOTSTRAP_ADMIN_EMAIL", ADMIN_EMAIL)
        .env("VISCOUNT_BOOTSTRAP_ADMIN_PASSWORD", ADMIN_PASSWORD);
    Running::spawn(command)
}

/// `viscount dlq <args>` against `url` with `token` (none: no credentials).
async fn dlq(dir: &Path, url: &str, token: Option<&str>, args: &[&str]) -> Output {
    let mut command = viscount(dir);
    command.arg("dlq").args(args).args(["--url", url]);
    if let Some(token) = token {
        command.env("VISCOUNT_TOKEN", token);
    }
    tokio::task::spawn_blocking(move || command.stdin(Stdio::null()).output())
        .await
        .expect("joined")
        .expect("viscount dlq runs")
}

fn succeeded(output: &Output) -> String {
    assert!(
        output.status.success(),
        "exit 0 expected: {}\n{}",
        text(&output.stdout),
        text(&output.stderr)
    );
    text(&output.stdout)
}

fn failed(output: &Output) -> String {
    assert!(
        !output.status.success(),
        "a failure expected: {}",
        text(&output.stdout)
    );
    text(&output.stderr)
}

#[test]
fn dlq_help_lists_its_commands_and_flags() {
    let dir = tempfile::tempdir().expect("temp dir");
    for (args, words) in [
        (
            &["dlq", "--help"][..],
            &["list", "replay", "discard", "--url", "--token", "--api-key"][..],
        ),
        (
            &["dlq", "list", "--help"],
            &["--service", "--status", "--limit", "--json", "--cursor"],
        ),
        (&["dlq", "replay", "--help"], &["<ID>", "--json"]),
    ] {
        let output = viscount(dir.path())
            .args(args)
            .output()
            .expect("viscount runs");
        let help = succeeded(&output);
        for word in words {
            assert!(
                help.contains(word),
                "viscount {args:?} mentions {word}:\n{help}"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_lists_replays_and_discards_dead_letters_with_the_cli() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut up = up(dir.path());
    let url = up.url_of("viscount is up").await;
    let client = reqwest::Client::new();
    let login: Value = client
        .post(format!("{url}/api/v1/auth/login"))
        .json(&json!({"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD}))
        .send()
        .await
        .expect("login")
        .json()
        .await
        .expect("tokens");
    let token = login["access_token"].as_str().expect("token").to_owned();
    let sku = format!("CLI-{}", &uuid::Uuid::now_v7().simple().to_string()[20..]);
    let created = client
        .post(format!("{url}/api/v1/products"))
        .bearer_auth(&token)
        .json(
            &json!({"sku": sku, "name": "Desk", "description": "a product",
                      "price": {"amount": 500, "currency": "USD"}}),
        )
        .send()
        .await
        .expect("product");
    assert_eq!(created.status(), 201);
    let product: Value = created.json().await.expect("product");
    let product_id = product["id"].as_str().expect("id").to_owned();
    assert_eq!(product["in_stock"], false);

    // Stock catalog's consumer gave up on, written into its database beside the running
    // platform (SQLite in WAL mode takes a second process's writes).
    let catalog = platform::db::Db::open_existing(&platform::db::sqlite_url(dir.path(), "catalog"))
        .await
        .expect("catalog's database");
    let event = json!({
        "specversion": "1.0", "id": platform::ids::new_id(), "source": "/viscount/inventory",
        "type": "inventory.stock.updated.v1", "subject": sku,
        "time": platform::time::rfc3339(platform::time::now_millis()),
        "datacontenttype": "application/json",
        "data": {"sku": sku, "on_hand": 3, "reserved": 0, "available": 3}
    });
    let id = platform::ids::new_id();
    let mut tx = catalog.begin().await.expect("transaction");
    platform::db::query(
        "INSERT INTO dead_letters (id, consumer, event_id, event_type, body, error, attempts, \
         failed_at) VALUES ($1, 'catalog', $2, 'inventory.stock.updated.v1', $3, $4, 5, $5)",
    )
    .bind(&id)
    .bind(event["id"].as_str().expect("event id"))
    .bind(event.to_string())
    .bind("database error: disk I/O error\nat the second line")
    .bind(platform::time::now_millis())
    .execute(&mut *tx)
    .await
    .expect("dead letter written");
    tx.commit().await.expect("commit");
    catalog.close().await;

    // The table: one line per letter, the error's first line.
    let listed = succeeded(&dlq(dir.path(), &url, Some(&token), &["list"]).await);
    let line = listed
        .lines()
        .find(|line| line.contains(&id))
        .unwrap_or_else(|| panic!("{id} is listed:\n{listed}"));
    for cell in [
        "catalog",
        "inventory.stock.updated.v1",
        "5",
        "waiting",
        "database error: disk I/O error",
    ] {
        assert!(line.contains(cell), "{cell} in {line}");
    }
    assert!(!listed.contains("the second line"));
    let json_list: Value = serde_json::from_str(&succeeded(
        &dlq(
            dir.path(),
            &url,
            Some(&token),
            &["list", "--service", "catalog", "--json"],
        )
        .await,
    ))
    .expect("--json prints the body");
    assert_eq!(json_list["items"][0]["id"], id.as_str());
    assert_eq!(json_list["items"][0]["event"]["data"]["sku"], sku.as_str());

    // Replayed: the stock applies, once.
    let replayed = succeeded(&dlq(dir.path(), &url, Some(&token), &["replay", &id]).await);
    assert!(replayed.contains(&format!("replayed {id}")), "{replayed}");
    let shown: Value = client
        .get(format!("{url}/api/v1/products/{product_id}"))
        .send()
        .await
        .expect("product")
        .json()
        .await
        .expect("product");
    assert_eq!(shown["in_stock"], true, "{shown}");
    let again = failed(&dlq(dir.path(), &url, Some(&token), &["replay", &id]).await);
    assert!(again.contains("replayed already"), "{again}");
    let replayed_list = succeeded(
        &dlq(
            dir.path(),
            &url,
            Some(&token),
            &["list", "--status", "replayed"],
        )
        .await,
    );
    assert!(
        replayed_list
            .lines()
            .any(|line| line.contains(&id) && line.contains("replayed")),
        "{replayed_list}"
    );

    // Discarded: gone; errors are the problem's detail and a non-zero exit.
    succeeded(&dlq(dir.path(), &url, Some(&token), &["discard", &id]).await);
    let gone = failed(&dlq(dir.path(), &url, Some(&token), &["discard", &id]).await);
    assert!(gone.contains("dead letter not found"), "{gone}");
    let empty = succeeded(&dlq(dir.path(), &url, Some(&token), &["list"]).await);
    assert!(!empty.contains(&id), "{empty}");
    let anonymous = failed(&dlq(dir.path(), &url, None, &["list"]).await);
    assert!(anonymous.contains("--token"), "{anonymous}");
    drop(up);
}
