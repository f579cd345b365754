//! Assembles providers, processors and exporters from a resolved [`Config`].

use std::collections::HashMap;
use std::sync::Arc;

use opentelemetry::propagation::TextMapCompositePropagator;
use opentelemetry::propagation::text_map_propagator::TextMapPropagator;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_appender_tracing::layer::OpenTelemetryTracingBridge;
use opentelemetry_otlp::{WithExportConfig, WithHttpConfig, WithTonicConfig};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::logs::SdkLoggerProvider;
use opentelemetry_sdk::metrics::{PeriodicReader, SdkMeterProvider};
use opentelemetry_sdk::propagation::{BaggagePropagator, TraceContextPropagator};
use opentelemetry_sdk::trace::{Sampler, SdkTracerProvider, SpanExporter};
use tracing_subscriber::layer::{Layer, SubscriberExt as _};

use crate::Error;
use crate::config::{
    BatchConfig, Compression, Config, ExporterKind, OtlpConfig, ParentBasedRoot, Propagator,
    Protocol, SamplerConfig, Signal, Temporality,
};
use crate::console::{ConsoleLogExporter, ConsoleMetricExporter, ConsoleSink, ConsoleSpanExporter};
use crate::engine::encode::Encoder;
use crate::engine::send::{Gzip, Transport};
use crate::engine::{Engine, SemtelLayer};
use crate::export::{
    CountingMetricExporter, Executor, ExportRuntime, LogQueueProcessor, Reporter,
    SpanQueueProcessor,
};

/// Everything built for one configuration.
pub(crate) struct Pipeline {
    pub tracer_provider: Option<SdkTracerProvider>,
    pub logger_provider: Option<SdkLoggerProvider>,
    pub meter_provider: SdkMeterProvider,
    pub reporters: Vec<Arc<dyn Reporter>>,
    pub runtime: Option<ExportRuntime>,
    pub dispatch: tracing::Dispatch,
    pub propagator: TextMapCompositePropagator,
    /// The stage span engine (none when telemetry is disabled).
    pub engine: Option<Arc<Engine>>,
}

/// A span exporter given in code ([`crate::Builder::span_exporter`]), not
/// started yet: its type is erased behind the function that starts it.
pub(crate) struct ExtraSpanExporter {
    start: Box<StartSpanExporter>,
}

type StartSpanExporter = dyn FnOnce(&Resource, BatchConfig, Executor) -> std::io::Result<SpanQueueProcessor>
    + Send
    + Sync;

impl ExtraSpanExporter {
    pub(crate) fn new<E: SpanExporter + 'static>(name: String, exporter: E) -> Self {
        Self {
            start: Box::new(move |resource, batch, executor| {
                SpanQueueProcessor::start(exporter, resource, name, batch, executor)
            }),
        }
    }
}

