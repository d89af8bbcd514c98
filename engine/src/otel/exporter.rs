//! The process's OTLP exporter: started once, on the engine's runtime, and the layer that
//! feeds it.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{LazyLock, Mutex, PoisonError, RwLock};
use std::time::Duration;

use opentelemetry::global::{BoxedSpan, BoxedTracer};
use opentelemetry::trace::{noop::NoopTracer, SpanBuilder, Tracer, TracerProvider as _};
use opentelemetry_otlp::{WithExportConfig, WithHttpConfig, WithTonicConfig};
use opentelemetry_sdk::runtime::Tokio;
use opentelemetry_sdk::trace::span_processor_with_async_runtime::BatchSpanProcessor;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tokio::runtime::Handle;
use tracing::subscriber::Interest;
use tracing::{Metadata, Subscriber};
use tracing_subscriber::layer::{Context, Filter, Layer};
use tracing_subscriber::registry::LookupSpan;

use super::https::Connector;
use super::spans::SPAN_TARGET;
use super::tls::{Protocol as TlsProtocol, Settings};
use crate::error::{Error, Result};

/// The variable whose presence turns export on.
const ENDPOINT_VARIABLE: &str = "OTEL_EXPORTER_OTLP_ENDPOINT";

/// The variables naming the collector, the traces-only one first.
const ENDPOINT_VARIABLES: [&str; 2] = ["OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", ENDPOINT_VARIABLE];

/// Where a gRPC exporter sends without an endpoint (the OTLP default).
const DEFAULT_GRPC_ENDPOINT: &str = "http://localhost:4317";

/// The variables that make an endpoint without a scheme plain `http://`, traces-only first.
const INSECURE_VARIABLES: [&str; 2] = [
    "OTEL_EXPORTER_OTLP_TRACES_INSECURE",
    "OTEL_EXPORTER_OTLP_INSECURE",
];

/// The variables choosing the transport, the traces-only one first; `grpc` or an HTTP one.
const PROTOCOL_VARIABLES: [&str; 2] = [
    "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL",
    "OTEL_EXPORTER_OTLP_PROTOCOL",
];

/// The variables bounding one export, in milliseconds, the traces-only one first.
const TIMEOUT_VARIABLES: [&str; 2] = [
    "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT",
    "OTEL_EXPORTER_OTLP_TIMEOUT",
];

/// How long one export may take when no timeout variable says otherwise (the OTLP default).
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// How long [`flush`] waits for queued spans to reach the collector.
const FLUSH_TIMEOUT: Duration = Duration::from_secs(5);

/// Whether spans are being exported: the one check each span pays while they are not.
static ENABLED: AtomicBool = AtomicBool::new(false);

/// The exporting provider and the process that started it; a forked child starts its own.
static PROVIDER: Mutex<Option<(u32, SdkTracerProvider)>> = Mutex::new(None);

/// What the layer's spans are built with, swapped in by [`start`].
static TRACER: RwLock<Option<BoxedTracer>> = RwLock::new(None);

/// Stands in for the tracer before [`start`] (never reached: the filter is off until then).
static NOOP: LazyLock<BoxedTracer> =
    LazyLock::new(|| BoxedTracer::new(Box::new(NoopTracer::new())));

/// Whether spans are exported in this process now.
pub(crate) fn enabled() -> bool {
    ENABLED.load(Ordering::Relaxed)
}

/// The `tracing` layer that turns the engine's spans into OpenTelemetry spans. Add it to the
/// process's subscriber once; it passes nothing on until [`start`] has started an exporter,
/// and only the engine's own spans after that.
///
/// ```
/// use tracing_subscriber::layer::SubscriberExt;
/// let subscriber = tracing_subscriber::registry().with(prosody_engine::otel::layer());
/// # drop(subscriber);
/// ```
pub fn layer<S>() -> impl Layer<S>
where
    S: Subscriber + for<'span> LookupSpan<'span>,
{
    tracing_opentelemetry::layer()
        .with_tracer(ProcessTracer)
        .with_location(false)
        .with_threads(false)
        .with_tracked_inactivity(false)
        .with_filter(OnlyEngineSpans)
}

