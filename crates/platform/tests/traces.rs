//! The trace context as the installed subscriber keeps it: each span has ids of its own
//! in its parent's trace, whatever other questions were asked of the subscriber in
//! between (a process-wide subscriber, so these run as a test binary of their own).

use opentelemetry::trace::TraceContextExt;
use tracing_opentelemetry::OpenTelemetrySpanExt;

/// The trace and span id of `span`, when it is traced.
fn ids(span: &tracing::Span) -> Option<(String, String)> {
    let context = span.context();
    let own = context.span();
    let ids = own.span_context();
    ids.is_valid()
        .then(|| (ids.trace_id().to_string(), ids.span_id().to_string()))
}

#[tokio::test]
async fn a_log_enabled_query_between_spans_does_not_cut_the_trace() {
    platform::telemetry::init_logging(platform::telemetry::LogFormat::Json);
    let request = tracing::info_span!("request");
    let _entered = request.enter();
    let (trace, _) = ids(&request).expect("the request is traced");
    // What sqlx asks through the `log` bridge before each statement, answered without
    // an event following it.
    let _ = log::log_enabled!(target: "sqlx::query", log::Level::Warn);
    let _ = log::log_enabled!(target: "sqlx::query", log::Level::Debug);
    let _ = tracing::enabled!(target: "sqlx::query", tracing::Level::INFO);
    let call = tracing::info_span!("call");
    let (call_trace, call_span) = ids(&call).expect("the call after them is traced too");
    assert_eq!(call_trace, trace, "in the request's trace");
    let inside = call.in_scope(platform::telemetry::current_traceparent);
    assert_eq!(inside, format!("00-{trace}-{call_span}-01"));
}

#[tokio::test]
async fn a_span_adopting_a_traceparent_continues_its_trace_and_passes_on_its_own() {
    platform::telemetry::init_logging(platform::telemetry::LogFormat::Json);
    let caller = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    let span = tracing::info_span!("request");
    platform::telemetry::adopt_parent(&span, Some(caller), None);
    let passed_on = platform::telemetry::span_traceparent(&span);
    let parts: Vec<&str> = passed_on.split('-').collect();
    assert_eq!(parts[1], "4bf92f3577b34da6a3ce929d0e0e4736", "{passed_on}");
    assert_ne!(
        parts[2], "00f067aa0ba902b7",
        "a span id of its own: {passed_on}"
    );
    let mut headers = http::HeaderMap::new();
    platform::telemetry::inject_traceparent(&span, &mut headers);
    assert_eq!(
        headers.get("traceparent").and_then(|v| v.to_str().ok()),
        Some(passed_on.as_str())
    );
    // Without a parent a span begins a trace of its own.
    let root = tracing::info_span!("request");
    platform::telemetry::adopt_parent(&root, Some("not a traceparent"), None);
    let fresh = platform::telemetry::span_traceparent(&root);
    assert_ne!(fresh.split('-').nth(1), Some(parts[1]), "{fresh}");
}
