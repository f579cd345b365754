//! Assembles providers, processors and exporters from a resolved [`Config`].

use std::sync::Arc;
use std::time::Duration;

use opentelemetry::metrics::MeterProvider as _;
use opentelemetry::propagation::TextMapCompositePropagator;
use opentelemetry::propagation::text_map_propagator::TextMapPropagator;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_appender_tracing::layer::OpenTelemetryTracingBridge;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::logs::SdkLoggerProvider;
use opentelemetry_sdk::metrics::exporter::PushMetricExporter;
use opentelemetry_sdk::metrics::{MeterProviderBuilder, PeriodicReader, SdkMeterProvider};
use opentelemetry_sdk::propagation::{BaggagePropagator, TraceContextPropagator};
use opentelemetry_sdk::trace::{Sampler, SdkTracerProvider, SpanExporter};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::filter::{FilterExt as _, filter_fn};
use tracing_subscriber::layer::{Layer, SubscriberExt as _};
use tracing_subscriber::registry::LookupSpan;

use crate::Error;
use crate::config::{
    BatchConfig, Config, ExporterKind, ParentBasedRoot, Propagator, Protocol, SamplerConfig,
    Signal, SpanLimits, Temporality,
};
use crate::console::{ConsoleLogExporter, ConsoleMetricExporter, ConsoleSink, ConsoleSpanExporter};
use crate::engine::{BridgeProvider, Engine, SemtelLayer};
#[cfg(feature = "__bench")]
use crate::export::DiscardEncoded;
use crate::export::self_metrics::{self, Component};
use crate::export::{
    BatchExporter, CountingMetricExporter, Executor, ExportRuntime, LogQueueProcessor, OtlpSpans,
    Reporter, Sdk, SpanQueueProcessor,
};
use crate::metric::prometheus::PrometheusReader;
use crate::otlp::encode::Encoder;
use crate::otlp::metrics::OtlpMetrics;
#[cfg(not(feature = "tls"))]
use crate::otlp::sdk::no_tls;
use crate::otlp::sdk::{destination, header_map, otlp_logs, otlp_spans};
#[cfg(feature = "__bench")]
use crate::otlp::send::Gzip;
use crate::otlp::send::Transport;
use crate::record::{Item, stage_scope};

/// Everything built for one configuration.
pub(crate) struct Pipeline {
    pub tracer_provider: Option<SdkTracerProvider>,
    pub logger_provider: Option<SdkLoggerProvider>,
    pub meter_provider: SdkMeterProvider,
    pub reporters: Vec<Arc<dyn Reporter>>,
    pub runtime: Option<ExportRuntime>,
    pub propagator: TextMapCompositePropagator,
    /// The stage span engine (none when telemetry is disabled).
    pub engine: Option<Arc<Engine>>,
    /// The Prometheus endpoint, when it is on.
    pub prometheus: Option<PrometheusReader>,
    /// What the `tracing` layers are made of (none when telemetry is
    /// disabled).
    pub layers: Option<LayerParts>,
}

/// What semtel's `tracing` layers are made of: as `init()`'s subscriber
/// ([`LayerParts::dispatch`]) or as a layer of the user's ([`LayerParts::layer`]).
pub(crate) struct LayerParts {
    log_filter: String,
    engine: Arc<Engine>,
    tracer_provider: Option<SdkTracerProvider>,
    logger_provider: Option<SdkLoggerProvider>,
    meter_provider: SdkMeterProvider,
}

/// What the builder adds in code beside the configuration.
#[derive(Default)]
pub(crate) struct Extras {
    /// [`crate::Builder::span_exporter`]'s.
    pub span_exporters: Vec<ExtraSpanExporter>,
    /// `Builder::__discard_encoded_traces`, for benchmarks.
    #[cfg(feature = "__bench")]
    pub discard_encoded_traces: bool,
    /// [`crate::Builder::self_metrics`]`(false)`.
    pub no_self_metrics: bool,
    /// `semtel::testing`'s capture: spans and logs kept in memory.
    #[cfg(feature = "testing")]
    pub memory: Option<crate::export::MemorySink>,
}

