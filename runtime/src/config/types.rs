//! The public settings types and what code sets on the [`Builder`](crate::Builder).

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use super::redact;

/// Where settings are read from: the process environment or, in tests, any
/// function from a variable name to its value.
pub(crate) type EnvSource = Box<dyn Fn(&str) -> Option<String> + Send + Sync>;

/// A variable as the environment holds it: `Err` with its text converted
/// lossily when it is not valid UTF-8 (an error, not unset).
pub(crate) type Lookup<'a> = &'a dyn Fn(&str) -> Option<Result<String, String>>;

/// The longest duration accepted, in milliseconds: 2³¹ − 1 (24.8 days), the
/// range the specification asks SDKs to support.
pub(crate) const MAX_MILLIS: u64 = i32::MAX as u64;

/// "No limit", as a timeout of zero reads (the specification's meaning,
/// with its suggested substitute): the longest duration accepted.
pub(crate) const NO_LIMIT: Duration = Duration::from_millis(MAX_MILLIS);

/// The largest queue and batch size accepted: a thread's span ring holds a
/// queue's worth of 64-byte records, 64 MiB at this size.
pub(crate) const MAX_QUEUE_SIZE: usize = 1 << 20;

/// A variable (or the setting made in code for it) whose value semtel cannot use.
///
/// Its `Debug` is its `Display`: what a `main` returning the error prints.
#[derive(Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// The variable, e.g. `OTEL_EXPORTER_OTLP_PROTOCOL`, or the
    /// [`Builder`](crate::Builder) method, e.g. `Builder::span_batch`.
    pub variable: String,
    /// The value found. Secrets are left out: for headers, only their
    /// names are kept (`Authorization=[redacted]`), and a URL's user
    /// information is replaced by `[redacted]`.
    pub value: String,
    /// What would have been accepted.
    pub expected: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}={:?} is not valid: expected {}",
            self.variable, self.value, self.expected
        )
    }
}

impl fmt::Debug for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl std::error::Error for ConfigError {}

/// The three OpenTelemetry signals.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Signal {
    /// Spans.
    Traces,
    /// Counters, histograms, gauges.
    Metrics,
    /// Log records (from `tracing` events).
    Logs,
}

impl Signal {
    /// All signals, in a fixed order.
    pub const ALL: [Signal; 3] = [Signal::Traces, Signal::Metrics, Signal::Logs];

    /// The lower-case name used in variable names and reports (`traces`).
    pub fn as_str(self) -> &'static str {
        match self {
            Signal::Traces => "traces",
            Signal::Metrics => "metrics",
            Signal::Logs => "logs",
        }
    }

    pub(crate) fn upper(self) -> &'static str {
        match self {
            Signal::Traces => "TRACES",
            Signal::Metrics => "METRICS",
            Signal::Logs => "LOGS",
        }
    }

    /// The path an OTLP/HTTP endpoint gets for this signal (`/v1/traces`).
    pub fn http_path(self) -> &'static str {
        match self {
            Signal::Traces => "/v1/traces",
            Signal::Metrics => "/v1/metrics",
            Signal::Logs => "/v1/logs",
        }
    }
}

impl fmt::Display for Signal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The OTLP transport and encoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// OTLP over gRPC (default port 4317).
    Grpc,
    /// OTLP over HTTP with protobuf bodies (default port 4318). The default.
    HttpProtobuf,
    /// OTLP over HTTP with JSON bodies (default port 4318).
    HttpJson,
}

impl Protocol {
    /// The value as written in `OTEL_EXPORTER_OTLP_PROTOCOL`.
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Grpc => "grpc",
            Protocol::HttpProtobuf => "http/protobuf",
            Protocol::HttpJson => "http/json",
        }
    }

    pub(crate) fn default_endpoint(self) -> &'static str {
        match self {
            Protocol::Grpc => "http://localhost:4317",
            Protocol::HttpProtobuf | Protocol::HttpJson => "http://localhost:4318",
        }
    }
}

