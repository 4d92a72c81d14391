//! JSON log lines with the trace and span ids of the work they belong to.
//!
//! `tracing-subscriber`'s JSON format writes the event, its fields and the current
//! span's; [`WithTraceIds`] puts `trace_id` and `span_id` in front, from the
//! OpenTelemetry context current while the event is written (the innermost traced span
//! entered), so a log line leads to its trace and back. A line written outside any
//! traced work has neither.

use std::cell::RefCell;
use std::fmt;

use opentelemetry::trace::TraceContextExt;
use tracing::{Event, Subscriber};
use tracing_subscriber::fmt::format::{Format, Json, Writer};
use tracing_subscriber::fmt::time::SystemTime;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;

/// The platform's JSON event format, with the trace ids.
pub(crate) struct WithTraceIds {
    inner: Format<Json, SystemTime>,
}

impl WithTraceIds {
    /// One flat JSON object per event, with the current span's fields.
    pub(crate) fn json() -> Self {
        Self {
            inner: tracing_subscriber::fmt::format()
                .json()
                .flatten_event(true)
                .with_current_span(true)
                .with_span_list(false),
        }
    }
}

thread_local! {
    /// The line as the inner format wrote it, reused from event to event.
    static LINE: RefCell<String> = const { RefCell::new(String::new()) };
}

impl<S, N> FormatEvent<S, N> for WithTraceIds
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
    Format<Json, SystemTime>: FormatEvent<S, N>,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let ids = opentelemetry::Context::map_current(|cx| {
            let span = cx.span();
            let ids = span.span_context();
            ids.is_valid().then(|| (ids.trace_id(), ids.span_id()))
        });
        let Some((trace_id, span_id)) = ids else {
            return self.inner.format_event(ctx, writer, event);
        };
        // The inner format writes `{"timestamp":...}`: the ids go right after the
        // brace. A line being written already on this thread (an event logged while
        // formatting one) gets a buffer of its own.
        let mut own = String::new();
        LINE.with(|line| {
            let mut borrowed = line.try_borrow_mut();
            let line = match borrowed.as_mut() {
                Ok(line) => &mut **line,
                Err(_) => &mut own,
            };
            line.clear();
            self.inner.format_event(ctx, Writer::new(line), event)?;
            match line.strip_prefix('{') {
                Some(rest) => write!(
                    writer,
                    "{{\"trace_id\":\"{trace_id}\",\"span_id\":\"{span_id}\",{rest}"
                ),
                None => writer.write_str(line),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use std::io;
    use std::sync::{Arc, Mutex};

    use tracing_subscriber::fmt::format::JsonFields;
    use tracing_subscriber::layer::SubscriberExt;

    use super::*;

    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl io::Write for Captured {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.0
                .lock()
                .map_err(|_| io::ErrorKind::Other)?
                .extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    fn lines(captured: &Captured) -> Vec<serde_json::Value> {
        let bytes = captured.0.lock().expect("lock").clone();
        String::from_utf8(bytes)
            .expect("utf-8")
            .lines()
            .map(|line| serde_json::from_str(line).expect("each line is JSON"))
            .collect()
    }

    #[test]
    fn lines_inside_a_traced_span_carry_its_ids_and_others_none() {
        let captured = Captured::default();
        let writer = captured.clone();
        let subscriber = tracing_subscriber::registry()
            .with(
                tracing_subscriber::fmt::layer()
                    .fmt_fields(JsonFields::new())
                    .event_format(WithTraceIds::json())
                    .with_writer(move || writer.clone()),
            )
            .with(tracing_opentelemetry::layer().with_tracer(super::super::export::Tracer::off()));
        let traceparent = tracing::subscriber::with_default(subscriber, || {
            tracing::info!("outside");
            let span = tracing::info_span!("request", route = "/x");
            let _entered = span.enter();
            tracing::info!(answer = 42, "inside");
            super::super::current_traceparent()
        });
        let lines = lines(&captured);
        assert_eq!(lines.len(), 2, "{lines:?}");
        assert!(lines[0].get("trace_id").is_none(), "{}", lines[0]);
        let inside = &lines[1];
        let parts: Vec<&str> = traceparent.split('-').collect();
        assert_eq!(inside["trace_id"], parts[1], "{inside}");
        assert_eq!(inside["span_id"], parts[2], "{inside}");
        assert_eq!(inside["message"], "inside");
        assert_eq!(inside["answer"], 42);
        assert_eq!(inside["span"]["route"], "/x", "the span's fields stay");
    }
}
