//! `viscount dlq`: the events services' consumers gave up on (dead letters), listed,
//! replayed or discarded through a running platform's gateway, as an admin. The
//! gateway asks every service ([`gateway::dead_letters`]), so this works the same
//! against either shape.

use std::collections::BTreeSet;

use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use gateway::dead_letters::DeadLetterPage;
use platform::bus::dead_letters::{DeadLetterStatus, DeadLetterView, PATH, letter_path};
use reqwest::{Method, RequestBuilder, Response};
use serde_json::Value;

/// The largest page the API serves.
const MAX_PAGE: usize = 100;

/// `viscount dlq ...`.
#[derive(Args)]
pub struct DlqArgs {
    /// The gateway of the running platform.
    #[arg(
        long,
        global = true,
        env = "VISCOUNT_URL",
        default_value = "http://127.0.0.1:8080"
    )]
    url: String,
    /// An admin's API key (sent as X-API-Key).
    #[arg(long, global = true, env = "VISCOUNT_API_KEY", hide_env_values = true)]
    api_key: Option<String>,
    /// An admin's access token (sent as a bearer token).
    #[arg(
        long,
        global = true,
        env = "VISCOUNT_TOKEN",
        hide_env_values = true,
        conflicts_with = "api_key"
    )]
    token: Option<String>,
    #[command(subcommand)]
    command: DlqCommand,
}

#[derive(Subcommand)]
enum DlqCommand {
    /// The dead letters of every service (or one), newest first.
    List(ListArgs),
    /// Applies a dead letter's event once more through its service's consumer.
    Replay {
        /// The dead letter's id.
        id: String,
        /// Print the replayed letter as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Deletes a dead letter: its event will not be applied.
    Discard {
        /// The dead letter's id.
        id: String,
    },
}

#[derive(Args)]
struct ListArgs {
    /// Only this service's dead letters (e.g. ordering).
    #[arg(long)]
    service: Option<String>,
    /// Only waiting (not replayed) or only replayed ones.
    #[arg(long, value_parser = ["waiting", "replayed"])]
    status: Option<String>,
    /// Only events of this type (e.g. inventory.stock.updated.v1).
    #[arg(long)]
    event_type: Option<String>,
    /// At most this many (fetched a page of up to 100 at a time).
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u32).range(1..))]
    limit: u32,
    /// Continue where an earlier list stopped (its `next_cursor`).
    #[arg(long)]
    cursor: Option<String>,
    /// Print the answer as JSON (`{items, next_cursor, unavailable}`).
    #[arg(long)]
    json: bool,
}

/// Runs `viscount dlq ...`.
pub async fn run(args: DlqArgs) -> anyhow::Result<()> {
    let gateway = Gateway::new(&args)?;
    match args.command {
        DlqCommand::List(list) => {
            let page = gateway.list(&list).await?;
            if list.json {
                println!("{}", serde_json::to_string_pretty(&page)?);
            } else {
                print!("{}", table(&page.items));
                if let Some(cursor) = &page.next_cursor {
                    println!("more: viscount dlq list --cursor {cursor}");
                }
            }
            if !page.unavailable.is_empty() {
                eprintln!(
                    "warning: these services did not answer, their dead letters are missing: {}",
                    page.unavailable.join(", ")
                );
            }
            Ok(())
        }
        DlqCommand::Replay { id, json } => {
            let body = gateway
                .send(Method::POST, &letter_path(&id, "/replay"))
                .await?;
            let letter: DeadLetterView =
                serde_json::from_value(body.clone()).context("unexpected answer")?;
            if json {
                println!("{}", serde_json::to_string_pretty(&body)?);
            } else {
                println!(
                    "replayed {} ({} in {})",
                    letter.id, letter.event_type, letter.service
                );
            }
            Ok(())
        }
        DlqCommand::Discard { id } => {
            gateway.send(Method::DELETE, &letter_path(&id, "")).await?;
            println!("discarded {id}");
            Ok(())
        }
    }
}

/// The gateway of a running platform, called with the admin's credentials.
struct Gateway {
    base: String,
    client: reqwest::Client,
    api_key: Option<String>,
    token: Option<String>,
}

impl Gateway {
    fn new(args: &DlqArgs) -> anyhow::Result<Self> {
        Ok(Self {
            base: args.url.trim_end_matches('/').to_owned(),
            client: reqwest::Client::builder()
                .timeout(std::time::Duration::from_secs(60))
                .build()?,
            api_key: args.api_key.clone(),
            token: args.token.clone(),
        })
    }

    fn request(&self, method: Method, path: &str) -> RequestBuilder {
        let request = self.client.request(method, format!("{}{path}", self.base));
        match (&self.token, &self.api_key) {
            (Some(token), _) => request.bearer_auth(token),
            (None, Some(key)) => request.header("x-api-key", key),
            (None, None) => request,
        }
    }