/// Where one signal's telemetry goes (`OTEL_{TRACES,METRICS,LOGS}_EXPORTER`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExporterKind {
    /// OTLP to a collector.
    Otlp,
    /// Rendered for a person on standard error.
    Console,
    /// Metrics only: served for Prometheus to scrape
    /// (`OTEL_EXPORTER_PROMETHEUS_HOST`, `OTEL_EXPORTER_PROMETHEUS_PORT`).
    Prometheus,
}

/// Which measurements of the stage metrics may become exemplars
/// (`OTEL_METRICS_EXEMPLAR_FILTER`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ExemplarFilter {
    /// Those of calls whose span is sampled (the default).
    #[default]
    TraceBased,
    /// Every measurement.
    AlwaysOn,
    /// None.
    AlwaysOff,
}

/// Where the Prometheus endpoint listens (`OTEL_EXPORTER_PROMETHEUS_HOST`,
/// `OTEL_EXPORTER_PROMETHEUS_PORT`), when `OTEL_METRICS_EXPORTER` lists
/// `prometheus`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct PrometheusConfig {
    /// Host name or address to listen on; `localhost` by default.
    pub host: String,
    /// Port; 9464 by default (0: any free port).
    pub port: u16,
}

impl Default for PrometheusConfig {
    fn default() -> Self {
        Self {
            host: "localhost".into(),
            port: 9464,
        }
    }
}

/// Payload compression for OTLP.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    /// No compression (the default).
    None,
    /// gzip.
    Gzip,
}

/// Aggregation temporality preferred for exported metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Temporality {
    /// Cumulative for every instrument (the default; Prometheus and Mimir need it).
    Cumulative,
    /// Delta for counters and histograms.
    Delta,
    /// Delta for synchronous counters and histograms, cumulative otherwise.
    LowMemory,
}

/// The sampler chosen by `OTEL_TRACES_SAMPLER` and `OTEL_TRACES_SAMPLER_ARG`.
///
/// ```
/// use semtel::{ParentBasedRoot, SamplerConfig};
///
/// assert_eq!(
///     SamplerConfig::default(),
///     SamplerConfig::ParentBased(ParentBasedRoot::AlwaysOn)
/// );
/// let tenth = semtel::builder().sampler(SamplerConfig::TraceIdRatio(0.1));
/// # let _ = tenth;
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum SamplerConfig {
    /// Record every span.
    AlwaysOn,
    /// Record no span.
    AlwaysOff,
    /// Record the given fraction of traces, by trace id.
    TraceIdRatio(f64),
    /// Follow the parent's decision; for root spans use the inner sampler.
    ParentBased(ParentBasedRoot),
}

impl Default for SamplerConfig {
    /// `parentbased_always_on`, the specification's default.
    fn default() -> Self {
        SamplerConfig::ParentBased(ParentBasedRoot::AlwaysOn)
    }
}

/// The root sampler of a parent-based sampler.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ParentBasedRoot {
    /// Sample every root.
    AlwaysOn,
    /// Sample no root.
    AlwaysOff,
    /// Sample the given fraction of roots.
    TraceIdRatio(f64),
}

/// A context propagator (`OTEL_PROPAGATORS`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Propagator {
    /// W3C `traceparent` / `tracestate`.
    TraceContext,
    /// W3C `baggage`.
    Baggage,
}

/// Settings of a batching processor (`OTEL_BSP_*`, `OTEL_BLRP_*`).
///
/// ```
/// use std::time::Duration;
///
/// let spans = semtel::BatchConfig::default() // the `OTEL_BSP_*` defaults
///     .with_max_queue_size(8192)
///     .with_schedule_delay(Duration::from_secs(1));
/// let logs = semtel::BatchConfig::logs().with_max_export_batch_size(256);
/// let builder = semtel::builder().span_batch(spans).log_batch(logs);
/// # let _ = builder;
/// ```
///
/// Set in code, the values are checked as the variables are: durations up
/// to 2³¹ − 1 ms (a zero delay exports each item as it is queued, a zero
/// timeout means no limit), sizes from 1 to 1,048,576, the batch no larger
/// than the queue.
///
/// ```
/// use std::time::Duration;
///
/// let at_once = semtel::BatchConfig::default().with_schedule_delay(Duration::ZERO);
/// let config = semtel::builder().env(|_| None).span_batch(at_once).config().unwrap();
/// assert_eq!(config.span_batch.schedule_delay, Duration::ZERO);
///
/// let huge = semtel::BatchConfig::default().with_max_queue_size(usize::MAX);
/// let error = semtel::builder().env(|_| None).span_batch(huge).config().unwrap_err();
/// assert!(error.to_string().contains("from 1 to 1048576"), "{error}");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct BatchConfig {
    /// Longest wait before a non-full batch is exported; zero exports
    /// what is queued at once.
    pub schedule_delay: Duration,
    /// Longest time one export may take before it counts as failed (zero:
    /// no limit, read as 2³¹ − 1 ms).
    pub export_timeout: Duration,
    /// Items held in memory at most; more are dropped and counted.
    pub max_queue_size: usize,
    /// Items sent in one export at most.
    pub max_export_batch_size: usize,
}

