//! The tracer behind `tracing-opentelemetry`: span ids always, OTLP export on request.
//!
//! Without `OTEL_EXPORTER_OTLP_ENDPOINT` (or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`) a
//! span is only its ids (a trace id inherited or new, a new span id): enough for the
//! trace context to travel and be logged, and nothing recorded, so it costs little.
//!
//! With one, spans are exported over OTLP/HTTP (protobuf; the exporter reads the
//! standard `OTEL_EXPORTER_OTLP_*` variables: headers, timeout, compression) by a batch
//! processor on the Tokio runtime (`OTEL_BSP_*`), sampled as `OTEL_TRACES_SAMPLER`
//! says (parent-based, always on by default). Each service has a tracer provider of its
//! own, made when its first span starts, whose resource names it
//! (`service.name = viscount-<service>`, with `OTEL_RESOURCE_ATTRIBUTES` added): in the
//! embedded shape every service runs in this one process, and a trace must still show
//! which did what. A span belongs to the service its context carries (a
//! [`ServiceTag`], put there by the span that began the service's part of the work and
//! inherited by every span inside); a span outside any service's work goes to the
//! process's own provider, named as [`set_process_service`] says, else by
//! `OTEL_SERVICE_NAME`, else `viscount`.
//!
//! The exporter sends through reqwest with rustls on ring, the platform's TLS stack.

use std::borrow::Cow;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use bytes::Bytes;
use opentelemetry::context::FutureExt as _;
use opentelemetry::trace::{
    SpanBuilder, SpanContext, Status, TraceContextExt, TraceFlags, TraceState, TracerProvider,
};
use opentelemetry::{Context, KeyValue};
use opentelemetry_otlp::{WithExportConfig as _, WithHttpConfig as _};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::{IdGenerator, RandomIdGenerator, SdkTracer, SdkTracerProvider};

use super::context::ServiceTag;
use crate::service::ServiceKind;

/// The tracer handed to `tracing-opentelemetry`; cheap to clone.
#[derive(Clone, Debug)]
pub(crate) struct Tracer {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    ids: RandomIdGenerator,
    /// `None` when nothing is exported.
    export: Option<Export>,
    /// Set once the providers are shut down: later spans are ids only.
    stopped: AtomicBool,
}

/// What exporting needs: the runtime the batch processors run on, the exporter's
/// client, and one provider per service (the last slot is the process's own).
struct Export {
    runtime: tokio::runtime::Handle,
    client: OtlpClient,
    base: Resource,
    providers: Vec<OnceLock<Option<(SdkTracerProvider, SdkTracer)>>>,
}

impl std::fmt::Debug for Export {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Export").finish_non_exhaustive()
    }
}

/// The service of spans outside any service's work, once a process says it runs one.
static PROCESS_SERVICE: OnceLock<ServiceKind> = OnceLock::new();

/// The installed tracer, for [`flush_traces`].
static INSTALLED: OnceLock<Tracer> = OnceLock::new();

/// Names the service this process runs (`viscount serve <service>`): spans outside any
/// service's work (startup, background tasks) are then exported as its.
pub fn set_process_service(service: ServiceKind) {
    let _ = PROCESS_SERVICE.set(service);
}

/// Exports the spans still buffered and stops exporting; waits at most `grace`. For the
/// end of a graceful shutdown, after the servers and consumers drained.
pub async fn flush_traces(grace: Duration) {
    let Some(tracer) = INSTALLED.get() else {
        return;
    };
    let Some(export) = &tracer.inner.export else {
        return;
    };
    tracer.inner.stopped.store(true, Ordering::SeqCst);
    let providers: Vec<SdkTracerProvider> = export
        .providers
        .iter()
        .filter_map(|slot| slot.get().and_then(|made| made.as_ref()))
        .map(|(provider, _)| provider.clone())
        .collect();
    // A batch processor's shutdown blocks its caller until the processor's task (on
    // this runtime) has exported, so it runs on a blocking thread.
    let shutdown = tokio::task::spawn_blocking(move || {
        for provider in providers {
            if let Err(err) = provider.shutdown_with_timeout(grace) {
                tracing::warn!(error = %err, "cannot flush the last spans");
            }
        }
    });
    if tokio::time::timeout(grace, shutdown).await.is_err() {
        tracing::warn!(
            grace_ms = grace.as_millis() as u64,
            "the last spans were not exported in time"
        );
    }
}

/// What [`Tracer::from_env`] found, logged once logging runs.
pub(crate) struct Setup {
    exporting: Result<Option<String>, String>,
}

impl Setup {
    pub(crate) fn report(&self) {
        match &self.exporting {
            Ok(Some(endpoint)) => tracing::info!(%endpoint, "exporting traces over OTLP/HTTP"),
            Ok(None) => {}
            Err(reason) => tracing::warn!(%reason, "traces are not exported"),
        }
    }
}

impl Tracer {
    /// Ids only: nothing is exported.
    pub(crate) fn off() -> Self {
        Self {
            inner: Arc::new(Inner {
                ids: RandomIdGenerator::default(),
                export: None,
                stopped: AtomicBool::new(false),
            }),
        }
    }

