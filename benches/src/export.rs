//! The exporting pipelines of the export bench: semtel
//! or opentelemetry-otlp, over OTLP/HTTP protobuf or OTLP/gRPC, to the
//! counting [`Receiver`].
//!
//! * **semtel**: a scoped [`semtel::Session`] (traces only, the process
//!   environment ignored) whose dispatcher is the calling thread's default
//!   while the pipeline lives; a span is one call of the `#[semtel::stage]`
//!   function [`peers::load`]. Its stage metrics are not recorded: they need
//!   the global meter provider of `init()`, which a scoped session does not
//!   install, so only spans are compared.
//! * **opentelemetry-otlp**: an SDK tracer provider with the SDK's
//!   thread-based `BatchSpanProcessor` and `opentelemetry_otlp::SpanExporter`,
//!   as its documentation pairs them: gRPC through tonic, built inside a
//!   tokio runtime of one worker (semtel's export runtime has one too); HTTP
//!   through the blocking reqwest client, the crate's default HTTP client
//!   and the one that works from the processor's own thread. A span is
//!   started with the same three attributes, made current around the same
//!   user work, and ended.

use std::hint::black_box;
use std::time::Duration;

use opentelemetry::KeyValue;
use opentelemetry::trace::{Tracer as _, TracerProvider as _, mark_span_as_active};
use opentelemetry_otlp::{WithExportConfig as _, WithHttpConfig as _};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::{
    BatchConfigBuilder, BatchSpanProcessor, SdkTracer, SdkTracerProvider,
};
use semtel::{ExporterKind, Protocol, Signal, SignalReport};

use crate::peers;
use semtel_tests::Receiver;

/// Whose exporter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exporter {
    /// semtel's session: tracing-opentelemetry and semtel's export queue.
    Semtel,
    /// The OpenTelemetry SDK's batch processor and opentelemetry-otlp.
    OtelOtlp,
}

impl Exporter {
    /// Both, in the order they run.
    pub const ALL: [Exporter; 2] = [Exporter::Semtel, Exporter::OtelOtlp];

    /// A short name for reports.
    pub const fn name(self) -> &'static str {
        match self {
            Exporter::Semtel => "semtel",
            Exporter::OtelOtlp => "opentelemetry-otlp",
        }
    }
}

/// The OTLP transport.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// OTLP/HTTP with protobuf bodies.
    HttpProtobuf,
    /// OTLP/gRPC.
    Grpc,
}

impl Transport {
    /// Both, in the order they run.
    pub const ALL: [Transport; 2] = [Transport::HttpProtobuf, Transport::Grpc];

    /// The `OTEL_EXPORTER_OTLP_PROTOCOL` spelling.
    pub const fn name(self) -> &'static str {
        match self {
            Transport::HttpProtobuf => "http/protobuf",
            Transport::Grpc => "grpc",
        }
    }
}

/// How many spans the batch queue holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Queue {
    /// The default (2048 for both, batches of 512, 5 s delay).
    Default,
    /// At least this many; the other batch settings stay at their defaults.
    Holds(usize),
}

/// One exporting pipeline, used from the thread that started it.
#[derive(Debug)]
pub struct Pipeline {
    state: State,
}

#[derive(Debug)]
#[allow(
    clippy::large_enum_variant,
    reason = "one per case, built once and never moved on the measured path"
)]
enum State {
    Semtel {
        // Dropped before the session, by `finish`.
        default: tracing::dispatcher::DefaultGuard,
        session: semtel::Session,
    },
    OtelOtlp {
        tracer: SdkTracer,
        provider: SdkTracerProvider,
        attributes: [KeyValue; 3],
        /// tonic's channel runs on it; kept until the provider has shut down.
        runtime: Option<tokio::runtime::Runtime>,
    },
}

impl Pipeline {
    /// Starts `exporter` over `transport` to `receiver`.
    ///
    /// # Errors
    ///
    /// When the exporter cannot be built, with the reason.
    pub fn start(
        exporter: Exporter,
        transport: Transport,
        queue: Queue,
        receiver: &Receiver,
    ) -> Result<Self, String> {
        let state = match exporter {
            Exporter::Semtel => semtel_pipeline(transport, queue, receiver)?,
            Exporter::OtelOtlp => otel_otlp_pipeline(transport, queue, receiver)?,
        };
        Ok(Self { state })
    }

    /// Records one span.
    #[inline]
    pub fn emit(&self, i: u64) -> u64 {
        match &self.state {
            State::Semtel { .. } => peers::load(i),
            State::OtelOtlp {
                tracer, attributes, ..
            } => {
                let span = tracer
                    .span_builder("load")
                    .with_attributes(attributes.clone())
                    .start(tracer);
                let _active = mark_span_as_active(span);
                black_box(i) + 1
            }
        }
    }