impl BatchConfig {
    pub(crate) const SPANS: BatchConfig = BatchConfig {
        schedule_delay: Duration::from_millis(5000),
        export_timeout: Duration::from_millis(30000),
        max_queue_size: 2048,
        max_export_batch_size: 512,
    };
    pub(crate) const LOGS: BatchConfig = BatchConfig {
        schedule_delay: Duration::from_millis(1000),
        export_timeout: Duration::from_millis(30000),
        max_queue_size: 2048,
        max_export_batch_size: 512,
    };

    /// The log defaults (`OTEL_BLRP_*`): as [`BatchConfig::default`], with
    /// a 1 s schedule delay.
    pub fn logs() -> Self {
        Self::LOGS
    }

    /// With `delay` as the longest wait before a non-full batch is exported.
    #[must_use]
    pub fn with_schedule_delay(mut self, delay: Duration) -> Self {
        self.schedule_delay = delay;
        self
    }

    /// With `timeout` as the longest time one export may take.
    #[must_use]
    pub fn with_export_timeout(mut self, timeout: Duration) -> Self {
        self.export_timeout = timeout;
        self
    }

    /// With `size` items held in memory at most.
    #[must_use]
    pub fn with_max_queue_size(mut self, size: usize) -> Self {
        self.max_queue_size = size;
        self
    }

    /// With `size` items sent in one export at most.
    #[must_use]
    pub fn with_max_export_batch_size(mut self, size: usize) -> Self {
        self.max_export_batch_size = size;
        self
    }
}

impl Default for BatchConfig {
    /// The span defaults (`OTEL_BSP_*`): a 5 s schedule delay, a 30 s
    /// export timeout, 2048 items queued, batches of 512.
    fn default() -> Self {
        Self::SPANS
    }
}

/// OTLP settings for one signal, after merging generic and signal-specific
/// variables.
///
/// Its `Debug` names the headers but never shows their values.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct OtlpConfig {
    /// Full URL the exporter sends to (for HTTP, with the `/v1/<signal>`
    /// path), without user information: credentials given in the URL
    /// (`https://user:password@host`) are sent as an `Authorization: Basic`
    /// header instead, unless `headers` has an `Authorization` already.
    pub endpoint: String,
    /// Transport and encoding.
    pub protocol: Protocol,
    /// Request headers (gRPC metadata), values percent-decoded.
    pub headers: Vec<(String, String)>,
    /// Timeout of one export request (zero in the variable: no limit, read
    /// as 2³¹ − 1 ms).
    pub timeout: Duration,
    /// Payload compression.
    pub compression: Compression,
    /// PEM file of the certificate authority that signs the collector's certificate.
    pub certificate: Option<PathBuf>,
    /// PEM file of the client's private key (mutual TLS).
    pub client_key: Option<PathBuf>,
    /// PEM file of the client's certificate chain (mutual TLS).
    pub client_certificate: Option<PathBuf>,
}

