//! Metrics with exemplars over OTLP/gRPC (semtel's transport, the metrics
//! service's method), with `always_on`: every call's span is exported and
//! the exemplars name spans that arrived. One test: it needs `init()`.

mod common;

use semtel_tests::{Receiver, Transport, attr_str};

#[semtel::stage(pipeline = "exemplars-grpc")]
fn step(n: u64) -> u64 {
    n * 2
}

#[test]
fn metrics_over_grpc_carry_exemplars() {
    let rx = Receiver::start();
    let endpoint = rx.grpc_endpoint();
    let guard = common::builder(&[
        ("OTEL_SERVICE_NAME", "exemplars-grpc"),
        ("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint),
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
        ("OTEL_LOGS_EXPORTER", "none"),
        ("OTEL_METRICS_EXEMPLAR_FILTER", "always_on"),
    ])
    .init()
    .expect("first init in this process");
    for n in 0..10 {
        step(n);
    }
    let report = guard.shutdown();
    assert_eq!(report.lost(), 0, "{report}");
    let snap = rx.expect(common::WAIT, "spans and the duration", |s| {
        s.spans().len() >= 10 && s.metric("pipeline.stage.duration").is_some()
    });
    let duration = snap.metric("pipeline.stage.duration").expect("duration");
    assert_eq!(duration.transport, Transport::Grpc);
    let point = duration
        .histogram_points()
        .iter()
        .find(|p| attr_str(&p.attributes, "pipeline.stage.name") == Some("step"))
        .expect("the step stage's point");
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
