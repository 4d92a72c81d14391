//! Logging and tracing.
//!
//! Logs are JSON lines (or human-readable text for a terminal), filtered by `VISCOUNT_LOG`
//! (`info` by default); each JSON line carries the `trace_id` and `span_id` of the work
//! it belongs to ([`format`]).
//!
//! Traces are OpenTelemetry's: every `tracing` span at `info` or above is also an
//! OpenTelemetry span (through `tracing-opentelemetry`), and the trace context of the
//! work in progress is the OpenTelemetry context of the current span. Each hop makes a
//! span of its own ([`context`]): the server span of each request, the client span of a
//! call to another service, the producer span of a staged event and the consumer span
//! that applies it, the latter a child of the former through the event's `traceparent`.
//! Spans are exported over OTLP/HTTP when `OTEL_EXPORTER_OTLP_ENDPOINT` (or
//! `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`) is set ([`export`]); without it they still get
//! ids, which travel and are logged, and nothing else is done with them.

mod context;
mod export;
mod format;

use opentelemetry::trace::TraceContextExt;
use tracing_subscriber::filter::{FilterExt, filter_fn};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer, Registry, reload};

pub(crate) use context::adopt_current;
pub use context::{
    adopt_parent, current_traceparent, in_trace, inject_traceparent, new_traceparent,
    parse_traceparent, rename_span, span_traceparent, untraced, with_traceparent,
};
pub use export::{flush_traces, set_process_service};

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
type FilterReload = Box<dyn Fn(&str) -> Result<(), String> + Send + Sync>;

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

/// Installs the global subscriber: the log lines, and the spans of traces (exported
/// when the `OTEL_*` variables ask for it). Calling it twice is harmless (the second is
/// ignored). Call it inside the Tokio runtime, which runs the exporter.
pub fn init_logging(format: LogFormat) {
    let directives = std::env::var("VISCOUNT_LOG").unwrap_or_else(|_| DEFAULT_FILTER.to_owned());
    let directives = if filter_of(&directives).is_ok() {
        directives
    } else {
        DEFAULT_FILTER.to_owned()
    };
    let Ok(log_filter) = filter_of(&directives) else {
        return;
    };
    let Ok(span_filter) = filter_of(&directives) else {
        return;
    };
    let Ok(base_spans) = filter_of(DEFAULT_FILTER) else {
        return;
    };
    // Both filters are reloadable, so `set_log_filter` can change them while the
    // process runs.
    let (log_filter, log_handle) = reload::Layer::new(log_filter);
    let (span_filter, span_handle) = reload::Layer::new(span_filter);
    let log_layer = match format {
        LogFormat::Json => tracing_subscriber::fmt::layer()
            .fmt_fields(tracing_subscriber::fmt::format::JsonFields::new())
            .event_format(format::WithTraceIds::json())
            .with_writer(std::io::stderr)
            .with_filter(log_filter)
            .boxed(),
        LogFormat::Pretty => tracing_subscriber::fmt::layer()
            .compact()
            .with_writer(std::io::stderr)
            .with_filter(log_filter)
            .boxed(),
    };
    let (tracer, setup) = export::Tracer::from_env();
    // Spans at info and above are always traced, whatever the log level: the trace
    // context travels through them, so a quiet log must not cut traces apart. Spans
    // below info (the database's statements) are traced only when the log filter lets
    // them in. Of events, only errors reach traces (they mark their span as failed).
    let spans_traced = base_spans
        .or(span_filter)
        .and(filter_fn(|meta| meta.is_span()))
        .or(filter_fn(|meta| {
            meta.is_event() && *meta.level() == tracing::Level::ERROR
        }));
    let trace_layer = tracing_opentelemetry::layer()
        .with_tracer(tracer)
        // Thread names cost an allocation per span and busy/idle timings two clock
        // reads per poll; neither is worth it on every span of every request.
        .with_threads(false)
        .with_tracked_inactivity(false)
        .with_filter(AskEveryTime(spans_traced));
    // `OTEL_SDK_DISABLED=true`: no spans of OpenTelemetry at all, so no trace ids either
    // (events then carry a trace context of their own each): the baseline to measure
    // what tracing costs.
    let traced = !std::env::var("OTEL_SDK_DISABLED").is_ok_and(|v| v.eq_ignore_ascii_case("true"));
    let installed = Registry::default()
        .with(log_layer)
        .with(traced.then_some(trace_layer))
        .try_init()
        .is_ok();
    if !installed {
        return;
    }
    let _ = FILTER_RELOAD.set(Box::new(move |directives| {
        let invalid = |e| format!("invalid log level `{directives}`: {e}");
        log_handle
            .reload(filter_of(directives).map_err(invalid)?)
            .map_err(|e| e.to_string())?;
        span_handle
            .reload(filter_of(directives).map_err(invalid)?)
            .map_err(|e| e.to_string())
    }));
    setup.report();
}

