//! Every supported variable: its default, a valid value's effect, and the
//! error a bad value gives.

use super::*;
use std::time::Duration;

use super::reader::percent_decode;
use super::types::NO_LIMIT;

fn resolve_with(vars: &[(&str, &str)]) -> Result<Config, Vec<ConfigError>> {
    resolve_over(vars, &Overrides::default())
}

fn resolve_over(vars: &[(&str, &str)], o: &Overrides) -> Result<Config, Vec<ConfigError>> {
    let map: std::collections::HashMap<String, String> = vars
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    resolve(&|k| map.get(k).cloned().map(Ok), o)
}

fn ok(vars: &[(&str, &str)]) -> Config {
    resolve_with(vars).unwrap_or_else(|e| panic!("{vars:?} should be valid: {e:?}"))
}

/// Asserts that `vars` fail on exactly `variable` with `value`, and that the
/// message lists what is accepted.
fn rejects(vars: &[(&str, &str)], variable: &str, value: &str, mentions: &str) {
    let errors = resolve_with(vars).expect_err("should be rejected");
    let e = errors
        .iter()
        .find(|e| e.variable == variable)
        .unwrap_or_else(|| panic!("no error for {variable}: {errors:?}"));
    assert_eq!(e.value, value);
    let text = e.to_string();
    assert!(text.contains(variable), "{text}");
    assert!(
        text.contains(mentions),
        "`{text}` should mention `{mentions}`"
    );
}

#[test]
fn defaults_render_to_console_and_follow_the_specification() {
    let c = ok(&[]);
    assert!(!c.disabled);
    for s in Signal::ALL {
        assert_eq!(c.signal(s).exporters, vec![ExporterKind::Console]);
        assert_eq!(c.signal(s).otlp.protocol, Protocol::HttpProtobuf);
        assert_eq!(
            c.signal(s).otlp.endpoint,
            format!("http://localhost:4318{}", s.http_path())
        );
        assert_eq!(c.signal(s).otlp.timeout, Duration::from_secs(10));
        assert_eq!(c.signal(s).otlp.compression, Compression::None);
    }
    assert!(c.console_fallback);
    assert!(c.service_name.starts_with("unknown_service:"));
    assert_eq!(
        c.sampler,
        SamplerConfig::ParentBased(ParentBasedRoot::AlwaysOn)
    );
    assert_eq!(
        c.propagators,
        vec![Propagator::TraceContext, Propagator::Baggage]
    );
    assert_eq!(c.span_batch, BatchConfig::SPANS);
    assert_eq!(c.log_batch, BatchConfig::LOGS);
    assert_eq!(c.metric_export_interval, Duration::from_secs(60));
    assert_eq!(c.metric_export_timeout, Duration::from_secs(30));
    assert_eq!(c.temporality, Temporality::Cumulative);
    assert_eq!(c.log_filter, "info");
}

#[test]
fn otel_sdk_disabled() {
    assert!(ok(&[("OTEL_SDK_DISABLED", "true")]).disabled);
    assert!(ok(&[("OTEL_SDK_DISABLED", "TRUE")]).disabled);
    assert!(!ok(&[("OTEL_SDK_DISABLED", "false")]).disabled);
    rejects(
        &[("OTEL_SDK_DISABLED", "yes")],
        "OTEL_SDK_DISABLED",
        "yes",
        "true, false",
    );
}

#[test]
fn otel_service_name_and_resource_attributes() {
    let c = ok(&[
        ("OTEL_SERVICE_NAME", "orders"),
        (
            "OTEL_RESOURCE_ATTRIBUTES",
            "deployment.environment.name=prod,service.version=1.2.3,team=data%20eng",
        ),
    ]);
    assert_eq!(c.service_name, "orders");
    assert_eq!(c.service_version.as_deref(), Some("1.2.3"));
    assert_eq!(
        c.resource_attributes,
        vec![
            ("deployment.environment.name".to_owned(), "prod".to_owned()),
            ("team".to_owned(), "data eng".to_owned()),
        ]
    );
    // service.name in the attributes is used when OTEL_SERVICE_NAME is unset.
    let c = ok(&[("OTEL_RESOURCE_ATTRIBUTES", "service.name=from-attrs")]);
    assert_eq!(c.service_name, "from-attrs");
    rejects(
        &[("OTEL_RESOURCE_ATTRIBUTES", "a=1,broken")],
        "OTEL_RESOURCE_ATTRIBUTES",
        "a=1,broken",
        "`broken`",
    );
    rejects(
        &[("OTEL_RESOURCE_ATTRIBUTES", "a=%zz")],
        "OTEL_RESOURCE_ATTRIBUTES",
        "a=%zz",
        "percent-encoded",
    );
}

#[test]
fn code_settings_win_over_the_environment() {
    let o = Overrides {
        service_name: Some("code".into()),
        endpoint: Some("http://127.0.0.1:9999".into()),
        protocol: Some(Protocol::Grpc),
        exporters: [Some(vec![ExporterKind::Otlp]), Some(vec![]), None],
        ..Overrides::default()
    };
    let c = resolve_over(
        &[
            ("OTEL_SERVICE_NAME", "env"),
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://env:4318"),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json"),
            ("OTEL_TRACES_EXPORTER", "console"),
        ],
        &o,
    )
    .unwrap();
    assert_eq!(c.service_name, "code");
    assert_eq!(c.traces.otlp.endpoint, "http://127.0.0.1:9999");
    assert_eq!(c.traces.otlp.protocol, Protocol::Grpc);
    assert_eq!(c.traces.exporters, vec![ExporterKind::Otlp]);
    assert!(c.metrics.exporters.is_empty());
    // Logs were not set in code: the endpoint selects OTLP.
    assert_eq!(c.logs.exporters, vec![ExporterKind::Otlp]);
}

#[test]
fn prometheus_address_and_exemplar_filter_in_code_win_and_the_variables_are_still_checked() {
    let env = [
        ("OTEL_EXPORTER_PROMETHEUS_HOST", "0.0.0.0"),
        ("OTEL_EXPORTER_PROMETHEUS_PORT", "9000"),
        ("OTEL_METRICS_EXEMPLAR_FILTER", "always_on"),
    ];
    let c = ok(&env);
    assert_eq!(
        (c.prometheus.host.as_str(), c.prometheus.port),
        ("0.0.0.0", 9000)
    );
    assert_eq!(c.exemplar_filter, ExemplarFilter::AlwaysOn);
    let mut prometheus = PrometheusConfig {
        host: "127.0.0.1".into(),
        port: 0,
    };
    let o = Overrides {
        prometheus: Some(prometheus.clone()),
        exemplar_filter: Some(ExemplarFilter::AlwaysOff),
        ..Overrides::default()
    };
    let c = resolve_over(&env, &o).unwrap();
    assert_eq!(c.prometheus, prometheus);
    assert_eq!(c.exemplar_filter, ExemplarFilter::AlwaysOff);
    // As with the other settings made in code, a bad variable is still an
    // error: it says the environment is wrong.
    let errors = resolve_over(
        &[
            ("OTEL_EXPORTER_PROMETHEUS_PORT", "http"),
            ("OTEL_METRICS_EXEMPLAR_FILTER", "sometimes"),
        ],
        &o,
    )
    .unwrap_err();
    let names: Vec<&str> = errors.iter().map(|e| e.variable.as_str()).collect();
    assert_eq!(
        names,
        [
            "OTEL_METRICS_EXEMPLAR_FILTER",
            "OTEL_EXPORTER_PROMETHEUS_PORT"
        ]
    );
    prometheus.host = String::new();
    code_rejects(
        &Overrides {
            prometheus: Some(prometheus),
            ..Overrides::default()
        },
        "Builder::prometheus_addr",
        "a host name or address",
    );
}