pub(crate) fn build(
    config: &Config,
    sink: &ConsoleSink,
    extra_span_exporters: Vec<ExtraSpanExporter>,
    discard_encoded_traces: bool,
) -> Result<Pipeline, Error> {
    let propagator = propagator(&config.propagators);
    if config.disabled {
        return Ok(Pipeline {
            tracer_provider: None,
            logger_provider: None,
            meter_provider: SdkMeterProvider::builder().build(),
            reporters: Vec::new(),
            runtime: None,
            dispatch: tracing::Dispatch::none(),
            propagator,
            engine: None,
        });
    }

    // Exporters given in code may need the runtime too (async clients).
    let needs_network = !extra_span_exporters.is_empty()
        || Signal::ALL
            .iter()
            .any(|s| config.signal(*s).exporters.contains(&ExporterKind::Otlp));
    let runtime = if needs_network {
        Some(ExportRuntime::start().map_err(Error::Runtime)?)
    } else {
        None
    };
    // tonic's channels spawn onto the runtime current at construction.
    let handle = runtime.as_ref().map(ExportRuntime::handle);
    let _entered = handle.as_ref().map(tokio::runtime::Handle::enter);
    let network = runtime
        .as_ref()
        .map_or(Executor::Local, |rt| Executor::Tokio(rt.handle()));

    let resource = crate::resource::build(config);
    let mut reporters: Vec<Arc<dyn Reporter>> = Vec::new();
    let mut span_queues = Vec::new();

    let tracer_provider = if config.traces.exporters.is_empty() && extra_span_exporters.is_empty() {
        None
    } else {
        let mut builder = SdkTracerProvider::builder()
            .with_resource(resource.clone())
            .with_sampler(sampler(config.sampler));
        for kind in &config.traces.exporters {
            let otlp = &config.traces.otlp;
            let direct = match kind {
                ExporterKind::Otlp if discard_encoded_traces => Some(Transport::Discard {
                    gzip: Gzip::when(otlp.compression),
                }),
                ExporterKind::Otlp => {
                    #[cfg(not(feature = "tls"))]
                    no_tls(Signal::Traces, otlp)?;
                    Transport::new(otlp, header_map(Signal::Traces, otlp)?)?
                }
                ExporterKind::Console => None,
            };
            // (An OTLP exporter always has the runtime: `needs_network`.)
            if let (Some(transport), Some(runtime)) = (direct, handle.clone()) {
                // semtel encodes OTLP/protobuf itself, for stage spans and
                // the SDK's spans alike.
                let processor = SpanQueueProcessor::start_direct(
                    transport,
                    Encoder::new(&resource, crate::engine::scope()),
                    destination(otlp),
                    config.span_batch,
                    runtime,
                )
                .map_err(Error::Runtime)?;
                reporters.push(processor.0.clone());
                span_queues.push(processor.0.clone());
                builder = builder.with_span_processor(processor);
                continue;
            }
            let processor = match kind {
                ExporterKind::Otlp => SpanQueueProcessor::start(
                    otlp_spans(otlp)?,
                    &resource,
                    destination(otlp),
                    config.span_batch,
                    network.clone(),
                ),
                ExporterKind::Console => SpanQueueProcessor::start(
                    ConsoleSpanExporter::new(sink.clone()),
                    &resource,
                    "console".into(),
                    console_batch(config.span_batch),
                    Executor::Local,
                ),
            }
            .map_err(Error::Runtime)?;
            reporters.push(processor.0.clone());
            span_queues.push(processor.0.clone());
            builder = builder.with_span_processor(processor);
        }
        for extra in extra_span_exporters {
            let processor = (extra.start)(&resource, config.span_batch, network.clone())
                .map_err(Error::Runtime)?;
            reporters.push(processor.0.clone());
            span_queues.push(processor.0.clone());
            builder = builder.with_span_processor(processor);
        }
        Some(builder.build())
    };

    let logger_provider = if config.logs.exporters.is_empty() {
        None
    } else {
        let mut builder = SdkLoggerProvider::builder().with_resource(resource.clone());
        for kind in &config.logs.exporters {
            let processor = match kind {
                ExporterKind::Otlp => LogQueueProcessor::start(
                    otlp_logs(&config.logs.otlp)?,
                    &resource,
                    destination(&config.logs.otlp),
                    config.log_batch,
                    network.clone(),
                ),
                ExporterKind::Console => LogQueueProcessor::start(
                    ConsoleLogExporter::new(sink.clone()),
                    &resource,
                    "console".into(),
                    console_batch(config.log_batch),
                    Executor::Local,
                ),
            }
            .map_err(Error::Runtime)?;
            reporters.push(processor.0.clone());
            builder = builder.with_log_processor(processor);
        }
        Some(builder.build())
    };

    let mut meter_builder = SdkMeterProvider::builder().with_resource(resource.clone());
    for kind in &config.metrics.exporters {
        let state = match kind {
            ExporterKind::Otlp => {
                let (exporter, state) = CountingMetricExporter::new(
                    otlp_metrics(&config.metrics.otlp, config.temporality)?,
                    destination(&config.metrics.otlp),
                    network.clone(),
                    config.metric_export_timeout,
                );
                meter_builder = meter_builder.with_reader(periodic(exporter, config));
                state
            }
            ExporterKind::Console => {
                let (exporter, state) = CountingMetricExporter::new(
                    ConsoleMetricExporter::new(sink.clone()),
                    "console".into(),
                    Executor::Local,
                    config.metric_export_timeout,
                );
                meter_builder = meter_builder.with_reader(periodic(exporter, config));
                state
            }
        };
        reporters.push(state);
    }
    let meter_provider = meter_builder.build();

    let engine =
        Engine::start(config.sampler, span_queues, config.span_batch).map_err(Error::Runtime)?;
    let dispatch = subscriber(
        config,
        &engine,
        tracer_provider.as_ref(),
        logger_provider.as_ref(),
        &meter_provider,
    );
    Ok(Pipeline {
        tracer_provider,
        logger_provider,
        meter_provider,
        reporters,
        runtime,
        dispatch,
        propagator,
        engine: Some(engine),
    })
}