/// Starts the OTLP exporter in this process, on `runtime`, if `OTEL_EXPORTER_OTLP_ENDPOINT` is
/// set and none runs here yet. Returns whether one runs now.
///
/// # Errors
///
/// When the exporter cannot be built from the `OTEL_*` variables (an unknown protocol, a
/// malformed endpoint, a certificate or key file that cannot be read or does not fit: the
/// error names the variable and the file).
pub fn start(runtime: &Handle) -> Result<bool> {
    let pid = std::process::id();
    let mut slot = PROVIDER.lock().unwrap_or_else(PoisonError::into_inner);
    if matches!(slot.as_ref(), Some((owner, _)) if *owner == pid) {
        return Ok(true);
    }
    if std::env::var_os(ENDPOINT_VARIABLE).is_none_or(|value| value.is_empty()) {
        return Ok(false);
    }
    // The batch task and the gRPC channel's worker are spawned on the current runtime.
    let _entered = runtime.enter();
    let exporter = build_exporter()?;
    let provider = SdkTracerProvider::builder()
        .with_span_processor(BatchSpanProcessor::builder(exporter, Tokio).build())
        .build();
    let tracer = provider.tracer("prosody");
    *TRACER.write().unwrap_or_else(PoisonError::into_inner) =
        Some(BoxedTracer::new(Box::new(tracer)));
    // A provider inherited across `fork` is left alone: its task died with the parent's runtime.
    if let Some((_, inherited)) = slot.replace((pid, provider)) {
        std::mem::forget(inherited);
    }
    ENABLED.store(true, Ordering::Relaxed);
    Ok(true)
}

/// The OTLP exporter the `OTEL_*` variables describe. Both transports connect through
/// [`super::https::Connector`], which speaks TLS to `https://` endpoints with the settings of
/// [`super::tls`] (the CA to trust, a client certificate).
fn build_exporter() -> Result<opentelemetry_otlp::SpanExporter> {
    let settings = Settings::from_env()?;
    let timeout = first_set(&TIMEOUT_VARIABLES)
        .and_then(|millis| millis.trim().parse().ok())
        .map_or(DEFAULT_TIMEOUT, Duration::from_millis);
    let builder = opentelemetry_otlp::SpanExporter::builder();
    let grpc = first_set(&PROTOCOL_VARIABLES).is_some_and(|protocol| protocol.trim() == "grpc");
    let built = if grpc {
        let connector = Connector::new(&settings, TlsProtocol::Http2)?;
        // The exporter's own channel would need a TLS stack of its own for `https://`.
        let channel = grpc_endpoint()?
            .timeout(timeout)
            .connect_with_connector_lazy(connector);
        builder
            .with_tonic()
            .with_channel(channel)
            .with_timeout(timeout)
            .build()
    } else {
        let connector = Connector::new(&settings, TlsProtocol::Http1)?;
        let client = opentelemetry_http::hyper::HyperClient::new(connector, timeout, None);
        builder.with_http().with_http_client(client).build()
    };
    built.map_err(|error| Error::Tracing(error.to_string()))
}

/// The gRPC collector's address, read as the exporter reads it for its own channel: the
/// traces-only variable, else the general one, used as they are (gRPC has no per-signal path);
/// one without a scheme is `https://` unless an insecure variable says `true`.
fn grpc_endpoint() -> Result<tonic::transport::Endpoint> {
    let (variable, value) = ENDPOINT_VARIABLES
        .iter()
        .find_map(|name| {
            let value = std::env::var(name).ok().filter(|value| !value.is_empty())?;
            Some((*name, value))
        })
        .unwrap_or((ENDPOINT_VARIABLE, DEFAULT_GRPC_ENDPOINT.to_owned()));
    let value = value.trim();
    let insecure =
        first_set(&INSECURE_VARIABLES).is_some_and(|flag| flag.trim().eq_ignore_ascii_case("true"));
    tonic::transport::Endpoint::from_shared(with_scheme(value, insecure)).map_err(|error| {
        Error::Tracing(format!(
            "{variable} is not a valid gRPC endpoint ({value:?}): {error}; give a URL such as \
             https://collector:4317"
        ))
    })
}

