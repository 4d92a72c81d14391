//! A webhook receiver for the black-box tests: a real HTTP server on a socket of its own
//! that records every `POST /{path}` (its headers and raw body) and answers with the
//! status the test's [`Answer`] picks, so a test can play a provider that accepts, one
//! that is down, or one that fails a few times first.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use serde_json::Value;

/// One request the receiver got.
#[derive(Debug, Clone)]
pub struct Hook {
    /// The path it was posted to, without the leading `/`.
    pub path: String,
    /// Its headers.
    pub headers: HeaderMap,
    /// Its body, as sent.
    pub raw: Bytes,
}

impl Hook {
    /// The body as JSON (`null` when it is not JSON).
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.raw).unwrap_or(Value::Null)
    }

    /// Header `name`, when present and text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// The status a request gets, given the request and every request received before it.
pub type Answer = fn(&Hook, &[Hook]) -> StatusCode;

/// A running receiver; it stops with the test's runtime.
pub struct Receiver {
    /// Where it listens.
    pub addr: SocketAddr,
    hooks: Arc<Mutex<Vec<Hook>>>,
}

#[derive(Clone)]
struct Shared {
    hooks: Arc<Mutex<Vec<Hook>>>,
    answer: Answer,
}

impl Receiver {
    /// Starts a receiver on a free local port answering with `answer`.
    pub async fn start(answer: Answer) -> Self {
        async fn receive(
            State(shared): State<Shared>,
            Path(path): Path<String>,
            headers: HeaderMap,
            raw: Bytes,
        ) -> StatusCode {
            let hook = Hook { path, headers, raw };
            let mut hooks = shared.hooks.lock().expect("hooks");
            let status = (shared.answer)(&hook, &hooks);
            hooks.push(hook);
            status
        }
        let hooks = Arc::new(Mutex::new(Vec::new()));
        let router = axum::Router::new()
            .route("/{path}", axum::routing::post(receive))
            .with_state(Shared {
                hooks: hooks.clone(),
                answer,
            });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind receiver");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        });
        Self { addr, hooks }
    }

    /// The URL of `path` on this receiver.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}/{path}", self.addr)
    }

    /// Every request posted to `path`, in the order received.
    pub fn hooks(&self, path: &str) -> Vec<Hook> {
        self.hooks
            .lock()
            .expect("hooks")
            .iter()
            .filter(|h| h.path == path)
            .cloned()
            .collect()
    }
}