    /// Up to `args.limit` letters, following the gateway's pages.
    async fn list(&self, args: &ListArgs) -> anyhow::Result<DeadLetterPage> {
        let wanted = args.limit as usize;
        let mut page = DeadLetterPage {
            items: Vec::new(),
            next_cursor: args.cursor.clone(),
            unavailable: Vec::new(),
        };
        let mut unavailable = BTreeSet::new();
        loop {
            let limit = (wanted - page.items.len()).min(MAX_PAGE).to_string();
            let mut query: Vec<(&str, &str)> = vec![("limit", &limit)];
            let filters = [
                ("service", &args.service),
                ("status", &args.status),
                ("event_type", &args.event_type),
                ("cursor", &page.next_cursor),
            ];
            for (name, value) in &filters {
                if let Some(value) = value {
                    query.push((name, value));
                }
            }
            let body = self
                .answer(self.request(Method::GET, PATH).query(&query))
                .await?;
            let next: DeadLetterPage = serde_json::from_value(body).context("unexpected answer")?;
            page.items.extend(next.items);
            unavailable.extend(next.unavailable);
            page.next_cursor = next.next_cursor;
            if page.next_cursor.is_none() || page.items.len() >= wanted {
                break;
            }
        }
        page.unavailable = unavailable.into_iter().collect();
        Ok(page)
    }

    /// `method path`, its JSON answer (`null` for none).
    async fn send(&self, method: Method, path: &str) -> anyhow::Result<Value> {
        self.answer(self.request(method, path)).await
    }

    async fn answer(&self, request: RequestBuilder) -> anyhow::Result<Value> {
        let response = request
            .send()
            .await
            .with_context(|| format!("cannot reach the gateway at {}", self.base))?;
        let status = response.status();
        if !status.is_success() {
            bail!(self.refusal(response).await);
        }
        let body = response.bytes().await?;
        if body.is_empty() {
            return Ok(Value::Null);
        }
        serde_json::from_slice(&body).context("the gateway's answer is not JSON")
    }

    /// What a refused request reports: the problem's detail.
    async fn refusal(&self, response: Response) -> String {
        let status = response.status();
        let problem: Value = response.json().await.unwrap_or(Value::Null);
        let detail = problem["detail"]
            .as_str()
            .map(str::to_owned)
            .unwrap_or_else(|| format!("the gateway answered {status}"));
        if status == reqwest::StatusCode::UNAUTHORIZED
            && self.token.is_none()
            && self.api_key.is_none()
        {
            return format!(
                "{detail} (pass an admin's --token or --api-key, or set VISCOUNT_TOKEN or \
                 VISCOUNT_API_KEY)"
            );
        }
        detail
    }
}

/// The letters as a table: id, service, event type, attempts, failed at, status and the
/// first line of the error.
fn table(letters: &[DeadLetterView]) -> String {
    if letters.is_empty() {
        return "no dead letters\n".to_owned();
    }
    let header = [
        "ID",
        "SERVICE",
        "EVENT TYPE",
        "ATTEMPTS",
        "FAILED AT",
        "STATUS",
        "ERROR",
    ];
    let rows: Vec<[String; 7]> = letters
        .iter()
        .map(|letter| {
            [
                letter.id.clone(),
                letter.service.clone(),
                letter.event_type.clone(),
                letter.attempts.to_string(),
                letter.failed_at.clone(),
                match letter.status {
                    DeadLetterStatus::Waiting => "waiting",
                    DeadLetterStatus::Replayed => "replayed",
                }
                .to_owned(),
                letter.error.lines().next().unwrap_or_default().to_owned(),
            ]
        })
        .collect();
    let mut widths = header.map(str::len);
    for row in &rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let line = |cells: &[&str]| {
        let mut text = String::new();
        for (index, cell) in cells.iter().enumerate() {
            if index + 1 == cells.len() {
                // The error is last and not padded: it may be long.
                text.push_str(cell);
            } else {
                text.push_str(&format!("{cell:<width$}  ", width = widths[index]));
            }
        }
        text.trim_end().to_owned() + "\n"
    };
    let mut out = line(&header);
    for row in &rows {
        out.push_str(&line(&row.each_ref().map(String::as_str)));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_shows_each_letter_on_one_line_with_its_errors_first_line() {
        let letter = DeadLetterView {
            id: "0190-a".into(),
            service: "catalog".into(),
            consumer: "catalog".into(),
            event_id: "e1".into(),
            event_type: "inventory.stock.updated.v1".into(),
            event: Value::Null,
            error: "sku bad sku!: must be letters\nsecond line".into(),
            error_chain: Vec::new(),
            attempts: 5,
            failed_at: "2026-01-02T03:04:05.678Z".into(),
            replayed_at: None,
            status: DeadLetterStatus::Waiting,
        };
        let text = table(&[letter]);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 2, "{text}");
        assert!(lines[0].starts_with("ID"));
        for cell in [
            "0190-a",
            "catalog",
            "inventory.stock.updated.v1",
            "5",
            "waiting",
            "sku bad sku!: must be letters",
        ] {
            assert!(lines[1].contains(cell), "{cell} in {}", lines[1]);
        }
        assert!(!text.contains("second line"));
        assert_eq!(table(&[]), "no dead letters\n");
    }
}
