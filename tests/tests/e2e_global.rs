//! `init` installs process-wide globals, once per process: so this binary holds
//! a single test. The environment is still hermetic (`Builder::env`).

mod common;

use common::WAIT;
use opentelemetry::KeyValue;
use semtel_tests::Receiver;

#[test]
fn init_installs_globals_that_export_until_the_guard_shuts_down() {
    let rx = Receiver::start();
    let endpoint = rx.grpc_endpoint();
    let guard = common::builder(&[
        ("OTEL_SERVICE_NAME", "global"),
        ("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint),
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
    ])
    .init()
    .expect("first init in this process");

    // The global subscriber, from any thread, without set_default.
    std::thread::spawn(|| {
        tracing::info_span!("global stage").in_scope(|| tracing::info!(rows = 2, "global log"));
    })
    .join()
    .expect("instrumented thread");
    semtel::meter("global")
        .u64_counter("global.records")
        .build()
        .add(2, &[KeyValue::new("stage", "global")]);

    // A second subscriber cannot be installed.
    let second = common::builder(&[("OTEL_SDK_DISABLED", "false")]).init();
    assert!(
        matches!(second, Err(semtel::Error::SubscriberAlreadySet)),
        "{second:?}"
    );

    let report = guard.shutdown();
    assert_eq!(report.lost(), 0, "{report}");
    let snapshot = rx.expect(WAIT, "span, log and counter", |s| {
        s.span("global stage").is_some()
            && !s.logs().is_empty()
            && s.metric("global.records").is_some()
    });
    let span = snapshot.span("global stage").unwrap();
    let log = &snapshot.logs()[0];
    assert!(log.is_in(&span), "the log carries the span's ids");
    assert_eq!(log.attr_i64("rows"), Some(2));
    let counter = snapshot.metric("global.records").unwrap();
    assert!((counter.total() - 2.0).abs() < f64::EPSILON);
    assert_eq!(counter.resource_str("service.name"), Some("global"));
}