/// A span exporter given in code ([`crate::Builder::span_exporter`]), not
/// started yet: its type is erased behind the function that starts it.
pub(crate) struct ExtraSpanExporter {
    name: String,
    start: Box<StartSpanExporter>,
}

type StartSpanExporter =
    dyn FnOnce(&Resource, Executor, Duration) -> Box<dyn BatchExporter<Item>> + Send + Sync;

impl ExtraSpanExporter {
    pub(crate) fn new<E: SpanExporter + 'static>(name: String, exporter: E) -> Self {
        Self {
            name,
            start: Box::new(move |resource, executor, timeout| {
                Box::new(Sdk::spans(exporter, resource, executor, timeout))
            }),
        }
    }
}

pub(crate) fn build(
    config: &Config,
    sink: &ConsoleSink,
    extras: Extras,
) -> Result<Pipeline, Error> {
    let propagator = propagator(&config.propagators);
    if config.disabled {
        return Ok(Pipeline {
            tracer_provider: None,
            logger_provider: None,
            meter_provider: SdkMeterProvider::builder().build(),
            reporters: Vec::new(),
            runtime: None,
            propagator,
            engine: None,
            prometheus: None,
            layers: None,
        });
    }

    // Exporters given in code may need the runtime too (async clients).
    #[cfg(feature = "testing")]
    let memory = extras.memory.clone();
    #[cfg(not(feature = "testing"))]
    let memory: Option<std::convert::Infallible> = None;
    let needs_network = !extras.span_exporters.is_empty()
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
    let mut components = Vec::new();
    let mut span_queues = Vec::new();

    // A run's id is always copied (see `crate::run`); the user's keys only
    // when listed.
    let listed = !config.baggage_attributes.is_empty();
    let mut baggage_keys = vec![crate::run::RUN_ID_KEY.to_owned()];
    baggage_keys.extend(
        (config.baggage_attributes.iter())
            .filter(|k| k.as_str() != crate::run::RUN_ID_KEY)
            .cloned(),
    );
    let tracer_provider = if config.traces.exporters.is_empty()
        && extras.span_exporters.is_empty()
        && memory.is_none()
    {
        None
    } else {
        let mut builder = SdkTracerProvider::builder()
            .with_resource(resource.clone())
            .with_sampler(sampler(config.sampler))
            .with_span_limits(sdk_span_limits(config.span_limits));
        // Before the exporters' processors, which take the span as it is.
        builder =
            builder.with_span_processor(crate::baggage::BaggageCopy::new(&baggage_keys, listed));
        let mut destinations = Vec::new();
        for kind in &config.traces.exporters {
            let d = span_exporter(*kind, config, &resource, sink, &network, &extras)?;
            destinations.push(d);
        }
        let timeout = config.span_batch.export_timeout;
        for extra in extras.span_exporters {
            destinations.push(Destination {
                exporter: (extra.start)(&resource, network.clone(), timeout),
                name: extra.name,
                batch: config.span_batch,
            });
        }
        #[cfg(feature = "testing")]
        if let Some(sink) = &memory {
            let encoder = Encoder::new(&resource, stage_scope()).with_limits(config.span_limits);
            destinations.push(Destination {
                exporter: Box::new(crate::export::MemorySpans::new(encoder, sink.clone())),
                name: "memory".into(),
                batch: config.span_batch,
            });
        }
        let types = config
            .traces
            .exporters
            .iter()
            .map(|k| exporter_type(Signal::Traces, *k, otlp_protocol(config, Signal::Traces)))
            .chain(std::iter::repeat("span_exporter"));
        for (d, exporter) in destinations.into_iter().zip(types) {
            let capacity = d.batch.max_queue_size as u64;
            let processor =
                SpanQueueProcessor::start(d.exporter, d.name, d.batch).map_err(Error::Runtime)?;
            reporters.push(processor.0.clone());
            components.push(Component {
                reporter: processor.0.clone(),
                signal: Signal::Traces,
                exporter,
                capacity: Some(capacity),
            });
            span_queues.push(processor.0.clone());
            builder = builder.with_span_processor(processor);
        }
        Some(builder.build())
    };

    let logger_provider = if config.logs.exporters.is_empty() && memory.is_none() {
        None
    } else {
        let mut builder = SdkLoggerProvider::builder().with_resource(resource.clone());
        // Before the exporters' processors, which take the record as it is.
        builder =
            builder.with_log_processor(crate::baggage::BaggageCopy::new(&baggage_keys, listed));
        for kind in &config.logs.exporters {
            let timeout = config.log_batch.export_timeout;
            let processor = match kind {
                ExporterKind::Otlp => LogQueueProcessor::start(
                    Sdk::logs(
                        otlp_logs(&config.logs.otlp)?,
                        &resource,
                        network.clone(),
                        timeout,
                    ),
                    destination(&config.logs.otlp),
                    config.log_batch,
                ),
                ExporterKind::Console => LogQueueProcessor::start(
                    Sdk::logs(
                        ConsoleLogExporter::new(sink.clone()),
                        &resource,
                        Executor::Local,
                        timeout,
                    ),
                    "console".into(),
                    console_batch(config.log_batch),
                ),
                // Metrics only (the configuration says so).
                ExporterKind::Prometheus => continue,
            }
            .map_err(Error::Runtime)?;
            reporters.push(processor.0.clone());
            components.push(Component {
                reporter: processor.0.clone(),
                signal: Signal::Logs,
                exporter: exporter_type(Signal::Logs, *kind, otlp_protocol(config, Signal::Logs)),
                capacity: Some(config.log_batch.max_queue_size as u64),
            });
            builder = builder.with_log_processor(processor);
        }
        #[cfg(feature = "testing")]
        if let Some(sink) = &memory {
            let exporter = crate::export::MemoryLogs::new(sink.clone());
            let timeout = config.log_batch.export_timeout;
            let exporter = Sdk::logs(exporter, &resource, Executor::Local, timeout);
            let processor = LogQueueProcessor::start(exporter, "memory".into(), config.log_batch)
                .map_err(Error::Runtime)?;
            reporters.push(processor.0.clone());
            builder = builder.with_log_processor(processor);
        }
        Some(builder.build())
    };

    let mut meter_builder = SdkMeterProvider::builder().with_resource(resource.clone());
    let mut prometheus = None;
    for kind in &config.metrics.exporters {
        let otlp = &config.metrics.otlp;
        let state = match kind {
            ExporterKind::Otlp => {
                #[cfg(not(feature = "tls"))]
                no_tls(Signal::Metrics, otlp)?;
                let headers = header_map(Signal::Metrics, otlp)?;
                // semtel's encoder and transport, with exemplars.
                let transport = Transport::new(Signal::Metrics, otlp, headers)?;
                let exporter = OtlpMetrics::new(transport, sdk_temporality(config));
                counted(
                    &mut meter_builder,
                    exporter,
                    destination(otlp),
                    &network,
                    config,
                )
            }
            ExporterKind::Console => counted(
                &mut meter_builder,
                ConsoleMetricExporter::new(sink.clone()),
                "console".into(),
                &Executor::Local,
                config,
            ),
            ExporterKind::Prometheus => {
                let p = &config.prometheus;
                let reader = PrometheusReader::start(&p.host, p.port).map_err(|source| {
                    Error::PrometheusBind {
                        address: format!("{}:{}", p.host, p.port),
                        source,
                    }
                })?;
                prometheus = Some(reader.clone());
                meter_builder = meter_builder.with_reader(reader);
                continue;
            }
        };
        components.push(Component {
            reporter: Arc::clone(&state),
            signal: Signal::Metrics,
            exporter: exporter_type(
                Signal::Metrics,
                *kind,
                otlp_protocol(config, Signal::Metrics),
            ),
            capacity: None,
        });
        reporters.push(state);
    }
    let meter_provider = meter_builder.build();

    let engine =
        Engine::start(config.sampler, span_queues, config.span_batch).map_err(Error::Runtime)?;
    // semtel's own counts go where metrics leave the process (the console
    // has the shutdown report instead).
    let leaves = |k: &ExporterKind| matches!(k, ExporterKind::Otlp | ExporterKind::Prometheus);
    if !extras.no_self_metrics && config.metrics.exporters.iter().any(leaves) {
        let meter = meter_provider.meter_with_scope(stage_scope());
        let rings = Arc::clone(&engine);
        self_metrics::register(&meter, components, Box::new(move || rings.dropped()));
    }
    // Unset, a stage copies only a run's id, and only once a run started.
    if !config.baggage_attributes.is_empty() {
        let keys = baggage_keys.iter().cloned().map(Into::into);
        let _ = engine.baggage_keys.set(keys.collect());
    }
    let layers = LayerParts {
        log_filter: config.log_filter.clone(),
        engine: Arc::clone(&engine),
        tracer_provider: tracer_provider.clone(),
        logger_provider: logger_provider.clone(),
        meter_provider: meter_provider.clone(),
    };
    Ok(Pipeline {
        tracer_provider,
        logger_provider,
        meter_provider,
        reporters,
        runtime,
        propagator,
        engine: Some(engine),
        prometheus,
        layers: Some(layers),
    })
}