    /// Exports what is queued, waiting for it (within the exporter's own
    /// bound: semtel's export timeout, the SDK's 5 s flush timeout).
    pub fn flush(&self) {
        match &self.state {
            State::Semtel { session, .. } => session.flush(),
            State::OtelOtlp { provider, .. } => {
                let _ = provider.force_flush();
            }
        }
    }

    /// Flushes and shuts down. semtel says what became of its spans; the
    /// SDK's batch processor only logs how many it dropped, so for it the
    /// receiver's count is the only account.
    pub fn finish(self) -> Option<SignalReport> {
        match self.state {
            State::Semtel { default, session } => {
                drop(default);
                let report = session.shutdown();
                report.signal(Signal::Traces).next().cloned()
            }
            State::OtelOtlp {
                tracer,
                provider,
                runtime,
                ..
            } => {
                drop(tracer);
                let _ = provider.shutdown();
                drop(provider);
                if let Some(rt) = runtime {
                    rt.shutdown_background();
                }
                None
            }
        }
    }
}

fn semtel_pipeline(
    transport: Transport,
    queue: Queue,
    receiver: &Receiver,
) -> Result<State, String> {
    let (protocol, endpoint) = match transport {
        Transport::HttpProtobuf => (Protocol::HttpProtobuf, receiver.http_endpoint()),
        Transport::Grpc => (Protocol::Grpc, receiver.grpc_endpoint()),
    };
    let mut builder = semtel::builder()
        // The run must not depend on the environment it is started from.
        .env(|_| None)
        .service_name("semtel-bench")
        .endpoint(endpoint)
        .protocol(protocol)
        .exporters(Signal::Traces, &[ExporterKind::Otlp])
        .exporters(Signal::Metrics, &[])
        .exporters(Signal::Logs, &[]);
    if let Queue::Holds(n) = queue {
        let defaults = builder.config().map_err(|e| e.to_string())?.span_batch;
        builder = builder.span_batch(defaults.with_max_queue_size(n));
    }
    let session = builder.build().map_err(|e| e.to_string())?;
    let default = tracing::dispatcher::set_default(session.dispatch());
    Ok(State::Semtel { default, session })
}

fn otel_otlp_pipeline(
    transport: Transport,
    queue: Queue,
    receiver: &Receiver,
) -> Result<State, String> {
    let (exporter, runtime) = match transport {
        Transport::Grpc => {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .thread_name("otel-otlp-grpc")
                .enable_all()
                .build()
                .map_err(|e| e.to_string())?;
            // tonic's lazy channel spawns its worker onto the current runtime.
            let exporter = {
                let _entered = runtime.enter();
                opentelemetry_otlp::SpanExporter::builder()
                    .with_tonic()
                    .with_endpoint(receiver.grpc_endpoint())
                    .build()
            };
            (exporter, Some(runtime))
        }
        Transport::HttpProtobuf => {
            // opentelemetry-otlp builds the same client itself when only its
            // default `reqwest-blocking-client` feature is on; semtel's
            // `reqwest-client` feature, unified into this build, would make
            // it pick the async client, which needs a tokio runtime the
            // batch processor's thread does not have.
            let client = reqwest::blocking::Client::builder()
                .timeout(Duration::from_secs(10))
                .tls_backend_preconfigured(plain_http_tls()?)
                .build()
                .map_err(|e| e.to_string())?;
            let exporter = opentelemetry_otlp::SpanExporter::builder()
                .with_http()
                .with_http_client(client)
                .with_protocol(opentelemetry_otlp::Protocol::HttpBinary)
                .with_endpoint(format!("{}/v1/traces", receiver.http_endpoint()))
                .build();
            (exporter, None)
        }
    };
    let exporter = exporter.map_err(|e| e.to_string())?;
    let mut batch = BatchConfigBuilder::default();
    if let Queue::Holds(n) = queue {
        batch = batch.with_max_queue_size(n);
    }
    let provider = SdkTracerProvider::builder()
        .with_resource(Resource::builder().with_service_name("otel-bench").build())
        .with_span_processor(
            BatchSpanProcessor::builder(exporter)
                .with_batch_config(batch.build())
                .build(),
        )
        .build();
    Ok(State::OtelOtlp {
        tracer: provider.tracer("bench"),
        provider,
        attributes: peers::attributes(),
        runtime,
    })
}

/// A rustls configuration for a client that only speaks plain HTTP: semtel's
/// `tls` feature builds reqwest without a crypto provider (semtel brings its
/// own), so any reqwest client in this build must be given one; a user of
/// opentelemetry-otlp alone gets reqwest's default TLS and never sees this.
fn plain_http_tls() -> Result<rustls::ClientConfig, String> {
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(rustls::RootCertStore::empty())
        .with_no_client_auth())
}