impl fmt::Debug for OtlpConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Every field named: a new one does not compile until it is shown
        // here, redacted if it must be.
        let OtlpConfig {
            endpoint,
            protocol,
            headers,
            timeout,
            compression,
            certificate,
            client_key,
            client_certificate,
        } = self;
        f.debug_struct("OtlpConfig")
            .field("endpoint", &redact::Url(endpoint))
            .field("protocol", protocol)
            .field("headers", &redact::Headers(headers))
            .field("timeout", timeout)
            .field("compression", compression)
            .field("certificate", certificate)
            .field("client_key", client_key)
            .field("client_certificate", client_certificate)
            .finish()
    }
}

/// Settings for one signal.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SignalConfig {
    /// Which exporters receive this signal; empty means the signal is off.
    pub exporters: Vec<ExporterKind>,
    /// OTLP settings, used when `exporters` holds [`ExporterKind::Otlp`].
    pub otlp: OtlpConfig,
}

/// Every setting semtel takes, resolved from code and the environment.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Config {
    /// `OTEL_SDK_DISABLED=true`: no telemetry at all.
    pub disabled: bool,
    /// `service.name` (code, then `OTEL_SERVICE_NAME`, then `service.name` in
    /// `OTEL_RESOURCE_ATTRIBUTES`, then `unknown_service:<executable>`).
    pub service_name: String,
    /// `service.version`, when known.
    pub service_version: Option<String>,
    /// Extra resource attributes (`OTEL_RESOURCE_ATTRIBUTES` and code).
    pub resource_attributes: Vec<(String, String)>,
    /// Traces.
    pub traces: SignalConfig,
    /// Metrics.
    pub metrics: SignalConfig,
    /// Logs.
    pub logs: SignalConfig,
    /// `OTEL_TRACES_SAMPLER` (+ `_ARG`).
    pub sampler: SamplerConfig,
    /// `OTEL_PROPAGATORS`.
    pub propagators: Vec<Propagator>,
    /// `OTEL_BSP_*`.
    pub span_batch: BatchConfig,
    /// `OTEL_BLRP_*`.
    pub log_batch: BatchConfig,
    /// `OTEL_METRIC_EXPORT_INTERVAL` (never zero).
    pub metric_export_interval: Duration,
    /// `OTEL_METRIC_EXPORT_TIMEOUT` (zero in the variable: no limit, read
    /// as 2³¹ − 1 ms).
    pub metric_export_timeout: Duration,
    /// `OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE`.
    pub temporality: Temporality,
    /// `OTEL_SPAN_*_LIMIT` and `OTEL_ATTRIBUTE_*_LIMIT`.
    pub span_limits: SpanLimits,
    /// `OTEL_METRICS_EXEMPLAR_FILTER`.
    pub exemplar_filter: ExemplarFilter,
    /// `OTEL_EXPORTER_PROMETHEUS_HOST` and `_PORT`.
    pub prometheus: PrometheusConfig,
    /// `tracing` filter directives (`RUST_LOG` syntax); default `info`.
    pub log_filter: String,
    /// `SEMTEL_BAGGAGE_ATTRIBUTES`: the baggage keys copied onto spans and
    /// log records as attributes (none by default: baggage may carry
    /// secrets).
    pub baggage_attributes: Vec<String>,
    /// Whether some signal went to the console only because nothing else was
    /// configured (semtel then says once how to point at a collector).
    pub console_fallback: bool,
}

/// The specification's span limits: what a span may carry at most. What
/// they drop is counted in the shutdown report
/// ([`SignalReport::limited`](crate::SignalReport::limited)) and in each
/// span's `dropped_*_count` fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SpanLimits {
    /// Longest string attribute value (each string of an array too), in
    /// characters; longer ones are cut on a character boundary. `None`: no
    /// limit (the default). `OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT`, else
    /// `OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT`.
    pub attribute_value_length: Option<usize>,
    /// Attributes per span (default 128); a stage's own attributes
    /// (`pipeline.*` and literal fields) are always kept and count first.
    /// `OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT`, else `OTEL_ATTRIBUTE_COUNT_LIMIT`.
    pub attribute_count: usize,
    /// Events per span (default 128), `OTEL_SPAN_EVENT_COUNT_LIMIT`.
    pub event_count: usize,
    /// Links per span (default 128), `OTEL_SPAN_LINK_COUNT_LIMIT`.
    pub link_count: usize,
    /// Attributes per span event (default 128), `OTEL_EVENT_ATTRIBUTE_COUNT_LIMIT`,
    /// else `OTEL_ATTRIBUTE_COUNT_LIMIT`; an event's `dropped_attributes_count`
    /// says how many it lost.
    pub event_attribute_count: usize,
    /// Attributes per span link (default 128), `OTEL_LINK_ATTRIBUTE_COUNT_LIMIT`,
    /// else `OTEL_ATTRIBUTE_COUNT_LIMIT`; a link's `dropped_attributes_count`
    /// says how many it lost.
    pub link_attribute_count: usize,
}