fn periodic<E>(
    exporter: CountingMetricExporter<E>,
    config: &Config,
) -> PeriodicReader<CountingMetricExporter<E>>
where
    E: opentelemetry_sdk::metrics::exporter::PushMetricExporter,
{
    PeriodicReader::builder(exporter)
        .with_interval(config.metric_export_interval)
        .build()
}

/// The console is local and cheap: show spans and logs promptly instead of
/// holding them for the network-oriented schedule delay.
fn console_batch(mut batch: crate::config::BatchConfig) -> crate::config::BatchConfig {
    batch.schedule_delay = batch
        .schedule_delay
        .min(std::time::Duration::from_millis(200));
    batch
}

fn subscriber(
    config: &Config,
    engine: &Arc<Engine>,
    tracer_provider: Option<&SdkTracerProvider>,
    logger_provider: Option<&SdkLoggerProvider>,
    meter_provider: &SdkMeterProvider,
) -> tracing::Dispatch {
    let filter = tracing_subscriber::EnvFilter::builder()
        .parse(&config.log_filter)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    #[cfg(feature = "sqlx")]
    let filter = crate::integrations::sqlx::enable_query_events(filter, &config.log_filter);
    // Spans only: `tracing` events reach the collector as log records
    // through the bridge below, not again as span events.
    let spans = tracer_provider.map(|tp| {
        tracing_opentelemetry::layer()
            .with_tracked_inactivity(false)
            .with_target(false)
            .with_tracer(tp.tracer("semtel"))
            .with_filter(tracing_subscriber::filter::filter_fn(|meta| meta.is_span()))
    });
    let logs = logger_provider.map(|lp| {
        let bridge = OpenTelemetryTracingBridge::new(lp);
        #[cfg(feature = "sqlx")]
        let bridge = bridge.with_filter(crate::integrations::sqlx::log_filter(&config.log_filter));
        bridge
    });
    #[cfg(feature = "integrations")]
    let hub = Some(crate::integrations::HubLayer(Arc::new(
        crate::integrations::Hub::new(
            &config.log_filter,
            meter_provider,
            logger_provider,
            tracer_provider,
        ),
    )));
    #[cfg(not(feature = "integrations"))]
    let hub: Option<tracing_subscriber::layer::Identity> = {
        let _ = meter_provider;
        None
    };
    let subscriber = tracing_subscriber::registry()
        .with(crate::filter::TransportFilter::new(&config.log_filter))
        .with(filter)
        .with(SemtelLayer::new(
            Arc::clone(engine),
            Box::new(Layer::and_then(spans, logs).and_then(hub)),
        ));
    tracing::Dispatch::new(subscriber)
}

fn sampler(config: SamplerConfig) -> Sampler {
    match config {
        SamplerConfig::AlwaysOn => Sampler::AlwaysOn,
        SamplerConfig::AlwaysOff => Sampler::AlwaysOff,
        SamplerConfig::TraceIdRatio(r) => Sampler::TraceIdRatioBased(r),
        SamplerConfig::ParentBased(root) => Sampler::ParentBased(Box::new(match root {
            ParentBasedRoot::AlwaysOn => Sampler::AlwaysOn,
            ParentBasedRoot::AlwaysOff => Sampler::AlwaysOff,
            ParentBasedRoot::TraceIdRatio(r) => Sampler::TraceIdRatioBased(r),
        })),
    }
}

fn propagator(kinds: &[Propagator]) -> TextMapCompositePropagator {
    let list: Vec<Box<dyn TextMapPropagator + Send + Sync>> = kinds
        .iter()
        .map(|k| -> Box<dyn TextMapPropagator + Send + Sync> {
            match k {
                Propagator::TraceContext => Box::new(TraceContextPropagator::new()),
                Propagator::Baggage => Box::new(BaggagePropagator::new()),
            }
        })
        .collect();
    TextMapCompositePropagator::new(list)
}

fn destination(otlp: &OtlpConfig) -> String {
    format!("otlp {} {}", otlp.protocol.as_str(), otlp.endpoint)
}