/// `endpoint` as a URL: as it is when it has a scheme, else `https://` (`http://` if
/// `insecure`) in front.
fn with_scheme(endpoint: &str, insecure: bool) -> String {
    let has_scheme = endpoint
        .split_once("://")
        .is_some_and(|(scheme, _)| !scheme.contains(['/', '?', '#']));
    if has_scheme {
        endpoint.to_owned()
    } else if insecure {
        format!("http://{endpoint}")
    } else {
        format!("https://{endpoint}")
    }
}

/// The value of the first of `names` that is set and not empty.
fn first_set(names: &[&str]) -> Option<String> {
    names
        .iter()
        .find_map(|name| std::env::var(name).ok().filter(|value| !value.is_empty()))
}

/// [`start`] for the engine's own clients: a failure is logged, and the client runs without
/// exporting spans rather than not at all.
pub(crate) fn start_or_warn(runtime: &Handle) {
    if let Err(error) = start(runtime) {
        tracing::warn!(%error, "spans will not be exported");
    }
}

/// Exports every span ended so far, waiting at most five seconds; does nothing when no
/// exporter runs in this process. Clients call it as they close.
pub async fn flush() {
    let pid = std::process::id();
    let provider = match PROVIDER
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .as_ref()
    {
        Some((owner, provider)) if *owner == pid => provider.clone(),
        _ => return,
    };
    // The SDK's flush blocks its thread until the batch task answers, so it runs aside.
    let flushing = tokio::task::spawn_blocking(move || provider.force_flush());
    match tokio::time::timeout(FLUSH_TIMEOUT, flushing).await {
        Ok(Ok(Ok(()))) => {}
        Ok(Ok(Err(error))) => tracing::warn!(%error, "exporting the last spans failed"),
        Ok(Err(_)) | Err(_) => {
            tracing::warn!(timeout = ?FLUSH_TIMEOUT, "exporting the last spans did not finish");
        }
    }
}

/// Builds each span with whichever tracer [`start`] installed last.
#[derive(Debug, Clone, Copy)]
struct ProcessTracer;

impl Tracer for ProcessTracer {
    type Span = BoxedSpan;

    fn build_with_context(
        &self,
        builder: SpanBuilder,
        parent_cx: &opentelemetry::Context,
    ) -> Self::Span {
        match TRACER
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .as_ref()
        {
            Some(tracer) => tracer.build_with_context(builder, parent_cx),
            None => NOOP.build_with_context(builder, parent_cx),
        }
    }
}

/// Lets through the engine's spans, and only while exporting. Events never pass: the span
/// events the engine adds go straight to the OpenTelemetry span.
#[derive(Debug, Clone, Copy)]
struct OnlyEngineSpans;

impl<S> Filter<S> for OnlyEngineSpans {
    fn enabled(&self, metadata: &Metadata<'_>, _: &Context<'_, S>) -> bool {
        enabled() && metadata.target() == SPAN_TARGET
    }

    fn callsite_enabled(&self, metadata: &'static Metadata<'static>) -> Interest {
        if metadata.is_span() && metadata.target() == SPAN_TARGET {
            Interest::sometimes()
        } else {
            Interest::never()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::with_scheme;

    #[test]
    fn a_grpc_endpoint_without_a_scheme_is_https_unless_insecure() {
        assert_eq!(
            with_scheme("collector:4317", false),
            "https://collector:4317"
        );
        assert_eq!(with_scheme("collector:4317", true), "http://collector:4317");
        for kept in ["http://collector:4317", "https://collector:4317"] {
            assert_eq!(with_scheme(kept, false), kept);
            assert_eq!(with_scheme(kept, true), kept);
        }
        assert_eq!(
            with_scheme("collector:4317/a://b", false),
            "https://collector:4317/a://b"
        );
    }
}
