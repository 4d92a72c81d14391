//! Logging and trace context.
//!
//! Logs are JSON lines (or human-readable text for a terminal), filtered by `VISCOUNT_LOG`
//! (`info` by default). The W3C `traceparent` of the work in progress lives in a
//! task-local, set by the HTTP layer from the incoming header and by the bus consumer
//! from the event being handled, so an event staged anywhere inside carries it on.

use std::future::Future;

use tracing_subscriber::EnvFilter;

tokio::task_local! {
    static TRACEPARENT: String;
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// One JSON object per line (the default, for machines).
    #[default]
    Json,
    /// Human-readable lines.
    Pretty,
}

/// Replaces the log filter of the installed subscriber (set by [`init_logging`]).
type FilterReload = Box<dyn Fn(EnvFilter) -> Result<(), String> + Send + Sync>;

static FILTER_RELOAD: std::sync::OnceLock<FilterReload> = std::sync::OnceLock::new();

/// The level used when `VISCOUNT_LOG` is not set.
const DEFAULT_FILTER: &str = "info";
/// Dependencies that narrate their routine work at info (every statement, every
/// reconnect, every migration scope checked): warnings only, unless a directive names
/// them.
const DEPENDENCY_FILTER: &str = "sqlx=warn,async_nats=warn,refinery_core=warn";

/// The dependencies' directives, then `directives` (later ones win for a target).
fn filter_of(directives: &str) -> Result<EnvFilter, tracing_subscriber::filter::ParseError> {
    EnvFilter::try_new(format!("{DEPENDENCY_FILTER},{directives}"))
}

/// Installs the global subscriber. Calling it twice is harmless (the second is ignored).
pub fn init_logging(format: LogFormat) {
    let directives = std::env::var("VISCOUNT_LOG").unwrap_or_else(|_| DEFAULT_FILTER.to_owned());
    let filter = filter_of(&directives).unwrap_or_else(|_| EnvFilter::new(DEFAULT_FILTER));
    // The filter is installed reloadable (the format fixes the handle's type, hence
    // two arms), so `set_log_filter` can change it while the process runs.
    match format {
        LogFormat::Json => {
            let builder = tracing_subscriber::fmt()
                .json()
                .flatten_event(true)
                .with_current_span(true)
                .with_span_list(false)
                .with_env_filter(filter)
                .with_writer(std::io::stderr)
                .with_filter_reloading();
            let handle = builder.reload_handle();
            if builder.try_init().is_ok() {
                let _ = FILTER_RELOAD.set(Box::new(move |filter| {
                    handle.reload(filter).map_err(|e| e.to_string())
                }));
            }
        }
        LogFormat::Pretty => {
            let builder = tracing_subscriber::fmt()
                .compact()
                .with_env_filter(filter)
                .with_writer(std::io::stderr)
                .with_filter_reloading();
            let handle = builder.reload_handle();
            if builder.try_init().is_ok() {
                let _ = FILTER_RELOAD.set(Box::new(move |filter| {
                    handle.reload(filter).map_err(|e| e.to_string())
                }));
            }
        }
    }
}

/// Changes what is logged while the process runs (the live `log_level` setting): an
/// `EnvFilter` directive such as `debug` or `info,ordering=debug`. Dependencies stay
/// at `warn` unless the directive names them.
pub fn set_log_filter(directives: &str) -> Result<(), String> {
    let filter =
        filter_of(directives).map_err(|e| format!("invalid log level `{directives}`: {e}"))?;
    let reload = FILTER_RELOAD
        .get()
        .ok_or_else(|| "logging is not initialised".to_owned())?;
    reload(filter)
}

/// Runs `work` with `traceparent` as the current trace context.
pub async fn with_traceparent<F: Future>(traceparent: String, work: F) -> F::Output {
    TRACEPARENT.scope(traceparent, work).await
}

/// The current trace context, or a new root one when there is none.
pub fn current_traceparent() -> String {
    TRACEPARENT
        .try_with(Clone::clone)
        .unwrap_or_else(|_| new_traceparent())
}

/// A fresh root `traceparent` (version 00, sampled).
pub fn new_traceparent() -> String {
    let trace: [u8; 16] = crate::ids::random_bytes();
    let span: [u8; 8] = crate::ids::random_bytes();
    format!(
        "00-{}-{}-01",
        data_encoding::HEXLOWER.encode(&trace),
        data_encoding::HEXLOWER.encode(&span)
    )
}

/// Accepts a well-formed `traceparent` header value (W3C Trace Context, version 00).
pub fn parse_traceparent(value: &str) -> Option<String> {
    let parts: Vec<&str> = value.trim().split('-').collect();
    let hex = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_hexdigit());
    match parts.as_slice() {
        [version, trace, span, flags]
            if hex(version, 2)
                && hex(trace, 32)
                && hex(span, 16)
                && hex(flags, 2)
                && *trace != "0".repeat(32)
                && *span != "0".repeat(16) =>
        {
            Some(value.trim().to_ascii_lowercase())
        }
        _ => None,
    }
}

/// An error and its causes on one line (`outer: cause: root cause`), for logs and for
/// the last error kept with a failed message. A cause whose text the line already ends
/// with (errors that print their source too) is not repeated.
pub fn error_chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.ends_with(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_traceparents_parse() {
        let tp = new_traceparent();
        assert_eq!(parse_traceparent(&tp), Some(tp));
        assert_eq!(parse_traceparent("00-abc-def-01"), None);
        assert_eq!(
            parse_traceparent("00-00000000000000000000000000000000-0000000000000001-01"),
            None
        );
    }

    #[tokio::test]
    async fn scoped_traceparent_is_current_inside_only() {
        let tp = new_traceparent();
        let seen = with_traceparent(tp.clone(), async { current_traceparent() }).await;
        assert_eq!(seen, tp);
        assert_ne!(current_traceparent(), tp);
    }

    #[test]
    fn an_error_chain_names_each_cause_once() {
        #[derive(Debug, thiserror::Error)]
        #[error("send failed")]
        struct Outer(#[source] std::io::Error);
        #[derive(Debug, thiserror::Error)]
        #[error("send failed: {0}")]
        struct Echoing(#[source] std::io::Error);
        let refused = || std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "refused");
        assert_eq!(error_chain(&Outer(refused())), "send failed: refused");
        assert_eq!(error_chain(&Echoing(refused())), "send failed: refused");
    }
}