#[test]
fn otel_exporter_otlp_endpoint_generic_and_per_signal() {
    let c = ok(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318/")]);
    for s in Signal::ALL {
        assert_eq!(c.signal(s).exporters, vec![ExporterKind::Otlp], "{s}");
        assert_eq!(
            c.signal(s).otlp.endpoint,
            format!("http://collector:4318{}", s.http_path())
        );
    }
    assert!(!c.console_fallback);

    for (var, signal) in [
        ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", Signal::Traces),
        ("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT", Signal::Metrics),
        ("OTEL_EXPORTER_OTLP_LOGS_ENDPOINT", Signal::Logs),
    ] {
        let c = ok(&[(var, "http://tempo:4318/custom/path")]);
        // A signal-specific endpoint is the full URL, used as given.
        assert_eq!(
            c.signal(signal).otlp.endpoint,
            "http://tempo:4318/custom/path"
        );
        assert_eq!(c.signal(signal).exporters, vec![ExporterKind::Otlp]);
        for other in Signal::ALL.into_iter().filter(|s| *s != signal) {
            assert_eq!(c.signal(other).exporters, vec![ExporterKind::Console]);
        }
        rejects(&[(var, "collector:4318")], var, "collector:4318", "http://");
    }
    rejects(
        &[("OTEL_EXPORTER_OTLP_ENDPOINT", "ftp://x")],
        "OTEL_EXPORTER_OTLP_ENDPOINT",
        "ftp://x",
        "http:// or https://",
    );
}

#[test]
fn grpc_endpoints_take_no_path() {
    let c = ok(&[
        ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4317"),
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
    ]);
    assert_eq!(c.traces.otlp.endpoint, "http://collector:4317");
    let c = ok(&[
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
        ("OTEL_TRACES_EXPORTER", "otlp"),
    ]);
    assert_eq!(c.traces.otlp.endpoint, "http://localhost:4317");
}

#[test]
fn otel_exporter_otlp_protocol_generic_and_per_signal() {
    let c = ok(&[
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
        ("OTEL_EXPORTER_OTLP_LOGS_PROTOCOL", "http/json"),
        ("OTEL_EXPORTER_OTLP_METRICS_PROTOCOL", "http/protobuf"),
    ]);
    assert_eq!(c.traces.otlp.protocol, Protocol::Grpc);
    assert_eq!(c.metrics.otlp.protocol, Protocol::HttpProtobuf);
    assert_eq!(c.logs.otlp.protocol, Protocol::HttpJson);
    let c = ok(&[("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "grpc")]);
    assert_eq!(c.traces.otlp.protocol, Protocol::Grpc);
    for var in [
        "OTEL_EXPORTER_OTLP_PROTOCOL",
        "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL",
        "OTEL_EXPORTER_OTLP_METRICS_PROTOCOL",
        "OTEL_EXPORTER_OTLP_LOGS_PROTOCOL",
    ] {
        rejects(
            &[(var, "http")],
            var,
            "http",
            "grpc, http/protobuf, http/json",
        );
    }
}

#[test]
fn otel_exporter_otlp_headers_merge_and_decode() {
    let c = ok(&[
        (
            "OTEL_EXPORTER_OTLP_HEADERS",
            "Authorization=Basic%20dXNlcjpwYXNz,x-scope-orgid=tenant1",
        ),
        (
            "OTEL_EXPORTER_OTLP_TRACES_HEADERS",
            "X-Scope-OrgID=traces-tenant",
        ),
        ("OTEL_EXPORTER_OTLP_METRICS_HEADERS", "x-extra=m"),
        ("OTEL_EXPORTER_OTLP_LOGS_HEADERS", "x-extra=l"),
    ]);
    let get = |s: Signal, k: &str| {
        c.signal(s)
            .otlp
            .headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(k))
            .map(|(_, v)| v.clone())
    };
    // Grafana Cloud's basic auth header survives with its space decoded.
    assert_eq!(
        get(Signal::Logs, "authorization").as_deref(),
        Some("Basic dXNlcjpwYXNz")
    );
    // A signal-specific header replaces the generic one of the same name.
    assert_eq!(
        get(Signal::Traces, "x-scope-orgid").as_deref(),
        Some("traces-tenant")
    );
    assert_eq!(
        get(Signal::Metrics, "x-scope-orgid").as_deref(),
        Some("tenant1")
    );
    assert_eq!(get(Signal::Metrics, "x-extra").as_deref(), Some("m"));
    assert_eq!(get(Signal::Logs, "x-extra").as_deref(), Some("l"));
    for var in [
        "OTEL_EXPORTER_OTLP_HEADERS",
        "OTEL_EXPORTER_OTLP_TRACES_HEADERS",
        "OTEL_EXPORTER_OTLP_METRICS_HEADERS",
        "OTEL_EXPORTER_OTLP_LOGS_HEADERS",
    ] {
        // The value is never shown: it may hold a credential.
        rejects(&[(var, "no-equals-sign")], var, "[redacted]", "key=value");
    }
}

#[test]
fn otel_exporter_otlp_timeout_generic_and_per_signal() {
    let c = ok(&[
        ("OTEL_EXPORTER_OTLP_TIMEOUT", "2500"),
        ("OTEL_EXPORTER_OTLP_METRICS_TIMEOUT", "700"),
    ]);
    assert_eq!(c.traces.otlp.timeout, Duration::from_millis(2500));
    assert_eq!(c.metrics.otlp.timeout, Duration::from_millis(700));
    for var in [
        "OTEL_EXPORTER_OTLP_TIMEOUT",
        "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT",
        "OTEL_EXPORTER_OTLP_METRICS_TIMEOUT",
        "OTEL_EXPORTER_OTLP_LOGS_TIMEOUT",
    ] {
        rejects(&[(var, "10s")], var, "10s", "milliseconds");
    }
    let c = ok(&[("OTEL_EXPORTER_OTLP_LOGS_TIMEOUT", "1")]);
    assert_eq!(c.logs.otlp.timeout, Duration::from_millis(1));
    let c = ok(&[("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", "3")]);
    assert_eq!(c.traces.otlp.timeout, Duration::from_millis(3));
}

#[test]
fn otel_exporter_otlp_compression_generic_and_per_signal() {
    let c = ok(&[
        ("OTEL_EXPORTER_OTLP_COMPRESSION", "gzip"),
        ("OTEL_EXPORTER_OTLP_LOGS_COMPRESSION", "none"),
    ]);
    assert_eq!(c.traces.otlp.compression, Compression::Gzip);
    assert_eq!(c.metrics.otlp.compression, Compression::Gzip);
    assert_eq!(c.logs.otlp.compression, Compression::None);
    let c = ok(&[
        ("OTEL_EXPORTER_OTLP_TRACES_COMPRESSION", "gzip"),
        ("OTEL_EXPORTER_OTLP_METRICS_COMPRESSION", "GZIP"),
    ]);
    assert_eq!(c.traces.otlp.compression, Compression::Gzip);
    assert_eq!(c.metrics.otlp.compression, Compression::Gzip);
    for var in [
        "OTEL_EXPORTER_OTLP_COMPRESSION",
        "OTEL_EXPORTER_OTLP_TRACES_COMPRESSION",
        "OTEL_EXPORTER_OTLP_METRICS_COMPRESSION",
        "OTEL_EXPORTER_OTLP_LOGS_COMPRESSION",
    ] {
        rejects(&[(var, "brotli")], var, "brotli", "gzip, none");
    }
}

#[test]
fn otel_exporter_otlp_tls_files() {
    let dir = std::env::temp_dir().join(format!("semtel-tls-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let pem = dir.join("ca.pem");
    std::fs::write(&pem, "-----BEGIN CERTIFICATE-----\n").unwrap();
    let pem_str = pem.to_str().unwrap();
    for suffix in ["CERTIFICATE", "CLIENT_KEY", "CLIENT_CERTIFICATE"] {
        for prefix in [
            "OTEL_EXPORTER_OTLP_",
            "OTEL_EXPORTER_OTLP_TRACES_",
            "OTEL_EXPORTER_OTLP_METRICS_",
            "OTEL_EXPORTER_OTLP_LOGS_",
        ] {
            let var = format!("{prefix}{suffix}");
            rejects(
                &[(&var, "/nonexistent/semtel.pem")],
                &var,
                "/nonexistent/semtel.pem",
                "readable PEM file",
            );
        }
    }
    let c = ok(&[("OTEL_EXPORTER_OTLP_CERTIFICATE", pem_str)]);
    assert_eq!(c.traces.otlp.certificate.as_deref(), Some(pem.as_path()));
    let c = ok(&[
        ("OTEL_EXPORTER_OTLP_LOGS_CLIENT_KEY", pem_str),
        ("OTEL_EXPORTER_OTLP_LOGS_CLIENT_CERTIFICATE", pem_str),
    ]);
    assert_eq!(c.logs.otlp.client_key.as_deref(), Some(pem.as_path()));
    assert!(c.traces.otlp.client_key.is_none());
    // Mutual TLS needs both halves.
    let errors = resolve_with(&[("OTEL_EXPORTER_OTLP_CLIENT_KEY", pem_str)]).unwrap_err();
    assert!(
        errors[0]
            .to_string()
            .contains("OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE")
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn otel_signal_exporter_variables() {
    for (var, signal) in [
        ("OTEL_TRACES_EXPORTER", Signal::Traces),
        ("OTEL_METRICS_EXPORTER", Signal::Metrics),
        ("OTEL_LOGS_EXPORTER", Signal::Logs),
    ] {
        assert!(ok(&[(var, "none")]).signal(signal).exporters.is_empty());
        assert_eq!(
            ok(&[(var, "otlp")]).signal(signal).exporters,
            vec![ExporterKind::Otlp]
        );
        assert_eq!(
            ok(&[(var, "otlp,console")]).signal(signal).exporters,
            vec![ExporterKind::Otlp, ExporterKind::Console]
        );
        // An explicit console choice is not a fallback for that signal.
        let c = ok(&[
            (var, "console"),
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318"),
        ]);
        assert_eq!(c.signal(signal).exporters, vec![ExporterKind::Console]);
        assert!(!c.console_fallback);
        let accepted = if signal == Signal::Metrics {
            "otlp, prometheus, console, none"
        } else {
            "otlp, console, none"
        };
        rejects(&[(var, "jaeger")], var, "jaeger", accepted);
    }
    // Prometheus pulls metrics only.
    rejects(
        &[("OTEL_TRACES_EXPORTER", "prometheus")],
        "OTEL_TRACES_EXPORTER",
        "prometheus",
        "otlp, console, none",
    );
}

#[test]
fn the_prometheus_exporter_and_its_address() {
    let c = ok(&[("OTEL_METRICS_EXPORTER", "otlp, prometheus")]);
    assert_eq!(
        c.metrics.exporters,
        vec![ExporterKind::Otlp, ExporterKind::Prometheus]
    );
    assert_eq!(c.prometheus, PrometheusConfig::default());
    assert_eq!(
        (c.prometheus.host.as_str(), c.prometheus.port),
        ("localhost", 9464)
    );
    let c = ok(&[
        ("OTEL_METRICS_EXPORTER", "prometheus"),
        ("OTEL_EXPORTER_PROMETHEUS_HOST", "0.0.0.0"),
        ("OTEL_EXPORTER_PROMETHEUS_PORT", "9100"),
    ]);
    assert_eq!(c.metrics.exporters, vec![ExporterKind::Prometheus]);
    assert_eq!(
        (c.prometheus.host.as_str(), c.prometheus.port),
        ("0.0.0.0", 9100)
    );
    for bad in ["65536", "-1", "http"] {
        rejects(
            &[("OTEL_EXPORTER_PROMETHEUS_PORT", bad)],
            "OTEL_EXPORTER_PROMETHEUS_PORT",
            bad,
            "0 to 65535",
        );
    }
    let mut o = Overrides::default();
    o.exporters[2] = Some(vec![ExporterKind::Prometheus]);
    let errors = resolve_over(&[], &o).expect_err("prometheus logs");
    assert!(
        errors[0].to_string().contains("metrics exporter only"),
        "{errors:?}"
    );
}

#[test]
fn otel_metrics_exemplar_filter() {
    assert_eq!(ok(&[]).exemplar_filter, ExemplarFilter::TraceBased);
    for (value, filter) in [
        ("trace_based", ExemplarFilter::TraceBased),
        ("always_on", ExemplarFilter::AlwaysOn),
        ("ALWAYS_OFF", ExemplarFilter::AlwaysOff),
    ] {
        assert_eq!(
            ok(&[("OTEL_METRICS_EXEMPLAR_FILTER", value)]).exemplar_filter,
            filter
        );
    }
    rejects(
        &[("OTEL_METRICS_EXEMPLAR_FILTER", "sometimes")],
        "OTEL_METRICS_EXEMPLAR_FILTER",
        "sometimes",
        "trace_based, always_on, always_off",
    );
}

#[test]
fn otel_traces_sampler_and_arg() {
    let cases = [
        ("always_on", None, SamplerConfig::AlwaysOn),
        ("always_off", None, SamplerConfig::AlwaysOff),
        (
            "traceidratio",
            Some("0.25"),
            SamplerConfig::TraceIdRatio(0.25),
        ),
        ("traceidratio", None, SamplerConfig::TraceIdRatio(1.0)),
        (
            "parentbased_always_on",
            None,
            SamplerConfig::ParentBased(ParentBasedRoot::AlwaysOn),
        ),
        (
            "parentbased_always_off",
            None,
            SamplerConfig::ParentBased(ParentBasedRoot::AlwaysOff),
        ),
        (
            "parentbased_traceidratio",
            Some("0.1"),
            SamplerConfig::ParentBased(ParentBasedRoot::TraceIdRatio(0.1)),
        ),
    ];
    for (name, arg, expected) in cases {
        let mut vars = vec![("OTEL_TRACES_SAMPLER", name)];
        if let Some(arg) = arg {
            vars.push(("OTEL_TRACES_SAMPLER_ARG", arg));
        }
        assert_eq!(ok(&vars).sampler, expected, "{name} {arg:?}");
    }
    rejects(
        &[("OTEL_TRACES_SAMPLER", "xray")],
        "OTEL_TRACES_SAMPLER",
        "xray",
        "parentbased_traceidratio",
    );
    rejects(
        &[
            ("OTEL_TRACES_SAMPLER", "traceidratio"),
            ("OTEL_TRACES_SAMPLER_ARG", "1.5"),
        ],
        "OTEL_TRACES_SAMPLER_ARG",
        "1.5",
        "0.0 to 1.0",
    );
}

#[test]
fn otel_propagators() {
    assert_eq!(
        ok(&[("OTEL_PROPAGATORS", "baggage")]).propagators,
        vec![Propagator::Baggage]
    );
    assert!(ok(&[("OTEL_PROPAGATORS", "none")]).propagators.is_empty());
    assert_eq!(
        ok(&[("OTEL_PROPAGATORS", "tracecontext, baggage")]).propagators,
        vec![Propagator::TraceContext, Propagator::Baggage]
    );
    rejects(
        &[("OTEL_PROPAGATORS", "tracecontext,b3")],
        "OTEL_PROPAGATORS",
        "tracecontext,b3",
        "tracecontext, baggage, none",
    );
}

#[test]
fn otel_bsp_and_blrp_variables() {
    for (prefix, pick) in [
        (
            "OTEL_BSP",
            (|c: &Config| c.span_batch) as fn(&Config) -> BatchConfig,
        ),
        ("OTEL_BLRP", |c: &Config| c.log_batch),
    ] {
        let vars = [
            (format!("{prefix}_SCHEDULE_DELAY"), "250"),
            (format!("{prefix}_EXPORT_TIMEOUT"), "1500"),
            (format!("{prefix}_MAX_QUEUE_SIZE"), "100"),
            (format!("{prefix}_MAX_EXPORT_BATCH_SIZE"), "10"),
        ];
        let refs: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (k.as_str(), *v)).collect();
        assert_eq!(
            pick(&ok(&refs)),
            BatchConfig {
                schedule_delay: Duration::from_millis(250),
                export_timeout: Duration::from_millis(1500),
                max_queue_size: 100,
                max_export_batch_size: 10,
            }
        );
        for (suffix, bad, says) in [
            ("SCHEDULE_DELAY", "soon", "milliseconds"),
            ("EXPORT_TIMEOUT", "-1", "milliseconds"),
            ("MAX_QUEUE_SIZE", "0", "from 1 to 1048576"),
            ("MAX_EXPORT_BATCH_SIZE", "lots", "from 1 to 1048576"),
        ] {
            let var = format!("{prefix}_{suffix}");
            rejects(&[(&var, bad)], &var, bad, says);
        }
        let queue = format!("{prefix}_MAX_QUEUE_SIZE");
        let batch = format!("{prefix}_MAX_EXPORT_BATCH_SIZE");
        rejects(
            &[(&queue, "10"), (&batch, "20")],
            &batch,
            "20",
            "no larger than",
        );
    }
}

#[test]
fn otel_metric_export_interval_and_timeout() {
    let c = ok(&[
        ("OTEL_METRIC_EXPORT_INTERVAL", "1000"),
        ("OTEL_METRIC_EXPORT_TIMEOUT", "500"),
    ]);
    assert_eq!(c.metric_export_interval, Duration::from_secs(1));
    assert_eq!(c.metric_export_timeout, Duration::from_millis(500));
    rejects(
        &[("OTEL_METRIC_EXPORT_INTERVAL", "1m")],
        "OTEL_METRIC_EXPORT_INTERVAL",
        "1m",
        "milliseconds",
    );
    rejects(
        &[("OTEL_METRIC_EXPORT_TIMEOUT", "x")],
        "OTEL_METRIC_EXPORT_TIMEOUT",
        "x",
        "milliseconds",
    );
}

#[test]
fn otel_exporter_otlp_metrics_temporality_preference() {
    let var = "OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE";
    assert_eq!(ok(&[(var, "delta")]).temporality, Temporality::Delta);
    assert_eq!(
        ok(&[(var, "LowMemory")]).temporality,
        Temporality::LowMemory
    );
    assert_eq!(
        ok(&[(var, "cumulative")]).temporality,
        Temporality::Cumulative
    );
    rejects(
        &[(var, "both")],
        var,
        "both",
        "cumulative, delta, lowmemory",
    );
}

#[test]
fn rust_log_filter() {
    assert_eq!(
        ok(&[("RUST_LOG", "warn,orders=debug")]).log_filter,
        "warn,orders=debug"
    );
    rejects(
        &[("RUST_LOG", "orders=loud")],
        "RUST_LOG",
        "orders=loud",
        "filter directives",
    );
}

#[test]
fn baggage_attributes_are_keys_and_none_by_default() {
    assert!(ok(&[]).baggage_attributes.is_empty());
    assert_eq!(
        ok(&[("SEMTEL_BAGGAGE_ATTRIBUTES", "tenant, run.id")]).baggage_attributes,
        ["tenant", "run.id"]
    );
    rejects(
        &[("SEMTEL_BAGGAGE_ATTRIBUTES", "tenant,,run id")],
        "SEMTEL_BAGGAGE_ATTRIBUTES",
        "tenant,,run id",
        "comma-separated baggage keys",
    );
}

#[test]
fn empty_values_count_as_unset() {
    let c = ok(&[
        ("OTEL_EXPORTER_OTLP_ENDPOINT", ""),
        ("OTEL_SERVICE_NAME", " "),
    ]);
    assert_eq!(c.traces.exporters, vec![ExporterKind::Console]);
    assert!(c.service_name.starts_with("unknown_service:"));
}

#[test]
fn every_bad_variable_is_reported_at_once() {
    let errors = resolve_with(&[
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "udp"),
        ("OTEL_BSP_MAX_QUEUE_SIZE", "many"),
        ("OTEL_PROPAGATORS", "jaeger"),
    ])
    .unwrap_err();
    let names: Vec<&str> = errors.iter().map(|e| e.variable.as_str()).collect();
    assert!(names.contains(&"OTEL_EXPORTER_OTLP_PROTOCOL"), "{names:?}");
    assert!(names.contains(&"OTEL_BSP_MAX_QUEUE_SIZE"), "{names:?}");
    assert!(names.contains(&"OTEL_PROPAGATORS"), "{names:?}");
}

#[test]
fn percent_decoding() {
    assert_eq!(
        percent_decode("Basic%20abc%3D%3D").as_deref(),
        Some("Basic abc==")
    );
    assert_eq!(percent_decode("100%"), None);
    assert_eq!(percent_decode("%C3%A9").as_deref(), Some("é"));
}

/// How one numeric variable reads a value: its setting, as `Debug` shows
/// it, or `None` for an error naming the variable, the value and the
/// accepted range.
struct Numeric {
    var: &'static str,
    /// Variables set with it (a sampler for its argument).
    with: &'static [(&'static str, &'static str)],
    read: fn(&Config) -> String,
    /// The range the error message gives.
    range: &'static str,
    zero: Option<&'static str>,
    one: Option<&'static str>,
    billion: Option<&'static str>,
    default: &'static str,
}

fn durations(var: &'static str, read: fn(&Config) -> String, default: &'static str) -> Numeric {
    Numeric {
        var,
        with: &[],
        read,
        range: "from 0 to 2147483647",
        zero: Some("0ns"),
        one: Some("1ms"),
        billion: Some("1000000s"),
        default,
    }
}

fn timeouts(var: &'static str, read: fn(&Config) -> String, default: &'static str) -> Numeric {
    Numeric {
        zero: Some("2147483.647s"),
        range: "from 0 to 2147483647 (0: no limit)",
        ..durations(var, read, default)
    }
}

fn sizes(var: &'static str, read: fn(&Config) -> String, default: &'static str) -> Numeric {
    Numeric {
        var,
        with: &[],
        read,
        range: "from 1 to 1048576",
        zero: None,
        one: Some("1"),
        billion: None,
        default,
    }
}

fn numeric_variables() -> Vec<Numeric> {
    let mut all = vec![
        durations(
            "OTEL_BSP_SCHEDULE_DELAY",
            |c| format!("{:?}", c.span_batch.schedule_delay),
            "5s",
        ),
        durations(
            "OTEL_BLRP_SCHEDULE_DELAY",
            |c| format!("{:?}", c.log_batch.schedule_delay),
            "1s",
        ),
        timeouts(
            "OTEL_BSP_EXPORT_TIMEOUT",
            |c| format!("{:?}", c.span_batch.export_timeout),
            "30s",
        ),
        timeouts(
            "OTEL_BLRP_EXPORT_TIMEOUT",
            |c| format!("{:?}", c.log_batch.export_timeout),
            "30s",
        ),
        sizes(
            "OTEL_BSP_MAX_QUEUE_SIZE",
            |c| format!("{:?}", c.span_batch.max_queue_size),
            "2048",
        ),
        sizes(
            "OTEL_BLRP_MAX_QUEUE_SIZE",
            |c| format!("{:?}", c.log_batch.max_queue_size),
            "2048",
        ),
        sizes(
            "OTEL_BSP_MAX_EXPORT_BATCH_SIZE",
            |c| format!("{:?}", c.span_batch.max_export_batch_size),
            "512",
        ),
        sizes(
            "OTEL_BLRP_MAX_EXPORT_BATCH_SIZE",
            |c| format!("{:?}", c.log_batch.max_export_batch_size),
            "512",
        ),
        timeouts(
            "OTEL_EXPORTER_OTLP_TIMEOUT",
            |c| format!("{:?}", c.metrics.otlp.timeout),
            "10s",
        ),
        timeouts(
            "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT",
            |c| format!("{:?}", c.traces.otlp.timeout),
            "10s",
        ),
        timeouts(
            "OTEL_EXPORTER_OTLP_METRICS_TIMEOUT",
            |c| format!("{:?}", c.metrics.otlp.timeout),
            "10s",
        ),
        timeouts(
            "OTEL_EXPORTER_OTLP_LOGS_TIMEOUT",
            |c| format!("{:?}", c.logs.otlp.timeout),
            "10s",
        ),
        Numeric {
            zero: None,
            range: "from 1 to 2147483647",
            ..durations(
                "OTEL_METRIC_EXPORT_INTERVAL",
                |c| format!("{:?}", c.metric_export_interval),
                "60s",
            )
        },
        timeouts(
            "OTEL_METRIC_EXPORT_TIMEOUT",
            |c| format!("{:?}", c.metric_export_timeout),
            "30s",
        ),
    ];
    for sampler in ["traceidratio", "parentbased_traceidratio"] {
        all.push(Numeric {
            var: "OTEL_TRACES_SAMPLER_ARG",
            with: if sampler == "traceidratio" {
                &[("OTEL_TRACES_SAMPLER", "traceidratio")]
            } else {
                &[("OTEL_TRACES_SAMPLER", "parentbased_traceidratio")]
            },
            read: |c| match c.sampler {
                SamplerConfig::TraceIdRatio(r)
                | SamplerConfig::ParentBased(ParentBasedRoot::TraceIdRatio(r)) => format!("{r:?}"),
                other => panic!("not a ratio sampler: {other:?}"),
            },
            range: "from 0.0 to 1.0",
            zero: Some("0.0"),
            one: Some("1.0"),
            billion: None,
            default: "1.0",
        });
    }
    all
}

/// Every numeric variable with 0, 1, huge, `u64::MAX`, negative and empty
/// values: each is a setting in the documented range or an error naming
/// the variable, the value and the range; none is taken as something else.
#[test]
fn every_numeric_variable_takes_its_range_and_rejects_absurd_values() {
    let u64_max = u64::MAX.to_string();
    for n in numeric_variables() {
        let cases: [(&str, Option<&str>); 6] = [
            ("0", n.zero),
            ("1", n.one),
            ("1000000000", n.billion),
            (&u64_max, None),
            ("-1", None),
            // Empty counts as unset (the specification).
            ("", Some(n.default)),
        ];
        for (value, expected) in cases {
            let mut vars = n.with.to_vec();
            vars.push((n.var, value));
            match expected {
                Some(setting) => {
                    let c = ok(&vars);
                    assert_eq!((n.read)(&c), setting, "{}={value:?}", n.var);
                }
                None => rejects(&vars, n.var, value, n.range),
            }
        }
    }
}

/// A value that is not UTF-8, in the process environment, is an error (not
/// unset); given through `Builder::env`, converted lossily by the caller,
/// it is no number either.
#[test]
fn values_that_are_not_utf8_are_errors() {
    let lossy = String::from_utf8_lossy(b"10\xff0").into_owned();
    for n in numeric_variables() {
        let env = |k: &str| {
            if k == n.var {
                Some(Err(lossy.clone()))
            } else {
                n.with
                    .iter()
                    .find(|(name, _)| *name == k)
                    .map(|(_, v)| Ok((*v).to_owned()))
            }
        };
        let errors = resolve(&env, &Overrides::default()).expect_err(n.var);
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert_eq!(errors[0].variable, n.var);
        assert_eq!(errors[0].value, lossy);
        assert!(
            errors[0].to_string().contains("valid UTF-8"),
            "{}",
            errors[0]
        );

        let mut vars = n.with.to_vec();
        vars.push((n.var, &lossy));
        rejects(&vars, n.var, &lossy, n.range);
    }
    // Text settings too.
    let env = |k: &str| (k == "OTEL_SERVICE_NAME").then(|| Err(lossy.clone()));
    let errors = resolve(&env, &Overrides::default()).unwrap_err();
    assert_eq!(errors[0].variable, "OTEL_SERVICE_NAME");
}

#[test]
fn a_smaller_queue_size_takes_the_default_batch_size_down_with_it() {
    let c = ok(&[("OTEL_BSP_MAX_QUEUE_SIZE", "100")]);
    assert_eq!(c.span_batch.max_export_batch_size, 100);
    let c = ok(&[("OTEL_BLRP_MAX_QUEUE_SIZE", "1")]);
    assert_eq!(c.log_batch.max_export_batch_size, 1);
    // Set, a batch larger than the queue is still an error.
    rejects(
        &[
            ("OTEL_BSP_MAX_QUEUE_SIZE", "100"),
            ("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", "101"),
        ],
        "OTEL_BSP_MAX_EXPORT_BATCH_SIZE",
        "101",
        "no larger than OTEL_BSP_MAX_QUEUE_SIZE (100)",
    );
}

/// Zero means "no limit" for a timeout (the specification), "at once" for a
/// schedule delay, and is refused for the metric export interval (exports
/// would follow one another without a pause).
#[test]
fn zero_durations_mean_what_the_specification_says() {
    let c = ok(&[
        ("OTEL_EXPORTER_OTLP_TIMEOUT", "0"),
        ("OTEL_METRIC_EXPORT_TIMEOUT", "0"),
        ("OTEL_BSP_EXPORT_TIMEOUT", "0"),
        ("OTEL_BSP_SCHEDULE_DELAY", "0"),
    ]);
    for s in Signal::ALL {
        assert_eq!(c.signal(s).otlp.timeout, NO_LIMIT);
    }
    assert_eq!(c.metric_export_timeout, NO_LIMIT);
    assert_eq!(c.span_batch.export_timeout, NO_LIMIT);
    assert_eq!(c.span_batch.schedule_delay, Duration::ZERO);
    assert_eq!(NO_LIMIT, Duration::from_millis(2_147_483_647));
    rejects(
        &[("OTEL_METRIC_EXPORT_INTERVAL", "0")],
        "OTEL_METRIC_EXPORT_INTERVAL",
        "0",
        "from 1 to 2147483647",
    );
}

fn code(o: &Overrides) -> Result<Config, Vec<ConfigError>> {
    resolve_over(&[], o)
}

fn code_rejects(o: &Overrides, setting: &str, mentions: &str) {
    let errors = code(o).expect_err("should be rejected");
    let e = errors
        .iter()
        .find(|e| e.variable == setting)
        .unwrap_or_else(|| panic!("no error for {setting}: {errors:?}"));
    let text = e.to_string();
    assert!(
        text.contains(mentions),
        "`{text}` should mention `{mentions}`"
    );
}

/// Settings made in code are checked as the variables are.
#[test]
fn settings_made_in_code_are_checked_as_the_variables_are() {
    let huge = BatchConfig {
        max_queue_size: usize::MAX,
        ..BatchConfig::SPANS
    };
    let o = Overrides {
        span_batch: Some(huge),
        ..Overrides::default()
    };
    code_rejects(
        &o,
        "Builder::span_batch max_queue_size",
        "from 1 to 1048576",
    );
    let o = Overrides {
        log_batch: Some(BatchConfig {
            max_export_batch_size: 4096,
            export_timeout: Duration::MAX,
            ..BatchConfig::LOGS
        }),
        ..Overrides::default()
    };
    let errors = code(&o).unwrap_err();
    let names: Vec<&str> = errors.iter().map(|e| e.variable.as_str()).collect();
    assert_eq!(
        names,
        [
            "Builder::log_batch export_timeout",
            "Builder::log_batch max_export_batch_size"
        ]
    );
    for (o, setting, mentions) in [
        (
            Overrides {
                timeout: Some(Duration::MAX),
                ..Overrides::default()
            },
            "Builder::timeout",
            "from 0 to 2147483647",
        ),
        (
            Overrides {
                metric_export_interval: Some(Duration::ZERO),
                ..Overrides::default()
            },
            "Builder::metric_export_interval",
            "from 1 to 2147483647",
        ),
        (
            Overrides {
                shutdown_timeout: Some(Duration::from_secs(u64::MAX)),
                ..Overrides::default()
            },
            "Builder::shutdown_timeout",
            "from 0 to 2147483647",
        ),
        (
            Overrides {
                sampler: Some(SamplerConfig::TraceIdRatio(f64::NAN)),
                ..Overrides::default()
            },
            "Builder::sampler",
            "0.0 to 1.0",
        ),
        (
            Overrides {
                sampler: Some(SamplerConfig::ParentBased(ParentBasedRoot::TraceIdRatio(
                    -0.5,
                ))),
                ..Overrides::default()
            },
            "Builder::sampler",
            "0.0 to 1.0",
        ),
        (
            Overrides {
                endpoint: Some("collector:4318".into()),
                ..Overrides::default()
            },
            "Builder::endpoint",
            "http://",
        ),
    ] {
        code_rejects(&o, setting, mentions);
    }
    // Zero: no limit, and no delay.
    let c = code(&Overrides {
        timeout: Some(Duration::ZERO),
        span_batch: Some(BatchConfig {
            schedule_delay: Duration::ZERO,
            export_timeout: Duration::ZERO,
            ..BatchConfig::SPANS
        }),
        ..Overrides::default()
    })
    .unwrap();
    assert_eq!(c.traces.otlp.timeout, NO_LIMIT);
    assert_eq!(c.span_batch.export_timeout, NO_LIMIT);
    assert_eq!(c.span_batch.schedule_delay, Duration::ZERO);
    // Below a millisecond is kept as it is.
    let c = code(&Overrides {
        timeout: Some(Duration::from_micros(500)),
        ..Overrides::default()
    })
    .unwrap();
    assert_eq!(c.logs.otlp.timeout, Duration::from_micros(500));
}

/// `OTEL_TRACES_SAMPLER_ARG` is read only for a sampler set that takes
/// an argument (the specification ignores it otherwise).
#[test]
fn otel_traces_sampler_arg_is_ignored_for_samplers_without_one() {
    for sampler in [
        None,
        Some("always_on"),
        Some("always_off"),
        Some("parentbased_always_on"),
        Some("parentbased_always_off"),
    ] {
        let mut vars = vec![("OTEL_TRACES_SAMPLER_ARG", "not a number")];
        if let Some(name) = sampler {
            vars.push(("OTEL_TRACES_SAMPLER", name));
        }
        ok(&vars);
    }
    rejects(
        &[
            ("OTEL_TRACES_SAMPLER", "parentbased_traceidratio"),
            ("OTEL_TRACES_SAMPLER_ARG", "not a number"),
        ],
        "OTEL_TRACES_SAMPLER_ARG",
        "not a number",
        "0.0 to 1.0 for parentbased_traceidratio",
    );
}

/// `OTEL_EXPORTER_OTLP_[SIGNAL_]INSECURE` gives a gRPC endpoint written as
/// `host:port` its scheme: `true` plain text (`http`), `false` (the
/// default) TLS (`https`). A scheme written wins; HTTP endpoints need one.
#[test]
fn otel_exporter_otlp_insecure_picks_the_scheme_of_a_grpc_host_and_port() {
    let grpc = ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc");
    let c = ok(&[grpc, ("OTEL_EXPORTER_OTLP_ENDPOINT", "collector:4317")]);
    for s in Signal::ALL {
        assert_eq!(c.signal(s).otlp.endpoint, "https://collector:4317");
    }
    let c = ok(&[
        grpc,
        ("OTEL_EXPORTER_OTLP_ENDPOINT", "collector:4317"),
        ("OTEL_EXPORTER_OTLP_INSECURE", "true"),
        ("OTEL_EXPORTER_OTLP_LOGS_INSECURE", "false"),
        ("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT", "metrics:4317"),
    ]);
    assert_eq!(c.traces.otlp.endpoint, "http://collector:4317");
    assert_eq!(c.metrics.otlp.endpoint, "http://metrics:4317");
    assert_eq!(c.logs.otlp.endpoint, "https://collector:4317");
    for var in [
        "OTEL_EXPORTER_OTLP_TRACES_INSECURE",
        "OTEL_EXPORTER_OTLP_METRICS_INSECURE",
        "OTEL_EXPORTER_OTLP_LOGS_INSECURE",
    ] {
        let c = ok(&[
            grpc,
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "collector:4317"),
            (var, "TRUE"),
        ]);
        let insecure = Signal::ALL
            .iter()
            .filter(|s| c.signal(**s).otlp.endpoint.starts_with("http://"))
            .count();
        assert_eq!(insecure, 1, "{var}");
        rejects(&[(var, "yes")], var, "yes", "true, false");
    }
    // A scheme written wins over the setting.
    let c = ok(&[
        grpc,
        ("OTEL_EXPORTER_OTLP_ENDPOINT", "https://collector:4317"),
        ("OTEL_EXPORTER_OTLP_INSECURE", "true"),
    ]);
    assert_eq!(c.traces.otlp.endpoint, "https://collector:4317");
    // The setting is HTTP's no business: its endpoint is a URL.
    rejects(
        &[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "collector:4318"),
            ("OTEL_EXPORTER_OTLP_INSECURE", "true"),
        ],
        "OTEL_EXPORTER_OTLP_ENDPOINT",
        "collector:4318",
        "an http:// or https:// URL",
    );
    rejects(
        &[("OTEL_EXPORTER_OTLP_INSECURE", "1")],
        "OTEL_EXPORTER_OTLP_INSECURE",
        "1",
        "true, false",
    );
}

const SECRET: &str = "s3cr3t-m4rker";

/// Everything a configuration can show: its `Debug`, its errors'
/// `Display` and `Debug`, and the `Debug` of the settings made in code.
fn shown_by(vars: &[(&str, &str)], o: &Overrides) -> String {
    match resolve_over(vars, o) {
        Ok(c) => format!("{c:?}\n{c:#?}\n{o:?}\n{o:#?}"),
        Err(errors) => {
            let error = crate::Error::Config(errors.clone());
            format!("{errors:?}\n{error}\n{error:?}\n{error:#?}\n{o:?}")
        }
    }
}

/// Header values and URL credentials appear in no `Debug` of a
/// configuration and in no configuration error, however malformed the
/// setting around them.
#[test]
fn secrets_appear_in_no_debug_and_no_configuration_error() {
    let auth = format!("Authorization=Bearer%20{SECRET}");
    let userinfo = format!("https://user:{SECRET}@collector:4318");
    let code = Overrides {
        headers: vec![("x-api-key".into(), SECRET.into())],
        endpoint: Some(format!("http://u:{SECRET}@c:4318")),
        ..Overrides::default()
    };
    let none = Overrides::default;
    let cases: Vec<(Option<(&str, String)>, Overrides)> = vec![
        // Valid: the `Debug` of the configuration.
        (Some(("OTEL_EXPORTER_OTLP_HEADERS", auth.clone())), none()),
        (Some(("OTEL_EXPORTER_OTLP_ENDPOINT", userinfo)), none()),
        (None, code),
        // Malformed lists around a valid secret, and secrets that are the
        // malformed item.
        (
            Some(("OTEL_EXPORTER_OTLP_HEADERS", format!("{auth},broken"))),
            none(),
        ),
        (
            Some((
                "OTEL_EXPORTER_OTLP_TRACES_HEADERS",
                format!("Bearer {SECRET}"),
            )),
            none(),
        ),
        (
            Some(("OTEL_EXPORTER_OTLP_LOGS_HEADERS", format!("{auth},x=%zz"))),
            none(),
        ),
        (
            Some((
                "OTEL_EXPORTER_OTLP_HEADERS",
                format!("Authorization: Bearer {SECRET}=="),
            )),
            none(),
        ),
        // A value that is no valid header value (a decoded newline).
        (
            Some((
                "OTEL_EXPORTER_OTLP_METRICS_HEADERS",
                format!("x-key={SECRET}%0A"),
            )),
            none(),
        ),
        // A bad endpoint with credentials, and bad percent-encoding in them.
        (
            Some((
                "OTEL_EXPORTER_OTLP_ENDPOINT",
                format!("ftp://user:{SECRET}@collector"),
            )),
            none(),
        ),
        (
            Some((
                "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
                format!("http://user:{SECRET}%zz@collector:4318"),
            )),
            none(),
        ),
    ];
    for (var, o) in &cases {
        let vars: Vec<(&str, &str)> = var.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let text = shown_by(&vars, o);
        assert!(
            !text.contains(SECRET),
            "{vars:?} showed the secret:\n{text}"
        );
    }
    // A bad header from code is named, not shown.
    let o = Overrides {
        headers: vec![("x-api-key".into(), format!("{SECRET}\n"))],
        ..Overrides::default()
    };
    let text = shown_by(&[], &o);
    assert!(!text.contains(SECRET), "{text}");
    assert!(text.contains("`x-api-key`"), "{text}");
}

/// A malformed header list is named by its keys and the item at fault, so
/// the user can still find the mistake.
#[test]
fn a_malformed_header_list_is_named_by_keys_and_place() {
    rejects(
        &[(
            "OTEL_EXPORTER_OTLP_HEADERS",
            "Authorization=Basic%20abc,x-tenant",
        )],
        "OTEL_EXPORTER_OTLP_HEADERS",
        "Authorization=[redacted],[redacted]",
        "item 2 is not key=value",
    );
    rejects(
        &[("OTEL_EXPORTER_OTLP_HEADERS", "x-key=a%0Ab")],
        "OTEL_EXPORTER_OTLP_HEADERS",
        "x-key=[redacted]",
        "the value of `x-key` is not a valid HTTP header value",
    );
}

/// Credentials in an endpoint URL leave it and go as an `Authorization:
/// Basic` header (as reqwest would send them), unless one is set.
#[test]
fn endpoint_credentials_become_a_basic_authorization_header() {
    let c = ok(&[(
        "OTEL_EXPORTER_OTLP_ENDPOINT",
        "https://user%40x:pa%3Ass@collector:4318",
    )]);
    for s in Signal::ALL {
        let otlp = &c.signal(s).otlp;
        assert_eq!(
            otlp.endpoint,
            format!("https://collector:4318{}", s.http_path())
        );
        // base64("user@x:pa:ss")
        assert_eq!(
            otlp.headers,
            [(
                "authorization".to_owned(),
                "Basic dXNlckB4OnBhOnNz".to_owned()
            )]
        );
    }
    let c = ok(&[
        ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://u:p@c:4318/t"),
        ("OTEL_EXPORTER_OTLP_HEADERS", "Authorization=Bearer%20t"),
    ]);
    assert_eq!(c.traces.otlp.endpoint, "http://c:4318/t");
    assert_eq!(
        c.traces.otlp.headers,
        [("Authorization".to_owned(), "Bearer t".to_owned())]
    );
    // An empty one goes, adding nothing.
    let c = ok(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://@c:4318")]);
    assert_eq!(c.logs.otlp.endpoint, "http://c:4318/v1/logs");
    assert!(c.logs.otlp.headers.is_empty());
}

#[test]
fn span_limits_default_to_the_specification_and_span_variables_win() {
    assert_eq!(ok(&[]).span_limits, SpanLimits::DEFAULT);
    assert_eq!(SpanLimits::DEFAULT.attribute_value_length, None);
    assert_eq!(SpanLimits::DEFAULT.attribute_count, 128);
    let c = ok(&[
        ("OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT", "100"),
        ("OTEL_ATTRIBUTE_COUNT_LIMIT", "10"),
        ("OTEL_SPAN_EVENT_COUNT_LIMIT", "0"),
        ("OTEL_SPAN_LINK_COUNT_LIMIT", "65536"),
    ]);
    assert_eq!(
        c.span_limits,
        SpanLimits {
            attribute_value_length: Some(100),
            attribute_count: 10,
            event_count: 0,
            link_count: 65536,
            event_attribute_count: 10,
            link_attribute_count: 10,
        }
    );
    let c = ok(&[
        ("OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT", "100"),
        ("OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT", "7"),
        ("OTEL_ATTRIBUTE_COUNT_LIMIT", "10"),
        ("OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT", "3"),
    ]);
    assert_eq!(c.span_limits.attribute_value_length, Some(7));
    assert_eq!(c.span_limits.attribute_count, 3);
    // The span's own variable is no fallback for its events' and links'.
    assert_eq!(c.span_limits.event_attribute_count, 10);
    assert_eq!(c.span_limits.link_attribute_count, 10);
    let c = ok(&[
        ("OTEL_ATTRIBUTE_COUNT_LIMIT", "10"),
        ("OTEL_EVENT_ATTRIBUTE_COUNT_LIMIT", "2"),
        ("OTEL_LINK_ATTRIBUTE_COUNT_LIMIT", "0"),
    ]);
    assert_eq!(c.span_limits.attribute_count, 10);
    assert_eq!(c.span_limits.event_attribute_count, 2);
    assert_eq!(c.span_limits.link_attribute_count, 0);
    let c = ok(&[("OTEL_EVENT_ATTRIBUTE_COUNT_LIMIT", "5")]);
    assert_eq!(c.span_limits.event_attribute_count, 5);
    assert_eq!(c.span_limits.link_attribute_count, 128);
    assert_eq!(c.span_limits.attribute_count, 128);
}

#[test]
fn span_limits_out_of_range_are_rejected() {
    for (var, bad, says) in [
        (
            "OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT",
            "-1",
            "from 0 to 2147483647",
        ),
        (
            "OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT",
            "2147483648",
            "from 0 to 2147483647",
        ),
        ("OTEL_ATTRIBUTE_COUNT_LIMIT", "many", "from 0 to 65536"),
        (
            "OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT",
            "65537",
            "from 0 to 65536",
        ),
        ("OTEL_SPAN_EVENT_COUNT_LIMIT", "1e3", "from 0 to 65536"),
        (
            "OTEL_SPAN_LINK_COUNT_LIMIT",
            "18446744073709551616",
            "from 0 to 65536",
        ),
        (
            "OTEL_EVENT_ATTRIBUTE_COUNT_LIMIT",
            "65537",
            "from 0 to 65536",
        ),
        ("OTEL_LINK_ATTRIBUTE_COUNT_LIMIT", "-3", "from 0 to 65536"),
    ] {
        rejects(&[(var, bad)], var, bad, says);
    }
}