impl SpanLimits {
    /// The specification's defaults.
    pub const DEFAULT: Self = Self {
        attribute_value_length: None,
        attribute_count: 128,
        event_count: 128,
        link_count: 128,
        event_attribute_count: 128,
        link_attribute_count: 128,
    };
}

impl Default for SpanLimits {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// The largest count limit accepted.
pub(crate) const MAX_COUNT_LIMIT: usize = 1 << 16;
/// The largest value length limit accepted, in characters.
pub(crate) const MAX_LENGTH_LIMIT: usize = i32::MAX as usize;

impl Config {
    /// The signal's settings.
    pub fn signal(&self, signal: Signal) -> &SignalConfig {
        match signal {
            Signal::Traces => &self.traces,
            Signal::Metrics => &self.metrics,
            Signal::Logs => &self.logs,
        }
    }

    /// Whether any signal renders to the console.
    pub fn uses_console(&self) -> bool {
        Signal::ALL
            .iter()
            .any(|s| self.signal(*s).exporters.contains(&ExporterKind::Console))
    }
}

/// Settings made in code; each one, when set, wins over the environment.
/// Its `Debug` shows no header value and no URL credentials.
#[derive(Default, Clone)]
pub(crate) struct Overrides {
    pub service_name: Option<String>,
    pub service_version: Option<String>,
    pub resource_attributes: Vec<(String, String)>,
    pub endpoint: Option<String>,
    pub protocol: Option<Protocol>,
    pub headers: Vec<(String, String)>,
    pub timeout: Option<Duration>,
    pub compression: Option<Compression>,
    pub exporters: [Option<Vec<ExporterKind>>; 3],
    pub sampler: Option<SamplerConfig>,
    pub span_batch: Option<BatchConfig>,
    pub log_batch: Option<BatchConfig>,
    pub metric_export_interval: Option<Duration>,
    pub temporality: Option<Temporality>,
    pub exemplar_filter: Option<ExemplarFilter>,
    pub prometheus: Option<PrometheusConfig>,
    pub log_filter: Option<String>,
    pub shutdown_timeout: Option<Duration>,
    pub baggage_attributes: Option<Vec<String>>,
}

impl fmt::Debug for Overrides {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Every field named: a new one does not compile until it is shown
        // here, redacted if it must be.
        let Overrides {
            service_name,
            service_version,
            resource_attributes,
            endpoint,
            protocol,
            headers,
            timeout,
            compression,
            exporters,
            sampler,
            span_batch,
            log_batch,
            metric_export_interval,
            temporality,
            exemplar_filter,
            prometheus,
            log_filter,
            shutdown_timeout,
            baggage_attributes,
        } = self;
        f.debug_struct("Overrides")
            .field("service_name", service_name)
            .field("service_version", service_version)
            .field("resource_attributes", resource_attributes)
            .field("endpoint", &endpoint.as_deref().map(redact::Url))
            .field("protocol", protocol)
            .field("headers", &redact::Headers(headers))
            .field("timeout", timeout)
            .field("compression", compression)
            .field("exporters", exporters)
            .field("sampler", sampler)
            .field("span_batch", span_batch)
            .field("log_batch", log_batch)
            .field("metric_export_interval", metric_export_interval)
            .field("temporality", temporality)
            .field("exemplar_filter", exemplar_filter)
            .field("prometheus", prometheus)
            .field("log_filter", log_filter)
            .field("shutdown_timeout", shutdown_timeout)
            .field("baggage_attributes", baggage_attributes)
            .finish()
    }
}