fn otlp_protocol(config: &Config, signal: Signal) -> Protocol {
    config.signal(signal).otlp.protocol
}

/// `otel.component.type` of an exporter (the conventions' names for OTLP).
fn exporter_type(signal: Signal, kind: ExporterKind, protocol: Protocol) -> &'static str {
    use Protocol::{Grpc, HttpJson, HttpProtobuf};
    match (kind, signal, protocol) {
        (ExporterKind::Otlp, Signal::Traces, Grpc) => "otlp_grpc_span_exporter",
        (ExporterKind::Otlp, Signal::Traces, HttpProtobuf) => "otlp_http_span_exporter",
        (ExporterKind::Otlp, Signal::Traces, HttpJson) => "otlp_http_json_span_exporter",
        (ExporterKind::Otlp, Signal::Logs, Grpc) => "otlp_grpc_log_exporter",
        (ExporterKind::Otlp, Signal::Logs, HttpProtobuf) => "otlp_http_log_exporter",
        (ExporterKind::Otlp, Signal::Logs, HttpJson) => "otlp_http_json_log_exporter",
        (ExporterKind::Otlp, Signal::Metrics, Grpc) => "otlp_grpc_metric_exporter",
        (ExporterKind::Otlp, Signal::Metrics, HttpProtobuf) => "otlp_http_metric_exporter",
        (ExporterKind::Otlp, Signal::Metrics, HttpJson) => "otlp_http_json_metric_exporter",
        (ExporterKind::Console, Signal::Traces, _) => "console_span_exporter",
        (ExporterKind::Console, Signal::Logs, _) => "console_log_exporter",
        (ExporterKind::Console, Signal::Metrics, _) => "console_metric_exporter",
        (ExporterKind::Prometheus, _, _) => "prometheus_http_text_metric_exporter",
    }
}

