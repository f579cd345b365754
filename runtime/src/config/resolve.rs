//! Resolves every setting from code and the environment, in the order the
//! specification gives (signal-specific variable, then generic, then default),
//! reporting all bad values together.

use std::time::Duration;

use base64::Engine as _;

use super::reader::{Reader, Zero, header_problem, one_of, percent_decode};
use super::redact;
use super::types::{
    BatchConfig, Compression, Config, ConfigError, ExemplarFilter, ExporterKind, Lookup,
    OtlpConfig, Overrides, ParentBasedRoot, PrometheusConfig, Propagator, Protocol, SamplerConfig,
    Signal, SignalConfig, Temporality,
};

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

    // The scheme for a gRPC endpoint given as host:port.
    let specific_insecure = r.bool(&var("INSECURE"));
    let generic_insecure = r.bool(&generic("INSECURE"));
    let insecure = specific_insecure.or(generic_insecure).unwrap_or(false);

    let specific_endpoint = r.get(&var("ENDPOINT"));
    let generic_endpoint = r.get(&generic("ENDPOINT"));
    let configured =
        o.endpoint.is_some() || specific_endpoint.is_some() || generic_endpoint.is_some();
    let (source, endpoint) = if let Some(base) = &o.endpoint {
        let base = with_scheme(base, protocol, insecure);
        check_url(r, "Builder::endpoint", &base, protocol);
        (
            "Builder::endpoint".to_owned(),
            signal_url(&base, protocol, signal),
        )
    } else if let Some(url) = specific_endpoint {
        // Used as given: the specification says a signal-specific endpoint is
        // the full URL.
        let url = with_scheme(&url, protocol, insecure);
        check_url(r, &var("ENDPOINT"), &url, protocol);
        (var("ENDPOINT"), url)
    } else if let Some(base) = generic_endpoint {
        let base = with_scheme(&base, protocol, insecure);
        check_url(r, &generic("ENDPOINT"), &base, protocol);
        (generic("ENDPOINT"), signal_url(&base, protocol, signal))
    } else {
        let url = signal_url(protocol.default_endpoint(), protocol, signal);
        (String::new(), url)
    };

    let mut headers = r.headers(&generic("HEADERS"));
    let code_headers: Vec<(String, String)> = o
        .headers
        .iter()
        .filter(|(k, v)| match header_problem(k, v) {
            None => true,
            Some(problem) => {
                r.fail(
                    "Builder::header",
                    &format!("{k}={v}"),
                    format!("an HTTP header ({problem})"),
                );
                false
            }
        })
        .cloned()
        .collect();
    for (k, v) in r.headers(&var("HEADERS")).into_iter().chain(code_headers) {
        headers.retain(|(key, _)| !key.eq_ignore_ascii_case(&k));
        headers.push((k, v));
    }
    // Credentials in the URL go as a header: no URL semtel shows or sends
    // carries them.
    let endpoint = match take_userinfo(&endpoint) {
        None => endpoint,
        Some(Ok((url, basic))) => {
            let set = headers
                .iter()
                .any(|(k, _)| k.eq_ignore_ascii_case("authorization"));
            if let Some(basic) = basic.filter(|_| !set) {
                headers.push(("authorization".to_owned(), basic));
            }
            url
        }
        Some(Err(())) => {
            r.fail(
                &source,
                &endpoint,
                "user information (before `@`) with valid percent-encoding",
            );
            endpoint
        }
    };

    let specific_timeout = r.millis(&var("TIMEOUT"), Zero::NoLimit);
    let generic_timeout = r.millis(&generic("TIMEOUT"), Zero::NoLimit);
    let code_timeout = o
        .timeout
        .and_then(|t| r.code_duration("Builder::timeout", t, Zero::NoLimit));
    let timeout = code_timeout
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

/// A gRPC endpoint given as `host:port` gets the scheme `insecure` says
/// (the specification's `OTEL_EXPORTER_OTLP_INSECURE`); a scheme given
/// wins over it. HTTP endpoints are URLs as given.
fn with_scheme(url: &str, protocol: Protocol, insecure: bool) -> String {
    if protocol != Protocol::Grpc || url.contains("://") {
        return url.to_owned();
    }
    let scheme = if insecure { "http" } else { "https" };
    format!("{scheme}://{url}")
}

fn check_url(r: &mut Reader<'_>, name: &str, url: &str, protocol: Protocol) {
    let ok = (url.starts_with("http://") || url.starts_with("https://"))
        && url.parse::<http::Uri>().is_ok_and(|u| u.host().is_some());
    if !ok {
        let expected = match protocol {
            Protocol::Grpc => {
                "an http:// or https:// URL, or host:port, e.g. http://localhost:4317"
            }
            Protocol::HttpProtobuf | Protocol::HttpJson => {
                "an http:// or https:// URL, e.g. http://localhost:4318"
            }
        };
        r.fail(name, url, expected);
    }
}

