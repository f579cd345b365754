//! Configuration: the OpenTelemetry SDK environment variables, parsed once into
//! typed settings.
//!
//! semtel reads every variable itself (rather than leaving some to the
//! OpenTelemetry crates) so that a bad value is reported up front, naming the
//! variable, the value and what is accepted, and so that settings made in code
//! through [`Builder`](crate::Builder) always take precedence over the
//! environment.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use crate::error::ConfigError;

/// Where settings are read from: the process environment or, in tests, any
/// function from a variable name to its value.
pub(crate) type EnvSource = Box<dyn Fn(&str) -> Option<String> + Send + Sync>;

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

    fn upper(self) -> &'static str {
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

    fn default_endpoint(self) -> &'static str {
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
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchConfig {
    /// Longest wait before a non-full batch is exported.
    pub schedule_delay: Duration,
    /// Longest time one export may take before it counts as failed.
    pub export_timeout: Duration,
    /// Items held in memory at most; more are dropped and counted.
    pub max_queue_size: usize,
    /// Items sent in one export at most.
    pub max_export_batch_size: usize,
}

impl BatchConfig {
    const SPANS: BatchConfig = BatchConfig {
        schedule_delay: Duration::from_millis(5000),
        export_timeout: Duration::from_millis(30000),
        max_queue_size: 2048,
        max_export_batch_size: 512,
    };
    const LOGS: BatchConfig = BatchConfig {
        schedule_delay: Duration::from_millis(1000),
        export_timeout: Duration::from_millis(30000),
        max_queue_size: 2048,
        max_export_batch_size: 512,
    };
}

/// OTLP settings for one signal, after merging generic and signal-specific
/// variables.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OtlpConfig {
    /// Full URL the exporter sends to (for HTTP, with the `/v1/<signal>` path).
    pub endpoint: String,
    /// Transport and encoding.
    pub protocol: Protocol,
    /// Request headers (gRPC metadata), values percent-decoded.
    pub headers: Vec<(String, String)>,
    /// Timeout of one export request.
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

/// Settings for one signal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignalConfig {
    /// Which exporters receive this signal; empty means the signal is off.
    pub exporters: Vec<ExporterKind>,
    /// OTLP settings, used when `exporters` holds [`ExporterKind::Otlp`].
    pub otlp: OtlpConfig,
}

/// Every setting semtel takes, resolved from code and the environment.
#[derive(Debug, Clone, PartialEq)]
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
    /// `OTEL_METRIC_EXPORT_INTERVAL`.
    pub metric_export_interval: Duration,
    /// `OTEL_METRIC_EXPORT_TIMEOUT`.
    pub metric_export_timeout: Duration,
    /// `OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE`.
    pub temporality: Temporality,
    /// `tracing` filter directives (`RUST_LOG` syntax); default `info`.
    pub log_filter: String,
    /// Whether some signal went to the console only because nothing else was
    /// configured (semtel then says once how to point at a collector).
    pub console_fallback: bool,
}

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
#[derive(Debug, Default, Clone)]
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
    pub log_filter: Option<String>,
}

/// Reads variables, treating empty values as unset (as the specification asks),
/// and collects every error instead of stopping at the first.
struct Reader<'a> {
    env: &'a dyn Fn(&str) -> Option<String>,
    errors: Vec<ConfigError>,
}