/// One traces destination: its exporter, its name in the reports and its
/// batching.
struct Destination {
    exporter: Box<dyn BatchExporter<Item>>,
    name: String,
    batch: BatchConfig,
}

/// The exporter of one traces destination, where it goes and its
/// batching: semtel's own encoder and sender for OTLP over protobuf or gRPC
/// (stage spans and the SDK's alike), an SDK exporter otherwise.
fn span_exporter(
    kind: ExporterKind,
    config: &Config,
    resource: &Resource,
    sink: &ConsoleSink,
    network: &Executor,
    extras: &Extras,
) -> Result<Destination, Error> {
    let otlp = &config.traces.otlp;
    let timeout = config.span_batch.export_timeout;
    let encoder = || Encoder::new(resource, stage_scope()).with_limits(config.span_limits);
    let exporter: Box<dyn BatchExporter<Item>> = match kind {
        ExporterKind::Console => {
            let console = ConsoleSpanExporter::new(sink.clone());
            let exporter = Sdk::spans(console, resource, Executor::Local, timeout);
            return Ok(Destination {
                exporter: Box::new(exporter),
                name: "console".into(),
                batch: console_batch(config.span_batch),
            });
        }
        ExporterKind::Prometheus => {
            return Err(Error::Exporter {
                signal: Signal::Traces,
                message: "Prometheus exports metrics only".into(),
            });
        }
        #[cfg(feature = "__bench")]
        ExporterKind::Otlp if extras.discard_encoded_traces => {
            Box::new(DiscardEncoded::new(encoder(), Gzip::when(otlp.compression)))
        }
        ExporterKind::Otlp => {
            #[cfg(not(feature = "tls"))]
            no_tls(Signal::Traces, otlp)?;
            let transport =
                Transport::new(Signal::Traces, otlp, header_map(Signal::Traces, otlp)?)?;
            // (An OTLP exporter always has the runtime: `needs_network`.)
            match network {
                Executor::Tokio(runtime) => Box::new(OtlpSpans::new(
                    encoder(),
                    transport,
                    runtime.clone(),
                    timeout,
                )),
                Executor::Local => Box::new(Sdk::spans(
                    otlp_spans(otlp)?,
                    resource,
                    network.clone(),
                    timeout,
                )),
            }
        }
    };
    #[cfg(not(feature = "__bench"))]
    let _ = extras;
    Ok(Destination {
        exporter,
        name: destination(otlp),
        batch: config.span_batch,
    })
}