/// Splits the user information off `url`: the URL without it and the
/// `Authorization: Basic` value it stands for (none for an empty one);
/// `None` when there is none, `Err` when it is not validly percent-encoded.
fn take_userinfo(url: &str) -> Option<Result<(String, Option<String>), ()>> {
    let (start, end) = redact::userinfo(url)?;
    let info = &url[start..end];
    let bare = format!("{}{}", &url[..start], &url[end + 1..]);
    if info.is_empty() {
        return Some(Ok((bare, None)));
    }
    let (user, password) = info.split_once(':').unwrap_or((info, ""));
    let (Some(user), Some(password)) = (percent_decode(user), percent_decode(password)) else {
        return Some(Err(()));
    };
    let token = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    Some(Ok((bare, Some(format!("Basic {token}")))))
}

fn read_exporters(r: &mut Reader<'_>, signal: Signal) -> Option<Vec<ExporterKind>> {
    let name = format!("OTEL_{}_EXPORTER", signal.upper());
    let value = r.get(&name)?;
    let mut kinds = Vec::new();
    for item in value.split(',').map(str::trim) {
        match item.to_ascii_lowercase().as_str() {
            "otlp" => kinds.push(ExporterKind::Otlp),
            "console" => kinds.push(ExporterKind::Console),
            "prometheus" if signal == Signal::Metrics => kinds.push(ExporterKind::Prometheus),
            "none" => {}
            _ => {
                let names: &[&str] = if signal == Signal::Metrics {
                    &["otlp", "prometheus", "console", "none"]
                } else {
                    &["otlp", "console", "none"]
                };
                r.fail(&name, &value, one_of(names));
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
    // The argument is read only for a sampler set here that takes one: the
    // specification ignores it otherwise.
    let Some(name) = r.get("OTEL_TRACES_SAMPLER") else {
        return SamplerConfig::ParentBased(ParentBasedRoot::AlwaysOn);
    };
    let ratio = |r: &mut Reader<'_>| {
        let Some(arg) = r.get("OTEL_TRACES_SAMPLER_ARG") else {
            return 1.0;
        };
        match arg.parse::<f64>() {
            Ok(v) if (0.0..=1.0).contains(&v) => v,
            _ => {
                r.fail(
                    "OTEL_TRACES_SAMPLER_ARG",
                    &arg,
                    format!("a sampling probability from 0.0 to 1.0 for {name}"),
                );
                1.0
            }
        }
    };
    match name.to_ascii_lowercase().as_str() {
        "always_on" => SamplerConfig::AlwaysOn,
        "always_off" => SamplerConfig::AlwaysOff,
        "traceidratio" => SamplerConfig::TraceIdRatio(ratio(r)),
        "parentbased_always_on" => SamplerConfig::ParentBased(ParentBasedRoot::AlwaysOn),
        "parentbased_always_off" => SamplerConfig::ParentBased(ParentBasedRoot::AlwaysOff),
        "parentbased_traceidratio" => {
            SamplerConfig::ParentBased(ParentBasedRoot::TraceIdRatio(ratio(r)))
        }
        _ => {
            r.fail("OTEL_TRACES_SAMPLER", &name, one_of(NAMES));
            SamplerConfig::ParentBased(ParentBasedRoot::AlwaysOn)
        }
    }
}

/// A sampler set in code: its ratio from 0.0 to 1.0.
fn check_sampler(r: &mut Reader<'_>, sampler: SamplerConfig) -> SamplerConfig {
    let ratio = match sampler {
        SamplerConfig::TraceIdRatio(ratio)
        | SamplerConfig::ParentBased(ParentBasedRoot::TraceIdRatio(ratio)) => ratio,
        _ => return sampler,
    };
    if (0.0..=1.0).contains(&ratio) {
        return sampler;
    }
    r.fail(
        "Builder::sampler",
        &format!("{sampler:?}"),
        "a sampling probability from 0.0 to 1.0",
    );
    SamplerConfig::ParentBased(ParentBasedRoot::AlwaysOn)
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
pub(crate) fn resolve(env: Lookup<'_>, o: &Overrides) -> Result<Config, Vec<ConfigError>> {
    let mut r = Reader {
        env,
        errors: Vec::new(),
    };
    let disabled = r.bool("OTEL_SDK_DISABLED").unwrap_or(false);

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
        if signal != Signal::Metrics && exporters.contains(&ExporterKind::Prometheus) {
            r.fail(
                &format!("Builder::exporters({signal})"),
                "Prometheus",
                "a metrics exporter only",
            );
        }
        signals.push(SignalConfig { exporters, otlp });
    }
    let [traces, metrics, logs]: [SignalConfig; 3] = signals
        .try_into()
        .unwrap_or_else(|_| unreachable!("one entry per signal was pushed above"));

    let sampler = read_sampler(&mut r);
    let propagators = read_propagators(&mut r);
    let span_batch = r.batch("OTEL_BSP", BatchConfig::SPANS);
    let log_batch = r.batch("OTEL_BLRP", BatchConfig::LOGS);
    let span_limits = r.span_limits();
    let metric_export_interval = r
        .millis("OTEL_METRIC_EXPORT_INTERVAL", Zero::Rejected)
        .unwrap_or(Duration::from_secs(60));
    let metric_export_timeout = r
        .millis("OTEL_METRIC_EXPORT_TIMEOUT", Zero::NoLimit)
        .unwrap_or(Duration::from_secs(30));
    // Settings made in code, checked as the variables are.
    let sampler = o
        .sampler
        .map_or(sampler, |code| check_sampler(&mut r, code));
    let span_batch = o.span_batch.map_or(span_batch, |b| {
        r.code_batch("Builder::span_batch", b, BatchConfig::SPANS)
    });
    let log_batch = o.log_batch.map_or(log_batch, |b| {
        r.code_batch("Builder::log_batch", b, BatchConfig::LOGS)
    });
    let metric_export_interval = o
        .metric_export_interval
        .and_then(|i| r.code_duration("Builder::metric_export_interval", i, Zero::Rejected))
        .unwrap_or(metric_export_interval);
    if let Some(t) = o.shutdown_timeout {
        r.code_duration("Builder::shutdown_timeout", t, Zero::Nothing);
    }
    let temporality = r.choice(
        "OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE",
        &[
            ("cumulative", Temporality::Cumulative),
            ("delta", Temporality::Delta),
            ("lowmemory", Temporality::LowMemory),
        ],
    );
    let exemplar_filter = r
        .choice(
            "OTEL_METRICS_EXEMPLAR_FILTER",
            &[
                ("trace_based", ExemplarFilter::TraceBased),
                ("always_on", ExemplarFilter::AlwaysOn),
                ("always_off", ExemplarFilter::AlwaysOff),
            ],
        )
        .unwrap_or_default();
    let exemplar_filter = o.exemplar_filter.unwrap_or(exemplar_filter);
    let mut prometheus = PrometheusConfig::default();
    if let Some(host) = r.get("OTEL_EXPORTER_PROMETHEUS_HOST") {
        prometheus.host = host;
    }
    if let Some(port) = r.get("OTEL_EXPORTER_PROMETHEUS_PORT") {
        match port.parse::<u16>() {
            Ok(p) => prometheus.port = p,
            Err(_) => r.fail(
                "OTEL_EXPORTER_PROMETHEUS_PORT",
                &port,
                "a port number from 0 to 65535",
            ),
        }
    }
    if let Some(code) = &o.prometheus {
        if code.host.trim().is_empty() {
            r.fail(
                "Builder::prometheus_addr",
                &code.host,
                "a host name or address",
            );
        }
        prometheus = code.clone();
    }
    let log_filter = o
        .log_filter
        .clone()
        .or_else(|| r.get("RUST_LOG"))
        .unwrap_or_else(|| "info".to_owned());
    if let Err(e) = tracing_subscriber::EnvFilter::builder().parse(&log_filter) {
        r.fail("RUST_LOG", &log_filter, format!("filter directives ({e})"));
    }
    let baggage_attributes = match &o.baggage_attributes {
        Some(keys) => keys.clone(),
        None => r
            .get("SEMTEL_BAGGAGE_ATTRIBUTES")
            .map(|v| v.split(',').map(|k| k.trim().to_owned()).collect())
            .unwrap_or_default(),
    };
    if let Some(bad) = baggage_attributes.iter().find(|k| !is_baggage_key(k)) {
        let value = baggage_attributes.join(",");
        r.fail(
            "SEMTEL_BAGGAGE_ATTRIBUTES",
            &value,
            format!("comma-separated baggage keys (not {bad:?})"),
        );
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
        sampler,
        propagators,
        span_batch,
        log_batch,
        metric_export_interval,
        metric_export_timeout,
        temporality: o
            .temporality
            .or(temporality)
            .unwrap_or(Temporality::Cumulative),
        span_limits,
        exemplar_filter,
        prometheus,
        log_filter,
        baggage_attributes,
        console_fallback,
    })
}

/// Whether `key` is a W3C baggage key: a non-empty HTTP token.
fn is_baggage_key(key: &str) -> bool {
    !key.is_empty()
        && key
            .bytes()
            .all(|b| b.is_ascii_graphic() && !b"\"(),/:;<=>?@[\\]{}".contains(&b))
}
