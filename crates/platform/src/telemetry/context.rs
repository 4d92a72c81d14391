//! W3C trace context over the OpenTelemetry context of the current span.
//!
//! There is one trace context: the OpenTelemetry context `tracing-opentelemetry`
//! attaches while a span is entered. A hop that receives work from elsewhere (a request,
//! an event) makes its span a child of the `traceparent` it received
//! ([`adopt_parent`]); a hop that sends work on writes its own span's `traceparent`
//! ([`span_traceparent`], [`inject_traceparent`]). The context also carries the service
//! the work belongs to, so that in the embedded shape, where every service runs in one
//! process, each span is exported under its own service's name.

use std::future::Future;

use http::{HeaderMap, HeaderValue};
use opentelemetry::Context;
use opentelemetry::context::FutureExt as _;
use opentelemetry::trace::{SpanContext, SpanId, TraceContextExt, TraceFlags, TraceId, TraceState};
use tracing_opentelemetry::OpenTelemetrySpanExt;

use crate::service::ServiceKind;

/// The service whose work a context is part of, carried from a span to its children.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ServiceTag(pub(crate) ServiceKind);

/// The header and CloudEvents extension the context travels in.
const TRACEPARENT: &str = "traceparent";

/// Makes `span` (not entered yet) a child of the span `traceparent` names, or the root
/// of a new trace when there is none or it does not parse, as work of `service`. For
/// the span of a hop whose work came from elsewhere: a request, an event.
pub fn adopt_parent(span: &tracing::Span, traceparent: Option<&str>, service: Option<ServiceKind>) {
    if span.is_disabled() {
        return;
    }
    let mut parent = match traceparent.and_then(span_context_of) {
        Some(remote) => Context::new().with_remote_span_context(remote),
        None => Context::new(),
    };
    if let Some(service) = service {
        parent = parent.with_value(ServiceTag(service));
    }
    // Fails only for a span that was entered already, which callers never pass.
    let _ = span.set_parent(parent);
}

/// Leaves `span` (not entered yet) and everything inside it out of traces: for the
/// platform's own chatter (health probes, heartbeats), which would otherwise be most of
/// the traces and none of the interest. Its log lines carry no trace ids.
pub fn untraced(span: &tracing::Span) {
    if span.is_disabled() {
        return;
    }
    let _ = span.set_parent(Context::new().with_telemetry_suppressed());
}

/// Whether work in progress is traced: a span is current whose context is a trace's.
/// A call made outside any (a background task's) makes no client span and sends no
/// `traceparent`, so its callee begins a trace of its own.
pub fn in_trace() -> bool {
    Context::map_current(|cx| cx.span().span_context().is_valid())
}

/// Makes `span` (not entered yet) a child of the current span, as work of `service`:
/// for a span that begins a service's own part of the work in progress (an event it
/// stages).
pub(crate) fn adopt_current(span: &tracing::Span, service: ServiceKind) {
    if span.is_disabled() {
        return;
    }
    let _ = span.set_parent(Context::current().with_value(ServiceTag(service)));
}

/// The `traceparent` of `span`, or of the current context when `span` is not traced
/// (disabled, or no subscriber installed), or a new root one when neither is.
pub fn span_traceparent(span: &tracing::Span) -> String {
    traced_parent(span).unwrap_or_else(new_traceparent)
}

/// The `traceparent` of `span`, else of the current context, if either is a trace's.
fn traced_parent(span: &tracing::Span) -> Option<String> {
    let context = span.context();
    let own = context.span();
    if own.span_context().is_valid() {
        return Some(traceparent_of(own.span_context()));
    }
    Context::map_current(|cx| {
        let current = cx.span();
        let context = current.span_context();
        context.is_valid().then(|| traceparent_of(context))
    })
}

/// Renames `span` once it has begun (a span's `otel.name` field counts only when the
/// span is made): for a name known only at the end, such as the route a request took.
pub fn rename_span(span: &tracing::Span, name: String) {
    let context = span.context();
    let own = context.span();
    if own.is_recording() {
        own.update_name(name);
    }
}

/// Sets `headers`' `traceparent` to `span`'s (or the current context's), for a request
/// sent within it; outside any trace, removes it, so the callee begins its own.
pub fn inject_traceparent(span: &tracing::Span, headers: &mut HeaderMap) {
    match traced_parent(span).and_then(|tp| HeaderValue::from_str(&tp).ok()) {
        Some(value) => {
            headers.insert(TRACEPARENT, value);
        }
        None => {
            headers.remove(TRACEPARENT);
        }
    }
}

/// Runs `work` as part of the trace `traceparent` names: spans made inside are its
/// children, and [`current_traceparent`] inside names it. A `traceparent` that does
/// not parse leaves the trace context as it is.
pub async fn with_traceparent<F: Future>(traceparent: String, work: F) -> F::Output {
    match span_context_of(&traceparent) {
        Some(remote) => {
            work.with_context(Context::current().with_remote_span_context(remote))
                .await
        }
        None => work.await,
    }
}

/// The current trace context, or a new root one when there is none.
pub fn current_traceparent() -> String {
    Context::map_current(|cx| {
        let span = cx.span();
        let context = span.span_context();
        context.is_valid().then(|| traceparent_of(context))
    })
    .unwrap_or_else(new_traceparent)
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

/// The remote span a well-formed `traceparent` names.
fn span_context_of(traceparent: &str) -> Option<SpanContext> {
    let value = parse_traceparent(traceparent)?;
    let mut parts = value.split('-').skip(1);
    let trace = TraceId::from_hex(parts.next()?).ok()?;
    let span = SpanId::from_hex(parts.next()?).ok()?;
    let flags = u8::from_str_radix(parts.next()?, 16).ok()?;
    Some(SpanContext::new(
        trace,
        span,
        TraceFlags::new(flags & TraceFlags::SAMPLED.to_u8()),
        true,
        TraceState::NONE,
    ))
}

/// The `traceparent` naming `context`.
fn traceparent_of(context: &SpanContext) -> String {
    format!(
        "00-{}-{}-{:02x}",
        context.trace_id(),
        context.span_id(),
        context.trace_flags().to_u8()
    )
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

    #[test]
    fn a_traceparent_reads_back_as_the_same_text() {
        let tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        let context = span_context_of(tp).expect("parses");
        assert!(context.is_remote() && context.is_sampled());
        assert_eq!(traceparent_of(&context), tp);
        let unsampled = span_context_of("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00")
            .expect("parses");
        assert!(!unsampled.is_sampled());
    }

    #[tokio::test]
    async fn scoped_traceparent_is_current_inside_only() {
        let tp = new_traceparent();
        let seen = with_traceparent(tp.clone(), async { current_traceparent() }).await;
        assert_eq!(seen, tp);
        assert_ne!(current_traceparent(), tp);
    }
}