    /// Exporting as the `OTEL_*` variables say, and installed for [`flush_traces`].
    pub(crate) fn from_env() -> (Self, Setup) {
        let (tracer, exporting) = match Export::from_env() {
            Ok(Some((export, endpoint))) => (
                Self {
                    inner: Arc::new(Inner {
                        ids: RandomIdGenerator::default(),
                        export: Some(export),
                        stopped: AtomicBool::new(false),
                    }),
                },
                Ok(Some(endpoint)),
            ),
            Ok(None) => (Self::off(), Ok(None)),
            Err(reason) => (Self::off(), Err(reason)),
        };
        let _ = INSTALLED.set(tracer.clone());
        (tracer, Setup { exporting })
    }

    /// A span that is only its ids: the parent's trace (or a new one) and sampling
    /// decision, and a new span id.
    fn ids_only(&self, parent: &Context) -> TraceSpan {
        let span = parent.span();
        let parent = span.span_context();
        let (trace_id, flags) = if parent.is_valid() {
            (parent.trace_id(), parent.trace_flags())
        } else {
            (self.inner.ids.new_trace_id(), TraceFlags::SAMPLED)
        };
        TraceSpan::Ids(SpanContext::new(
            trace_id,
            self.inner.ids.new_span_id(),
            flags,
            false,
            TraceState::NONE,
        ))
    }
}

impl opentelemetry::trace::Tracer for Tracer {
    type Span = TraceSpan;

    fn build_with_context(&self, builder: SpanBuilder, parent_cx: &Context) -> Self::Span {
        if parent_cx.is_telemetry_suppressed() {
            return TraceSpan::Ids(SpanContext::empty_context());
        }
        let Some(export) = &self.inner.export else {
            return self.ids_only(parent_cx);
        };
        if self.inner.stopped.load(Ordering::Relaxed) {
            return self.ids_only(parent_cx);
        }
        let service = parent_cx
            .get::<ServiceTag>()
            .map(|tag| tag.0)
            .or_else(|| PROCESS_SERVICE.get().copied());
        match export.tracer(service) {
            Some(tracer) => TraceSpan::Exported(tracer.build_with_context(builder, parent_cx)),
            None => self.ids_only(parent_cx),
        }
    }
}

/// A span of [`Tracer`]: recorded for export, or only its ids.
// Not boxed: a span moves once, into its context's own allocation, and boxing the
// recorded one would add an allocation to every exported span.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub(crate) enum TraceSpan {
    /// Recorded by a service's provider (unless sampled out).
    Exported(opentelemetry_sdk::trace::Span),
    /// Ids only.
    Ids(SpanContext),
}

impl opentelemetry::trace::Span for TraceSpan {
    fn add_event_with_timestamp<T>(
        &mut self,
        name: T,
        timestamp: SystemTime,
        attributes: Vec<KeyValue>,
    ) where
        T: Into<Cow<'static, str>>,
    {
        if let TraceSpan::Exported(span) = self {
            span.add_event_with_timestamp(name, timestamp, attributes);
        }
    }

    fn span_context(&self) -> &SpanContext {
        match self {
            TraceSpan::Exported(span) => span.span_context(),
            TraceSpan::Ids(context) => context,
        }
    }

    fn is_recording(&self) -> bool {
        match self {
            TraceSpan::Exported(span) => span.is_recording(),
            TraceSpan::Ids(_) => false,
        }
    }

    fn set_attribute(&mut self, attribute: KeyValue) {
        if let TraceSpan::Exported(span) = self {
            span.set_attribute(attribute);
        }
    }

    fn set_status(&mut self, status: Status) {
        if let TraceSpan::Exported(span) = self {
            span.set_status(status);
        }
    }

    fn update_name<T>(&mut self, new_name: T)
    where
        T: Into<Cow<'static, str>>,
    {
        if let TraceSpan::Exported(span) = self {
            span.update_name(new_name);
        }
    }

    fn add_link(&mut self, span_context: SpanContext, attributes: Vec<KeyValue>) {
        if let TraceSpan::Exported(span) = self {
            span.add_link(span_context, attributes);
        }
    }

    fn end_with_timestamp(&mut self, timestamp: SystemTime) {
        if let TraceSpan::Exported(span) = self {
            span.end_with_timestamp(timestamp);
        }
    }
}

/// Whether `name` is set to something.
fn env_set(name: &str) -> bool {
    std::env::var(name).is_ok_and(|value| !value.trim().is_empty())
}