/// The count limits for the SDK's spans (`tracing` spans); semtel's encoder
/// cuts their values.
fn sdk_span_limits(limits: SpanLimits) -> opentelemetry_sdk::trace::SpanLimits {
    let count = |n: usize| u32::try_from(n).unwrap_or(u32::MAX);
    opentelemetry_sdk::trace::SpanLimits {
        max_attributes_per_span: count(limits.attribute_count),
        max_events_per_span: count(limits.event_count),
        max_links_per_span: count(limits.link_count),
        max_attributes_per_event: count(limits.event_attribute_count),
        max_attributes_per_link: count(limits.link_attribute_count),
    }
}

/// Adds a periodic reader that exports with `exporter`, counted as
/// `destination`; returns its counts.
fn counted<E: PushMetricExporter>(
    builder: &mut MeterProviderBuilder,
    exporter: E,
    destination: String,
    executor: &Executor,
    config: &Config,
) -> Arc<dyn Reporter> {
    let (exporter, state) = CountingMetricExporter::new(
        exporter,
        destination,
        executor.clone(),
        config.metric_export_timeout,
    );
    let reader = PeriodicReader::builder(exporter)
        .with_interval(config.metric_export_interval)
        .build();
    *builder = std::mem::take(builder).with_reader(reader);
    state
}

fn sdk_temporality(config: &Config) -> opentelemetry_sdk::metrics::Temporality {
    use opentelemetry_sdk::metrics::Temporality as T;
    match config.temporality {
        Temporality::Cumulative => T::Cumulative,
        Temporality::Delta => T::Delta,
        Temporality::LowMemory => T::LowMemory,
    }
}

/// The console is local and cheap: show spans and logs promptly instead of
/// holding them for the network-oriented schedule delay.
fn console_batch(mut batch: BatchConfig) -> BatchConfig {
    batch.schedule_delay = batch.schedule_delay.min(Duration::from_millis(200));
    batch
}

