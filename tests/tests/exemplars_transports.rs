//! Metrics with exemplars over OTLP/gRPC (the metrics service's method)
//! and OTLP/HTTP with JSON (ids as hex strings), both on semtel's
//! transport, with `always_on`: every call's span is exported and the
//! exemplars name spans that arrived; `always_off` set in code wins over
//! the variable. Each case runs in a child process of its own: it needs
//! `init()`.

mod common;

use std::ffi::OsStr;

use semtel_tests::{Receiver, Transport, attr_str};

#[semtel::stage(pipeline = "exemplars-transports")]
fn step(n: u64) -> u64 {
    n * 2
}

#[test]
fn metrics_over_grpc_carry_exemplars() {
    let out = common::child::run(
        "exemplars_child",
        &[("EXEMPLARS_PROTOCOL", OsStr::new("grpc"))],
        common::WAIT * 2,
    );
    assert!(out.success, "{out}");
}

#[test]
fn metrics_over_http_json_carry_exemplars() {
    let out = common::child::run(
        "exemplars_child",
        &[("EXEMPLARS_PROTOCOL", OsStr::new("http/json"))],
        common::WAIT * 2,
    );
    assert!(out.success, "{out}");
}

/// `Builder::exemplar_filter` wins over `OTEL_METRICS_EXEMPLAR_FILTER`:
/// with `always_off` in code the same calls give no exemplar.
#[test]
fn an_exemplar_filter_set_in_code_wins_over_the_variable() {
    let out = common::child::run(
        "exemplars_child",
        &[
            ("EXEMPLARS_PROTOCOL", OsStr::new("http/protobuf")),
            ("EXEMPLARS_OFF_IN_CODE", OsStr::new("1")),
        ],
        common::WAIT * 2,
    );
    assert!(out.success, "{out}");
}

#[test]
fn exemplars_child() {
    if !common::child::is_child() {
        return;
    }
    let protocol = std::env::var("EXEMPLARS_PROTOCOL").expect("set by the parent");
    let off_in_code = std::env::var_os("EXEMPLARS_OFF_IN_CODE").is_some();
    let (transport, rx) = (
        match protocol.as_str() {
            "grpc" => Transport::Grpc,
            "http/protobuf" => Transport::HttpProtobuf,
            _ => Transport::HttpJson,
        },
        Receiver::start(),
    );
    let endpoint = if transport == Transport::Grpc {
        rx.grpc_endpoint()
    } else {
        rx.http_endpoint()
    };
    let mut builder = common::builder(&[
        ("OTEL_SERVICE_NAME", "exemplars-transports"),
        ("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint),
        ("OTEL_EXPORTER_OTLP_PROTOCOL", &protocol),
        ("OTEL_LOGS_EXPORTER", "none"),
        ("OTEL_METRICS_EXEMPLAR_FILTER", "always_on"),
    ]);
    if off_in_code {
        builder = builder.exemplar_filter(semtel::ExemplarFilter::AlwaysOff);
    }
    let guard = builder.init().expect("first init in this process");
    for n in 0..10 {
        step(n);
    }
    let report = guard.shutdown();
    assert_eq!(report.lost(), 0, "{report}");
    let snap = rx.expect(common::WAIT, "spans and the duration", |s| {
        s.spans().len() >= 10 && s.metric("pipeline.stage.duration").is_some()
    });
    let duration = snap.metric("pipeline.stage.duration").expect("duration");
    assert_eq!(duration.transport, transport);
    let point = duration
        .histogram_points()
        .iter()
        .find(|p| attr_str(&p.attributes, "pipeline.stage.name") == Some("step"))
        .expect("the step stage's point");
    if off_in_code {
        assert_eq!(point.count, 10, "{point:?}");
        assert!(point.exemplars.is_empty(), "{point:?}");
        return;
    }
    assert!(!point.exemplars.is_empty());
    let spans: Vec<(String, String)> = snap
        .spans()
        .iter()
        .map(|s| (s.trace_id(), s.span_id()))
        .collect();
    for e in &point.exemplars {
        let id = (
            semtel_tests::hex(&e.trace_id),
            semtel_tests::hex(&e.span_id),
        );
        assert!(spans.contains(&id), "{id:?} did not arrive");
    }
}