impl Export {
    /// Exporting, when an endpoint is configured: `Ok(None)` when none is, `Err` when
    /// one is but cannot be used.
    fn from_env() -> Result<Option<(Self, String)>, String> {
        let endpoint = [
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
            "OTEL_EXPORTER_OTLP_ENDPOINT",
        ]
        .into_iter()
        .find(|name| env_set(name))
        .and_then(|name| std::env::var(name).ok());
        let Some(endpoint) = endpoint else {
            return Ok(None);
        };
        if std::env::var("OTEL_SDK_DISABLED").is_ok_and(|v| v.eq_ignore_ascii_case("true"))
            || std::env::var("OTEL_TRACES_EXPORTER").is_ok_and(|v| v.eq_ignore_ascii_case("none"))
        {
            return Ok(None);
        }
        let runtime = tokio::runtime::Handle::try_current()
            .map_err(|_| "logging was set up outside the Tokio runtime".to_owned())?;
        let client = OtlpClient::new()?;
        // Built once here, so a malformed endpoint is reported at start rather than
        // when the first span ends.
        build_exporter(&client).map_err(|e| e.to_string())?;
        let slots = ServiceKind::all().len() + 1;
        let export = Self {
            runtime,
            client,
            base: Resource::builder().build(),
            providers: (0..slots).map(|_| OnceLock::new()).collect(),
        };
        Ok(Some((export, endpoint)))
    }

    /// The tracer of `service`'s provider (the process's own for `None`), made on first
    /// use.
    fn tracer(&self, service: Option<ServiceKind>) -> Option<&SdkTracer> {
        let slot = service
            .and_then(|kind| ServiceKind::all().iter().position(|k| *k == kind))
            .unwrap_or(ServiceKind::all().len());
        self.providers[slot]
            .get_or_init(|| self.provider(service))
            .as_ref()
            .map(|(_, tracer)| tracer)
    }

    fn provider(&self, service: Option<ServiceKind>) -> Option<(SdkTracerProvider, SdkTracer)> {
        let name = match service {
            Some(kind) => format!("viscount-{kind}"),
            None => std::env::var("OTEL_SERVICE_NAME")
                .ok()
                .filter(|name| !name.trim().is_empty())
                .unwrap_or_else(|| "viscount".to_owned()),
        };
        // The batch processor spawns its task on the runtime, and a span may start on
        // a thread outside it.
        let _runtime = self.runtime.enter();
        let exporter = build_exporter(&self.client).ok()?;
        let processor =
            opentelemetry_sdk::trace::span_processor_with_async_runtime::BatchSpanProcessor::builder(
                exporter,
                opentelemetry_sdk::runtime::Tokio,
            )
            .build();
        let resource = Resource::builder_empty()
            .with_attributes(
                self.base
                    .iter()
                    .map(|(k, v)| KeyValue::new(k.clone(), v.clone())),
            )
            .with_service_name(name)
            .build();
        let provider = SdkTracerProvider::builder()
            .with_span_processor(processor)
            .with_resource(resource)
            .build();
        let tracer = provider.tracer("viscount");
        Some((provider, tracer))
    }
}

fn build_exporter(
    client: &OtlpClient,
) -> Result<opentelemetry_otlp::SpanExporter, opentelemetry_otlp::ExporterBuildError> {
    opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_protocol(opentelemetry_otlp::Protocol::HttpBinary)
        .with_http_client(client.clone())
        .build()
}

/// The exporter's HTTP client: reqwest 0.12 on rustls and ring, with the OTLP timeout.
#[derive(Clone, Debug)]
struct OtlpClient {
    client: reqwest::Client,
    /// When a failed export was last logged (seconds since the Unix epoch), so a
    /// collector that is down is reported once a minute, not once a batch.
    last_warned: Arc<AtomicU64>,
}

impl OtlpClient {
    fn new() -> Result<Self, String> {
        let timeout = [
            "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT",
            "OTEL_EXPORTER_OTLP_TIMEOUT",
        ]
        .into_iter()
        .find_map(|name| std::env::var(name).ok()?.trim().parse::<u64>().ok())
        .map(Duration::from_millis)
        .unwrap_or(Duration::from_secs(10));
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(5)))
            .build()
            .map_err(|e| format!("cannot build the OTLP client: {e}"))?;
        Ok(Self {
            client,
            last_warned: Arc::default(),
        })
    }

    fn warn(&self, what: &str, detail: &str) {
        let now = crate::time::now_millis().max(0) as u64 / 1000;
        let last = self.last_warned.load(Ordering::Relaxed);
        if now >= last + 60
            && self
                .last_warned
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            tracing::warn!(error = %detail, "{what}");
        }
    }
}

#[async_trait]
impl opentelemetry_http::HttpClient for OtlpClient {
    async fn send_bytes(
        &self,
        request: http::Request<Bytes>,
    ) -> Result<http::Response<Bytes>, opentelemetry_http::HttpError> {
        let request = reqwest::Request::try_from(request)?;
        let sent = async {
            let response = self.client.execute(request).await?;
            let status = response.status();
            let headers = response.headers().clone();
            let body = response.bytes().await?;
            Ok::<_, reqwest::Error>((status, headers, body))
        };
        // Whatever the export does is not itself traced (a span per export would be
        // exported by the next one, for ever).
        let quiet = Context::current().with_telemetry_suppressed();
        let (status, headers, body) = match sent.with_context(quiet).await {
            Ok(answer) => answer,
            Err(err) => {
                self.warn("cannot export spans", &super::error_chain(&err));
                return Err(Box::new(err));
            }
        };
        if !status.is_success() {
            self.warn("the trace collector refused spans", status.as_str());
        }
        let mut response = http::Response::builder().status(status).body(body)?;
        *response.headers_mut() = headers;
        Ok(response)
    }
}
