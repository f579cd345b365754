//! End to end over real OTLP: semtel configured only by `OTEL_*` variables exports
//! an instrumented pipeline to the in-process receiver, over each protocol, with
//! and without gzip, and the test checks what arrived: resource, parentage, ids,
//! log-to-span correlation, severity, fields as attributes, metrics and headers.

mod common;

use common::{Emitted, WAIT, run_pipeline, telemetry};
use semtel_tests::proto::tonic::trace::v1::span::SpanKind;
use semtel_tests::{Receiver, Signal, Snapshot, Transport};

/// What every test sets: a custom resource, headers (one percent-encoded).
const RESOURCE: &str = "deployment.environment.name=e2e,team=data%20platform";
const HEADERS: &str = "x-tenant=blue,authorization=Bearer%20t0ken";

/// Runs the pipeline against `rx` with `protocol` and optional gzip; returns the
/// ids it emitted and what the receiver recorded once shutdown returned.
fn export(protocol: &str, gzip: bool) -> (Receiver, Emitted, Snapshot) {
    let rx = Receiver::start();
    let endpoint = if protocol == "grpc" {
        rx.grpc_endpoint()
    } else {
        rx.http_endpoint()
    };
    let compression = if gzip { "gzip" } else { "none" };
    let t = telemetry(&[
        ("OTEL_SERVICE_NAME", "e2e"),
        ("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint),
        ("OTEL_EXPORTER_OTLP_PROTOCOL", protocol),
        ("OTEL_EXPORTER_OTLP_COMPRESSION", compression),
        ("OTEL_EXPORTER_OTLP_HEADERS", HEADERS),
        ("OTEL_RESOURCE_ATTRIBUTES", RESOURCE),
    ]);
    let emitted = run_pipeline(&t);
    let report = t.shutdown();
    assert_eq!(report.lost(), 0, "{report}");
    assert!(!report.timed_out(), "{report}");
    for signal in [
        semtel::Signal::Traces,
        semtel::Signal::Logs,
        semtel::Signal::Metrics,
    ] {
        let exported: u64 = report.signal(signal).map(|s| s.exported).sum();
        assert!(exported > 0, "nothing exported for {signal:?}: {report}");
    }
    let destinations: Vec<&str> = report
        .signals()
        .iter()
        .map(|s| s.destination.as_str())
        .collect();
    assert!(
        destinations.iter().all(|d| d.contains(&endpoint)),
        "{destinations:?} should name {endpoint}"
    );
    let snapshot = rx.expect(WAIT, "2 spans, 2 logs and the counter", |s| {
        s.spans().len() >= 2 && s.logs().len() >= 2 && s.metric("pipeline.records").is_some()
    });
    (rx, emitted, snapshot)
}

fn transport(protocol: &str) -> Transport {
    match protocol {
        "grpc" => Transport::Grpc,
        "http/protobuf" => Transport::HttpProtobuf,
        "http/json" => Transport::HttpJson,
        other => panic!("unknown protocol {other}"),
    }
}

/// Everything the pipeline emitted arrived, correct in every detail.
fn assert_pipeline(snapshot: &Snapshot, emitted: &Emitted, protocol: &str, gzip: bool) {
    // Transport, compression and headers of every request.
    assert!(!snapshot.requests.is_empty());
    for request in &snapshot.requests {
        assert_eq!(request.transport, transport(protocol), "{snapshot}");
        assert_eq!(
            request.gzip,
            gzip,
            "gzip flag of a {:?} request",
            request.signal()
        );
        assert_eq!(
            request.header("x-tenant"),
            Some("blue"),
            "{:?}",
            request.headers
        );
        assert_eq!(request.header("authorization"), Some("Bearer t0ken"));
    }
    for signal in [Signal::Traces, Signal::Logs, Signal::Metrics] {
        assert!(
            snapshot.count_signal(signal) > 0,
            "no {signal:?} request: {snapshot}"
        );
    }

    // Spans: names, ids as seen inside the code, parentage, kind, attributes.
    let pipeline = snapshot.span("pipeline").expect("pipeline span");
    let stage = snapshot.span("stage").expect("stage span");
    assert_eq!(pipeline.trace_id(), emitted.trace_id);
    assert_eq!(pipeline.span_id(), emitted.pipeline_span_id);
    assert_eq!(pipeline.parent_span_id(), None, "pipeline is a root span");
    assert_eq!(stage.trace_id(), emitted.trace_id);
    assert_eq!(stage.span_id(), emitted.stage_span_id);
    assert_eq!(stage.parent_span_id(), Some(pipeline.span_id()));
    assert!(stage.is_child_of(&pipeline));
    assert_eq!(stage.kind(), SpanKind::Internal);
    assert_eq!(pipeline.attr_str("pipeline.run"), Some("r1"));
    assert_eq!(stage.attr_str("pipeline.stage.name"), Some("load"));
    assert!(stage.span.end_time_unix_nano >= stage.span.start_time_unix_nano);
    assert!(pipeline.span.start_time_unix_nano <= stage.span.start_time_unix_nano);

    // Logs: correlation with the span they were emitted in, severity, fields.
    let logs = snapshot.logs();
    let loaded = logs
        .iter()
        .find(|l| l.body_text() == "loaded")
        .expect("log `loaded`");
    assert!(
        loaded.is_in(&stage),
        "`loaded` carries the stage's trace and span id"
    );
    assert_eq!(
        loaded.trace_id().as_deref(),
        Some(emitted.trace_id.as_str())
    );
    assert_eq!(
        loaded.span_id().as_deref(),
        Some(emitted.stage_span_id.as_str())
    );
    assert_eq!(loaded.severity_number(), 9, "INFO");
    assert_eq!(loaded.attr_i64("records"), Some(3));
    assert_eq!(loaded.attr_str("table"), Some("orders"));
    assert_eq!(loaded.attr_f64("ratio"), Some(0.5));
    assert_eq!(loaded.attr_bool("complete"), Some(true));
    let slow = logs
        .iter()
        .find(|l| l.body_text() == "slow batch")
        .expect("log `slow batch`");
    assert!(
        slow.is_in(&pipeline),
        "`slow batch` carries the pipeline span's ids"
    );
    assert_eq!(slow.severity_number(), 13, "WARN");
    assert_eq!(slow.attr_bool("late"), Some(true));

    // Metrics: the counter's value and attributes, the histogram's count.
    let counter = snapshot
        .metric("pipeline.records")
        .expect("pipeline.records");
    assert_eq!(counter.kind(), "sum");
    assert_eq!(counter.is_monotonic(), Some(true));
    assert_eq!(counter.temporality(), Some(2), "cumulative");
    assert_eq!(counter.unit(), "{record}");
    assert_eq!(counter.scope.name, "e2e");
    let points = counter.number_points();
    assert_eq!(points.len(), 1, "{points:?}");
    assert!((points[0].value - 3.0).abs() < f64::EPSILON, "{points:?}");
    assert_eq!(
        semtel_tests::attr_str(&points[0].attributes, "pipeline.stage.name"),
        Some("load")
    );
    let histogram = snapshot
        .metric("pipeline.stage.duration")
        .expect("pipeline.stage.duration");
    assert_eq!(histogram.unit(), "s");
    let hpoints = histogram.histogram_points();
    assert_eq!(hpoints.len(), 1);
    assert_eq!(hpoints[0].count, 1);
    assert_eq!(hpoints[0].sum, Some(0.25));

    // Resource on every signal.
    let resources = snapshot
        .spans()
        .into_iter()
        .map(|s| s.resource)
        .chain(snapshot.logs().into_iter().map(|l| l.resource))
        .chain(snapshot.metrics().into_iter().map(|m| m.resource));
    let mut instance_ids = std::collections::BTreeSet::new();
    for resource in resources {
        use semtel_tests::attr_str;
        assert_eq!(attr_str(&resource, "service.name"), Some("e2e"));
        assert_eq!(attr_str(&resource, "telemetry.sdk.language"), Some("rust"));
        assert_eq!(
            attr_str(&resource, "deployment.environment.name"),
            Some("e2e")
        );
        assert_eq!(attr_str(&resource, "team"), Some("data platform"));
        let instance = attr_str(&resource, "service.instance.id").expect("service.instance.id");
        assert_eq!(instance.len(), 36, "a UUID: {instance}");
        instance_ids.insert(instance.to_owned());
    }
    assert_eq!(
        instance_ids.len(),
        1,
        "one instance id per process: {instance_ids:?}"
    );
}

#[test]
fn grpc_exports_spans_logs_and_metrics() {
    let (_rx, emitted, snapshot) = export("grpc", false);
    assert_pipeline(&snapshot, &emitted, "grpc", false);
}

#[test]
fn grpc_gzip_exports_spans_logs_and_metrics() {
    let (_rx, emitted, snapshot) = export("grpc", true);
    assert_pipeline(&snapshot, &emitted, "grpc", true);
}

#[test]
fn http_protobuf_exports_spans_logs_and_metrics() {
    let (_rx, emitted, snapshot) = export("http/protobuf", false);
    assert_pipeline(&snapshot, &emitted, "http/protobuf", false);
}

#[test]
fn http_protobuf_gzip_exports_spans_logs_and_metrics() {
    let (_rx, emitted, snapshot) = export("http/protobuf", true);
    assert_pipeline(&snapshot, &emitted, "http/protobuf", true);
}

#[test]
fn http_json_exports_spans_logs_and_metrics() {
    let (_rx, emitted, snapshot) = export("http/json", false);
    assert_pipeline(&snapshot, &emitted, "http/json", false);
}

#[test]
fn http_json_gzip_exports_spans_logs_and_metrics() {
    let (_rx, emitted, snapshot) = export("http/json", true);
    assert_pipeline(&snapshot, &emitted, "http/json", true);
}

#[test]
fn batches_and_metrics_are_exported_on_schedule_before_shutdown() {
    let rx = Receiver::start();
    let endpoint = rx.grpc_endpoint();
    let t = telemetry(&[
        ("OTEL_SERVICE_NAME", "scheduled"),
        ("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint),
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
        ("OTEL_BSP_SCHEDULE_DELAY", "100"),
        ("OTEL_BLRP_SCHEDULE_DELAY", "100"),
        ("OTEL_METRIC_EXPORT_INTERVAL", "200"),
    ]);
    let emitted = run_pipeline(&t);
    // Arrives while telemetry still runs: the schedule, not shutdown, sent it.
    let snapshot = rx.expect(WAIT, "spans, logs and the counter before shutdown", |s| {
        s.spans().len() >= 2 && s.logs().len() >= 2 && s.metric("pipeline.records").is_some()
    });
    assert_eq!(snapshot.span("stage").unwrap().trace_id(), emitted.trace_id);
    let report = t.shutdown();
    assert_eq!(report.lost(), 0, "{report}");
}

#[test]
fn service_name_comes_from_otel_service_name_over_resource_attributes() {
    let rx = Receiver::start();
    let endpoint = rx.http_endpoint();
    let t = telemetry(&[
        ("OTEL_SERVICE_NAME", "from-env"),
        (
            "OTEL_RESOURCE_ATTRIBUTES",
            "service.name=from-attributes,service.namespace=etl",
        ),
        ("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint),
    ]);
    run_pipeline(&t);
    let report = t.shutdown();
    assert_eq!(report.lost(), 0, "{report}");
    let snapshot = rx.expect(WAIT, "the stage span", |s| s.span("stage").is_some());
    let stage = snapshot.span("stage").unwrap();
    assert_eq!(stage.resource_str("service.name"), Some("from-env"));
    assert_eq!(stage.resource_str("service.namespace"), Some("etl"));
    // http/protobuf is the default protocol.
    assert!(
        snapshot
            .requests
            .iter()
            .all(|r| r.transport == Transport::HttpProtobuf)
    );
}

#[test]
fn builder_service_name_wins_over_the_environment() {
    let rx = Receiver::start();
    let endpoint = rx.http_endpoint();
    let t = common::builder(&[
        ("OTEL_SERVICE_NAME", "from-env"),
        ("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint),
    ])
    .service_name("from-code")
    .build()
    .expect("valid configuration");
    run_pipeline(&t);
    drop(t);
    let snapshot = rx.expect(WAIT, "the stage span", |s| s.span("stage").is_some());
    assert_eq!(
        snapshot.span("stage").unwrap().resource_str("service.name"),
        Some("from-code")
    );
}

#[test]
fn always_off_sampler_exports_no_spans_but_still_logs_and_metrics() {
    let rx = Receiver::start();
    let endpoint = rx.grpc_endpoint();
    let t = telemetry(&[
        ("OTEL_SERVICE_NAME", "unsampled"),
        ("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint),
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
        ("OTEL_TRACES_SAMPLER", "always_off"),
    ]);
    run_pipeline(&t);
    let report = t.shutdown();
    assert_eq!(report.lost(), 0, "{report}");
    let snapshot = rx.expect(WAIT, "logs and the counter", |s| {
        s.logs().len() >= 2 && s.metric("pipeline.records").is_some()
    });
    // Shutdown returned after every export finished, so no span can still come.
    assert!(snapshot.spans().is_empty(), "{snapshot}");
    assert!(rx.spans().is_empty());
}

#[test]
fn signal_specific_endpoint_and_protocol_split_the_signals() {
    let grpc = Receiver::start();
    let http = Receiver::start();
    let traces_url = format!("{}/v1/traces", http.http_endpoint());
    let t = telemetry(&[
        ("OTEL_SERVICE_NAME", "split"),
        ("OTEL_EXPORTER_OTLP_ENDPOINT", &grpc.grpc_endpoint()),
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
        ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", &traces_url),
        ("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "http/json"),
    ]);
    run_pipeline(&t);
    let report = t.shutdown();
    assert_eq!(report.lost(), 0, "{report}");
    let spans = http.expect(WAIT, "spans over HTTP/JSON", |s| s.spans().len() >= 2);
    assert!(
        spans
            .requests
            .iter()
            .all(|r| r.transport == Transport::HttpJson)
    );
    assert_eq!(spans.count_signal(Signal::Traces), spans.requests.len());
    let rest = grpc.expect(WAIT, "logs and metrics over gRPC", |s| {
        s.logs().len() >= 2 && s.metric("pipeline.records").is_some()
    });
    assert!(rest.spans().is_empty(), "{rest}");
    assert!(rest.requests.iter().all(|r| r.transport == Transport::Grpc));
}

#[test]
fn resources_carry_the_schema_url_process_and_host() {
    use semtel_tests::{Payload, attr, attr_str};

    let rx = Receiver::start();
    let endpoint = rx.http_endpoint();
    let t = common::telemetry(&[("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint)]);
    common::run_pipeline(&t);
    assert_eq!(t.shutdown().lost(), 0);
    rx.expect(WAIT, "all three signals", |s| {
        !s.spans().is_empty() && !s.logs().is_empty() && !s.metrics().is_empty()
    });
    let mut checked = 0;
    for request in rx.requests() {
        let (schema, resource) = match &request.payload {
            Payload::Traces(r) => (
                &r.resource_spans[0].schema_url,
                &r.resource_spans[0].resource,
            ),
            Payload::Logs(r) => (&r.resource_logs[0].schema_url, &r.resource_logs[0].resource),
            Payload::Metrics(r) => (
                &r.resource_metrics[0].schema_url,
                &r.resource_metrics[0].resource,
            ),
        };
        assert_eq!(schema, semtel::SCHEMA_URL);
        assert!(schema.ends_with("/1.42.0"), "{schema}");
        let attrs = &resource.as_ref().expect("a resource").attributes;
        assert_eq!(attr_str(attrs, "process.runtime.name"), Some("rust"));
        assert!(attr(attrs, "process.pid").is_some());
        assert!(attr_str(attrs, "process.executable.name").is_some());
        assert!(attr_str(attrs, "host.arch").is_some());
        assert!(attr_str(attrs, "os.type").is_some());
        assert_eq!(attr_str(attrs, "telemetry.sdk.name"), Some("opentelemetry"));
        checked += 1;
    }
    assert!(
        checked >= 3,
        "one request per signal at least, got {checked}"
    );
}