/// A per-layer filter whose callsites are never cached as always enabled.
///
/// With per-layer filters, each filter's verdict on a span or event is kept in a
/// thread-local between `enabled` and the span's creation. A callsite every filter
/// enables *always* skips `enabled`, so its span takes whatever verdicts the last
/// `enabled` call on the thread left, and calls that are not followed by a span or
/// event leave theirs: `log::log_enabled!` through the `log` bridge (sqlx asks it
/// before every statement) left "not traced", and the next request's spans were
/// missing from its trace. Answering `sometimes` instead of `always` makes every
/// callsite ask, so each span gets its own verdicts; callsites every filter disables
/// stay `never` and cost nothing.
struct AskEveryTime<F>(F);

impl<S, F: tracing_subscriber::layer::Filter<S>> tracing_subscriber::layer::Filter<S>
    for AskEveryTime<F>
{
    fn enabled(
        &self,
        meta: &tracing::Metadata<'_>,
        cx: &tracing_subscriber::layer::Context<'_, S>,
    ) -> bool {
        self.0.enabled(meta, cx)
    }

    fn callsite_enabled(
        &self,
        meta: &'static tracing::Metadata<'static>,
    ) -> tracing::subscriber::Interest {
        let interest = self.0.callsite_enabled(meta);
        if interest.is_always() {
            tracing::subscriber::Interest::sometimes()
        } else {
            interest
        }
    }

    fn event_enabled(
        &self,
        event: &tracing::Event<'_>,
        cx: &tracing_subscriber::layer::Context<'_, S>,
    ) -> bool {
        self.0.event_enabled(event, cx)
    }

    fn max_level_hint(&self) -> Option<tracing::level_filters::LevelFilter> {
        self.0.max_level_hint()
    }

    fn on_new_span(
        &self,
        attrs: &tracing::span::Attributes<'_>,
        id: &tracing::span::Id,
        cx: tracing_subscriber::layer::Context<'_, S>,
    ) {
        self.0.on_new_span(attrs, id, cx);
    }

    fn on_record(
        &self,
        id: &tracing::span::Id,
        values: &tracing::span::Record<'_>,
        cx: tracing_subscriber::layer::Context<'_, S>,
    ) {
        self.0.on_record(id, values, cx);
    }

    fn on_enter(&self, id: &tracing::span::Id, cx: tracing_subscriber::layer::Context<'_, S>) {
        self.0.on_enter(id, cx);
    }

    fn on_exit(&self, id: &tracing::span::Id, cx: tracing_subscriber::layer::Context<'_, S>) {
        self.0.on_exit(id, cx);
    }

    fn on_close(&self, id: tracing::span::Id, cx: tracing_subscriber::layer::Context<'_, S>) {
        self.0.on_close(id, cx);
    }
}

/// Changes what is logged while the process runs (the live `log_level` setting): an
/// `EnvFilter` directive such as `debug` or `info,ordering=debug`. Dependencies stay
/// at `warn` unless the directive names them.
pub fn set_log_filter(directives: &str) -> Result<(), String> {
    filter_of(directives).map_err(|e| format!("invalid log level `{directives}`: {e}"))?;
    let reload = FILTER_RELOAD
        .get()
        .ok_or_else(|| "logging is not initialised".to_owned())?;
    reload(directives)
}

/// The trace and span id of the current span, as lowercase hex, when there is one.
pub fn current_ids() -> Option<(String, String)> {
    opentelemetry::Context::map_current(|cx| {
        let span = cx.span();
        let ids = span.span_context();
        ids.is_valid()
            .then(|| (ids.trace_id().to_string(), ids.span_id().to_string()))
    })
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