impl Reader<'_> {
    fn get(&self, name: &str) -> Option<String> {
        (self.env)(name)
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
    }

    fn fail(&mut self, variable: &str, value: &str, expected: impl Into<String>) {
        self.errors.push(ConfigError {
            variable: variable.to_owned(),
            value: value.to_owned(),
            expected: expected.into(),
        });
    }

    /// A value from a fixed list (case-insensitive).
    fn choice<T: Copy>(&mut self, name: &str, choices: &[(&str, T)]) -> Option<T> {
        let value = self.get(name)?;
        let found = choices
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(&value))
            .map(|(_, v)| *v);
        if found.is_none() {
            let names: Vec<&str> = choices.iter().map(|(k, _)| *k).collect();
            self.fail(name, &value, one_of(&names));
        }
        found
    }

    fn bool(&mut self, name: &str) -> bool {
        self.choice(name, &[("true", true), ("false", false)])
            .unwrap_or(false)
    }

    fn millis(&mut self, name: &str) -> Option<Duration> {
        let value = self.get(name)?;
        match value.parse::<u64>() {
            Ok(ms) => Some(Duration::from_millis(ms)),
            Err(_) => {
                self.fail(name, &value, "a whole number of milliseconds, e.g. 5000");
                None
            }
        }
    }

    fn count(&mut self, name: &str) -> Option<usize> {
        let value = self.get(name)?;
        match value.parse::<usize>() {
            Ok(n) if n > 0 => Some(n),
            _ => {
                self.fail(name, &value, "a whole number greater than 0");
                None
            }
        }
    }

    /// `key=value,key2=value2` with percent-encoded values (headers, resource
    /// attributes).
    fn pairs(&mut self, name: &str) -> Vec<(String, String)> {
        let Some(value) = self.get(name) else {
            return Vec::new();
        };
        match parse_pairs(&value) {
            Ok(pairs) => pairs,
            Err(bad) => {
                self.fail(
                    name,
                    &value,
                    format!(
                        "comma-separated key=value pairs with percent-encoded values \
                         (the item `{bad}` is not one)"
                    ),
                );
                Vec::new()
            }
        }
    }

    fn path(&mut self, name: &str) -> Option<PathBuf> {
        let value = self.get(name)?;
        let path = PathBuf::from(&value);
        if path.is_file() {
            Some(path)
        } else {
            self.fail(name, &value, "the path of a readable PEM file");
            None
        }
    }

    fn batch(&mut self, prefix: &str, defaults: BatchConfig) -> BatchConfig {
        let delay = format!("{prefix}_SCHEDULE_DELAY");
        let timeout = format!("{prefix}_EXPORT_TIMEOUT");
        let queue = format!("{prefix}_MAX_QUEUE_SIZE");
        let batch = format!("{prefix}_MAX_EXPORT_BATCH_SIZE");
        let config = BatchConfig {
            schedule_delay: self.millis(&delay).unwrap_or(defaults.schedule_delay),
            export_timeout: self.millis(&timeout).unwrap_or(defaults.export_timeout),
            max_queue_size: self.count(&queue).unwrap_or(defaults.max_queue_size),
            max_export_batch_size: self.count(&batch).unwrap_or(defaults.max_export_batch_size),
        };
        if config.max_export_batch_size > config.max_queue_size {
            let value = config.max_export_batch_size.to_string();
            self.fail(
                &batch,
                &value,
                format!(
                    "a batch size no larger than {queue} ({})",
                    config.max_queue_size
                ),
            );
        }
        config
    }
}

fn one_of(names: &[&str]) -> String {
    format!("one of {}", names.join(", "))
}

/// Splits `k=v,k2=v2`, percent-decoding keys and values. Returns the offending
/// item on error.
pub(crate) fn parse_pairs(input: &str) -> Result<Vec<(String, String)>, String> {
    let mut out = Vec::new();
    for item in input.split(',') {
        let item = item.trim();
        if item.is_empty() {
            continue;
        }
        let Some((key, value)) = item.split_once('=') else {
            return Err(item.to_owned());
        };
        let key = percent_decode(key.trim()).ok_or_else(|| item.to_owned())?;
        let value = percent_decode(value.trim()).ok_or_else(|| item.to_owned())?;
        if key.is_empty() {
            return Err(item.to_owned());
        }
        out.push((key, value));
    }
    Ok(out)
}