impl LayerParts {
    /// `init()`'s subscriber: the registry, the filters and semtel's layer.
    /// The filters are global: what they turn off is never recorded at all.
    pub(crate) fn dispatch(&self) -> tracing::Dispatch {
        let subscriber = tracing_subscriber::registry()
            .with(crate::filter::TransportFilter::new(&self.log_filter))
            .with(self.filter())
            .with(SemtelLayer::new(Arc::clone(&self.engine), self.inner()));
        tracing::Dispatch::new(subscriber)
    }

    /// semtel's layer for a subscriber of the user's. The filters are this
    /// layer's own (per-layer filters): they decide what semtel records and
    /// exports, never what the user's other layers see.
    pub(crate) fn layer<S>(&self) -> Box<dyn Layer<S> + Send + Sync>
    where
        S: tracing::Subscriber + for<'a> LookupSpan<'a> + Send + Sync,
    {
        let transport = crate::filter::TransportFilter::new(&self.log_filter);
        let filter = self
            .filter()
            .and(filter_fn(move |meta| !transport.is_off(meta.target())));
        Box::new(SemtelLayer::new(Arc::clone(&self.engine), self.inner()).with_filter(filter))
    }

    /// The user's filter; with the `aws-sdk` feature, plus the AWS SDK's
    /// spans that say something about a call.
    #[cfg(feature = "aws-sdk")]
    fn filter(&self) -> crate::integrations::aws::DefaultFilter {
        crate::integrations::aws::DefaultFilter::new(self.env_filter(), &self.log_filter)
    }

    #[cfg(not(feature = "aws-sdk"))]
    fn filter(&self) -> EnvFilter {
        self.env_filter()
    }

    fn env_filter(&self) -> EnvFilter {
        let filter = EnvFilter::builder()
            .parse(&self.log_filter)
            .unwrap_or_else(|_| EnvFilter::new("info"));
        #[cfg(feature = "sqlx")]
        let filter = crate::integrations::sqlx::enable_query_events(filter, &self.log_filter);
        filter
    }

    /// The span, log and integrations layers semtel's layer wraps.
    fn inner<S>(&self) -> Box<dyn Layer<S> + Send + Sync>
    where
        S: tracing::Subscriber + for<'a> LookupSpan<'a> + Send + Sync,
    {
        // Spans only: `tracing` events reach the collector as log records
        // through the bridge below, not again as span events.
        let spans = self.tracer_provider.as_ref().map(|tp| {
            tracing_opentelemetry::layer()
                .with_tracked_inactivity(false)
                .with_target(false)
                .with_tracer(tracer(tp))
                .with_filter(filter_fn(|meta| meta.is_span()))
        });
        let logs = self.logger_provider.as_ref().map(|lp| {
            let bridge = OpenTelemetryTracingBridge::new(&BridgeProvider(lp.clone()));
            #[cfg(feature = "sqlx")]
            let bridge =
                bridge.with_filter(crate::integrations::sqlx::log_filter(&self.log_filter));
            bridge
        });
        #[cfg(feature = "integrations")]
        let hub = Some(crate::integrations::HubLayer(Arc::new(
            crate::integrations::Hub::new(
                &self.log_filter,
                &self.meter_provider,
                self.logger_provider.as_ref(),
                self.tracer_provider.as_ref(),
            ),
        )));
        #[cfg(not(feature = "integrations"))]
        let hub: Option<tracing_subscriber::layer::Identity> = {
            let _ = &self.meter_provider;
            None
        };
        Box::new(Layer::and_then(spans, logs).and_then(hub))
    }
}

/// The tracer of `tracing` spans; with the `aws-sdk` feature, one that
/// exports the AWS SDK's spans by the conventions.
#[cfg(feature = "aws-sdk")]
fn tracer(tp: &SdkTracerProvider) -> crate::integrations::aws::SdkSpans {
    crate::integrations::aws::SdkSpans(tp.tracer("semtel"))
}

#[cfg(not(feature = "aws-sdk"))]
fn tracer(tp: &SdkTracerProvider) -> opentelemetry_sdk::trace::SdkTracer {
    tp.tracer("semtel")
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