#[cfg(not(feature = "tls"))]
fn no_tls(signal: Signal, otlp: &OtlpConfig) -> Result<(), Error> {
    if otlp.certificate.is_some()
        || otlp.client_key.is_some()
        || otlp.endpoint.starts_with("https://")
    {
        return Err(Error::Exporter {
            signal,
            message: "https endpoints and certificate settings need semtel's `tls` feature".into(),
        });
    }
    Ok(())
}

fn header_map(signal: Signal, otlp: &OtlpConfig) -> Result<http::HeaderMap, Error> {
    let mut map = http::HeaderMap::new();
    for (k, v) in &otlp.headers {
        let name = http::HeaderName::from_bytes(k.to_ascii_lowercase().as_bytes());
        let value = http::HeaderValue::from_str(v);
        match (name, value) {
            (Ok(name), Ok(value)) => {
                map.insert(name, value);
            }
            _ => {
                return Err(Error::Exporter {
                    signal,
                    message: format!(
                        "header `{k}` from OTEL_EXPORTER_OTLP_HEADERS is not a valid HTTP header"
                    ),
                });
            }
        }
    }
    Ok(map)
}

/// Builds an OTLP exporter of one signal from `OtlpConfig`; the three
/// signals' builders share this shape but not a trait.
macro_rules! otlp_exporter {
    ($signal:expr, $builder:expr, $otlp:expr) => {{
        let otlp: &OtlpConfig = $otlp;
        #[cfg(not(feature = "tls"))]
        no_tls($signal, otlp)?;
        let headers = header_map($signal, otlp)?;
        let built = match otlp.protocol {
            Protocol::Grpc => {
                let mut b = $builder
                    .with_tonic()
                    .with_endpoint(otlp.endpoint.clone())
                    .with_timeout(otlp.timeout)
                    .with_metadata(tonic::metadata::MetadataMap::from_headers(headers));
                if otlp.compression == Compression::Gzip {
                    b = b.with_compression(opentelemetry_otlp::Compression::Gzip);
                }
                #[cfg(feature = "tls")]
                if let Some(tls) = crate::tls::grpc_config($signal, otlp)? {
                    b = b.with_tls_config(tls);
                }
                b.build()
            }
            Protocol::HttpProtobuf | Protocol::HttpJson => {
                let protocol = if otlp.protocol == Protocol::HttpJson {
                    opentelemetry_otlp::Protocol::HttpJson
                } else {
                    opentelemetry_otlp::Protocol::HttpBinary
                };
                let headers: HashMap<String, String> = otlp.headers.iter().cloned().collect();
                let mut b = $builder
                    .with_http()
                    .with_endpoint(otlp.endpoint.clone())
                    .with_protocol(protocol)
                    .with_timeout(otlp.timeout)
                    .with_headers(headers);
                if otlp.compression == Compression::Gzip {
                    b = b.with_compression(opentelemetry_otlp::Compression::Gzip);
                }
                #[cfg(feature = "tls")]
                {
                    b = b.with_http_client(crate::tls::http_client($signal, otlp)?);
                }
                b.build()
            }
        };
        built.map_err(|e| Error::Exporter {
            signal: $signal,
            message: e.to_string(),
        })
    }};
}

fn otlp_spans(otlp: &OtlpConfig) -> Result<opentelemetry_otlp::SpanExporter, Error> {
    otlp_exporter!(
        Signal::Traces,
        opentelemetry_otlp::SpanExporter::builder(),
        otlp
    )
}

fn otlp_logs(otlp: &OtlpConfig) -> Result<opentelemetry_otlp::LogExporter, Error> {
    otlp_exporter!(
        Signal::Logs,
        opentelemetry_otlp::LogExporter::builder(),
        otlp
    )
}

fn otlp_metrics(
    otlp: &OtlpConfig,
    temporality: Temporality,
) -> Result<opentelemetry_otlp::MetricExporter, Error> {
    let temporality = match temporality {
        Temporality::Cumulative => opentelemetry_sdk::metrics::Temporality::Cumulative,
        Temporality::Delta => opentelemetry_sdk::metrics::Temporality::Delta,
        Temporality::LowMemory => opentelemetry_sdk::metrics::Temporality::LowMemory,
    };
    otlp_exporter!(
        Signal::Metrics,
        opentelemetry_otlp::MetricExporter::builder().with_temporality(temporality),
        otlp
    )
}