/// Decodes `%XX` escapes (W3C baggage octet encoding, as the specification
/// uses for headers and resource attributes). `None` on a malformed escape or
/// invalid UTF-8.
pub(crate) fn percent_decode(input: &str) -> Option<String> {
    let bytes = input.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = input.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

const PROTOCOLS: &[(&str, Protocol)] = &[
    ("grpc", Protocol::Grpc),
    ("http/protobuf", Protocol::HttpProtobuf),
    ("http/json", Protocol::HttpJson),
];

const COMPRESSIONS: &[(&str, Compression)] =
    &[("gzip", Compression::Gzip), ("none", Compression::None)];

fn read_otlp(r: &mut Reader<'_>, o: &Overrides, signal: Signal) -> (OtlpConfig, bool) {
    let sig = signal.upper();
    let var = |suffix: &str| format!("OTEL_EXPORTER_OTLP_{sig}_{suffix}");
    let generic = |suffix: &str| format!("OTEL_EXPORTER_OTLP_{suffix}");

    // Signal-specific variable first, then the generic one; each is validated.
    let specific_protocol = r.choice(&var("PROTOCOL"), PROTOCOLS);
    let generic_protocol = r.choice(&generic("PROTOCOL"), PROTOCOLS);
    let protocol = o
        .protocol
        .or(specific_protocol)
        .or(generic_protocol)
        .unwrap_or(Protocol::HttpProtobuf);

    let specific_endpoint = r.get(&var("ENDPOINT"));
    let generic_endpoint = r.get(&generic("ENDPOINT"));
    let configured =
        o.endpoint.is_some() || specific_endpoint.is_some() || generic_endpoint.is_some();
    let endpoint = if let Some(base) = &o.endpoint {
        signal_url(base, protocol, signal)
    } else if let Some(url) = specific_endpoint {
        // Used as given: the specification says a signal-specific endpoint is
        // the full URL.
        check_url(r, &var("ENDPOINT"), &url);
        url
    } else if let Some(base) = generic_endpoint {
        check_url(r, &generic("ENDPOINT"), &base);
        signal_url(&base, protocol, signal)
    } else {
        signal_url(protocol.default_endpoint(), protocol, signal)
    };

    let mut headers = r.pairs(&generic("HEADERS"));
    for (k, v) in r
        .pairs(&var("HEADERS"))
        .into_iter()
        .chain(o.headers.iter().cloned())
    {
        headers.retain(|(key, _)| !key.eq_ignore_ascii_case(&k));
        headers.push((k, v));
    }

    let specific_timeout = r.millis(&var("TIMEOUT"));
    let generic_timeout = r.millis(&generic("TIMEOUT"));
    let timeout = o
        .timeout
        .or(specific_timeout)
        .or(generic_timeout)
        .unwrap_or(Duration::from_secs(10));

    let specific_compression = r.choice(&var("COMPRESSION"), COMPRESSIONS);
    let generic_compression = r.choice(&generic("COMPRESSION"), COMPRESSIONS);
    let compression = o
        .compression
        .or(specific_compression)
        .or(generic_compression)
        .unwrap_or(Compression::None);

    let mut tls = |suffix: &str| {
        let specific = r.path(&var(suffix));
        let generic = r.path(&generic(suffix));
        specific.or(generic)
    };
    let certificate = tls("CERTIFICATE");
    let client_key = tls("CLIENT_KEY");
    let client_certificate = tls("CLIENT_CERTIFICATE");
    if client_key.is_some() != client_certificate.is_some() {
        let (set, missing) = if client_key.is_some() {
            ("CLIENT_KEY", "CLIENT_CERTIFICATE")
        } else {
            ("CLIENT_CERTIFICATE", "CLIENT_KEY")
        };
        r.fail(
            &generic(set),
            "(set)",
            format!(
                "{} to be set as well: mutual TLS needs both",
                generic(missing)
            ),
        );
    }

    let config = OtlpConfig {
        endpoint,
        protocol,
        headers,
        timeout,
        compression,
        certificate,
        client_key,
        client_certificate,
    };
    (config, configured)
}

/// The URL an exporter posts to: for HTTP the base plus `/v1/<signal>`, for
/// gRPC the base as is.
fn signal_url(base: &str, protocol: Protocol, signal: Signal) -> String {
    match protocol {
        Protocol::Grpc => base.to_owned(),
        Protocol::HttpProtobuf | Protocol::HttpJson => {
            format!("{}{}", base.trim_end_matches('/'), signal.http_path())
        }
    }
}

fn check_url(r: &mut Reader<'_>, name: &str, url: &str) {
    let ok = (url.starts_with("http://") || url.starts_with("https://"))
        && url.parse::<http::Uri>().is_ok_and(|u| u.host().is_some());
    if !ok {
        r.fail(
            name,
            url,
            "an http:// or https:// URL, e.g. http://localhost:4318",
        );
    }
}

fn read_exporters(r: &mut Reader<'_>, signal: Signal) -> Option<Vec<ExporterKind>> {
    let name = format!("OTEL_{}_EXPORTER", signal.upper());
    let value = r.get(&name)?;
    let mut kinds = Vec::new();
    for item in value.split(',').map(str::trim) {
        match item.to_ascii_lowercase().as_str() {
            "otlp" => kinds.push(ExporterKind::Otlp),
            "console" => kinds.push(ExporterKind::Console),
            "none" => {}
            _ => {
                r.fail(&name, &value, one_of(&["otlp", "console", "none"]));
                return None;
            }
        }
    }
    kinds.dedup();
    Some(kinds)
}

fn read_sampler(r: &mut Reader<'_>) -> SamplerConfig {
    const NAMES: &[&str] = &[
        "always_on",
        "always_off",
        "traceidratio",
        "parentbased_always_on",
        "parentbased_always_off",
        "parentbased_traceidratio",
    ];
    let name = r.get("OTEL_TRACES_SAMPLER");
    let arg = r.get("OTEL_TRACES_SAMPLER_ARG");
    let ratio = match arg {
        None => 1.0,
        Some(arg) => match arg.parse::<f64>() {
            Ok(v) if (0.0..=1.0).contains(&v) => v,
            _ => {
                r.fail(
                    "OTEL_TRACES_SAMPLER_ARG",
                    &arg,
                    "a sampling probability from 0.0 to 1.0",
                );
                1.0
            }
        },
    };
    let Some(name) = name else {
        return SamplerConfig::ParentBased(ParentBasedRoot::AlwaysOn);
    };
    match name.to_ascii_lowercase().as_str() {
        "always_on" => SamplerConfig::AlwaysOn,
        "always_off" => SamplerConfig::AlwaysOff,
        "traceidratio" => SamplerConfig::TraceIdRatio(ratio),
        "parentbased_always_on" => SamplerConfig::ParentBased(ParentBasedRoot::AlwaysOn),
        "parentbased_always_off" => SamplerConfig::ParentBased(ParentBasedRoot::AlwaysOff),
        "parentbased_traceidratio" => {
            SamplerConfig::ParentBased(ParentBasedRoot::TraceIdRatio(ratio))
        }
        _ => {
            r.fail("OTEL_TRACES_SAMPLER", &name, one_of(NAMES));
            SamplerConfig::ParentBased(ParentBasedRoot::AlwaysOn)
        }
    }
}

fn read_propagators(r: &mut Reader<'_>) -> Vec<Propagator> {
    let Some(value) = r.get("OTEL_PROPAGATORS") else {
        return vec![Propagator::TraceContext, Propagator::Baggage];
    };
    let mut out = Vec::new();
    for item in value.split(',').map(str::trim) {
        match item.to_ascii_lowercase().as_str() {
            "tracecontext" => out.push(Propagator::TraceContext),
            "baggage" => out.push(Propagator::Baggage),
            "none" => {}
            _ => {
                r.fail(
                    "OTEL_PROPAGATORS",
                    &value,
                    one_of(&["tracecontext", "baggage", "none"]),
                );
                return vec![Propagator::TraceContext, Propagator::Baggage];
            }
        }
    }
    out.dedup();
    out
}

/// The executable's file name, for `unknown_service:<name>`.
pub(crate) fn executable_name() -> Option<String> {
    std::env::current_exe()
        .ok()?
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
}

/// Resolves every setting from the overrides and the environment. All bad
/// values are reported together.
pub(crate) fn resolve(
    env: &dyn Fn(&str) -> Option<String>,
    o: &Overrides,
) -> Result<Config, Vec<ConfigError>> {
    let mut r = Reader {
        env,
        errors: Vec::new(),
    };
    let disabled = r.bool("OTEL_SDK_DISABLED");

    let mut resource_attributes = r.pairs("OTEL_RESOURCE_ATTRIBUTES");
    for (k, v) in &o.resource_attributes {
        resource_attributes.retain(|(key, _)| key != k);
        resource_attributes.push((k.clone(), v.clone()));
    }
    let from_attrs = |key: &str| {
        resource_attributes
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.clone())
    };
    let service_name = o
        .service_name
        .clone()
        .or_else(|| r.get("OTEL_SERVICE_NAME"))
        .or_else(|| from_attrs("service.name"))
        .unwrap_or_else(|| {
            format!(
                "unknown_service:{}",
                executable_name().unwrap_or_else(|| "rust".into())
            )
        });
    let service_version = o
        .service_version
        .clone()
        .or_else(|| from_attrs("service.version"));
    resource_attributes.retain(|(k, _)| k != "service.name" && k != "service.version");

    let mut console_fallback = false;
    let mut signals = Vec::with_capacity(3);
    for (i, signal) in Signal::ALL.into_iter().enumerate() {
        let (otlp, endpoint_configured) = read_otlp(&mut r, o, signal);
        let from_env = read_exporters(&mut r, signal);
        let exporters = o.exporters[i].clone().or(from_env).unwrap_or_else(|| {
            if endpoint_configured {
                vec![ExporterKind::Otlp]
            } else {
                console_fallback = true;
                vec![ExporterKind::Console]
            }
        });
        signals.push(SignalConfig { exporters, otlp });
    }
    let [traces, metrics, logs]: [SignalConfig; 3] = signals
        .try_into()
        .unwrap_or_else(|_| unreachable!("one entry per signal was pushed above"));

    let sampler = read_sampler(&mut r);
    let propagators = read_propagators(&mut r);
    let span_batch = r.batch("OTEL_BSP", BatchConfig::SPANS);
    let log_batch = r.batch("OTEL_BLRP", BatchConfig::LOGS);
    let metric_export_interval = r
        .millis("OTEL_METRIC_EXPORT_INTERVAL")
        .unwrap_or(Duration::from_secs(60));
    let metric_export_timeout = r
        .millis("OTEL_METRIC_EXPORT_TIMEOUT")
        .unwrap_or(Duration::from_secs(30));
    let temporality = r.choice(
        "OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE",
        &[
            ("cumulative", Temporality::Cumulative),
            ("delta", Temporality::Delta),
            ("lowmemory", Temporality::LowMemory),
        ],
    );
    let log_filter = o
        .log_filter
        .clone()
        .or_else(|| r.get("RUST_LOG"))
        .unwrap_or_else(|| "info".to_owned());
    if let Err(e) = tracing_subscriber::EnvFilter::builder().parse(&log_filter) {
        r.fail("RUST_LOG", &log_filter, format!("filter directives ({e})"));
    }

    if !r.errors.is_empty() {
        // Generic variables are read once per signal: report each once.
        let mut seen = Vec::new();
        r.errors.retain(|e| {
            let key = (e.variable.clone(), e.value.clone());
            let new = !seen.contains(&key);
            seen.push(key);
            new
        });
        return Err(r.errors);
    }
    Ok(Config {
        disabled,
        service_name,
        service_version,
        resource_attributes,
        traces,
        metrics,
        logs,
        sampler: o.sampler.unwrap_or(sampler),
        propagators,
        span_batch: o.span_batch.unwrap_or(span_batch),
        log_batch: o.log_batch.unwrap_or(log_batch),
        metric_export_interval: o.metric_export_interval.unwrap_or(metric_export_interval),
        metric_export_timeout,
        temporality: o
            .temporality
            .or(temporality)
            .unwrap_or(Temporality::Cumulative),
        log_filter,
        console_fallback,
    })
}

#[cfg(test)]
mod tests;
